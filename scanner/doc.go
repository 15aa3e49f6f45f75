// Package scanner knows what a Perplexity API key looks like and where copies
// of it live.
//
// The data flows top-down through the package: a Source (working tree,
// staged index, git history, a secret store) pushes Chunks of content to a
// callback; the Detector runs the Matcher over each chunk and turns every
// Match into a Finding with a Location; Run collects the findings and the
// non-fatal problems into a Report, which the report writers render as text,
// JSON or SARIF.
//
// Raw key values only ever travel inside the Secret type, whose String,
// Format and MarshalJSON methods print the redacted form.
package scanner
