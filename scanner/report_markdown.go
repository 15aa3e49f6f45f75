package scanner

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteMarkdown writes the report for an incident ticket or a CI job
// summary: the keys with their next step, then every finding, then what
// could not be read.
func WriteMarkdown(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	ew.printf("# rekey report\n\n%s\n", mdEscape(Summary(r)))
	keys := r.Keys
	if keys == nil {
		keys = SummarizeKeys(r.Findings, nil)
	}
	if len(keys) > 0 {
		ew.printf("\n## Keys\n\n| key | status | locations | next step |\n|---|---|---|---|\n")
		for _, k := range keys {
			name := "write-only secret"
			if k.KeyID != "" {
				name = fmt.Sprintf("`%s` %s", k.Redacted, k.KeyID)
			}
			step := mdEscape(k.NextStep)
			if k.Command != "" {
				step += "<br>`" + mdEscape(k.Command) + "`"
			}
			ew.printf("| %s | %s | %d (%s) | %s |\n", name, orDash(k.Status), k.Locations, kindCounts(k.Kinds), step)
		}
	}
	if len(r.Findings) > 0 {
		ew.printf("\n## Findings\n\n| location | variable | key | details |\n|---|---|---|---|\n")
		for _, f := range r.Findings {
			details := f.Problems
			if f.Location.Encoding == Base64 {
				details = append([]string{"base64"}, details...)
			}
			if f.Status != "" {
				details = append([]string{f.Status}, details...)
			}
			if f.Detail != "" {
				details = append(details, f.Detail)
			}
			key := "—"
			if f.KeyID != "" {
				key = fmt.Sprintf("`%s`", f.Redacted)
			}
			ew.printf("| `%s` | %s | %s | %s |\n", mdEscape(where(f.Location)), mdEscape(orDash(f.Location.Variable)), key, mdEscape(orDash(strings.Join(details, ", "))))
		}
	}
	if len(r.Stats.Errors) > 0 {
		ew.printf("\n## Not read\n\n")
		for _, p := range r.Stats.Errors {
			ew.printf("- `%s`: %s\n", mdEscape(p.Path), mdEscape(p.Message))
		}
	}
	return ew.err
}

func kindCounts(kinds map[string]int) string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// mdEscape keeps table cells intact: pipes, newlines and backticks.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "`", "'").Replace(printable(s))
}
