// Package providers holds rekey's outside systems, one package per outside
// system: the Perplexity API (check, generate, revoke) and the secret stores
// a key can live in (AWS Secrets Manager and SSM, Vault, GitHub and GitLab CI
// secrets). A provider never imports the CLI; the rotation engine reaches
// them through small interfaces.
package providers
