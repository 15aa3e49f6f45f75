package scanner

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteText writes the report for people: one line per finding, location
// first, then a summary line.
func WriteText(w io.Writer, r *Report) error {
	if err := WriteFindings(w, r); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, Summary(r))
	return err
}

// WriteFindings writes one line per finding and no summary.
func WriteFindings(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	for _, f := range r.Findings {
		fields := []string{where(f.Location)}
		if f.Location.Variable != "" {
			fields = append(fields, printable(f.Location.Variable))
		}
		if f.KeyID != "" { // write-only findings name no key
			fields = append(fields, f.Redacted, f.KeyID)
		}
		if f.Location.Encoding == Base64 {
			fields = append(fields, "(base64)")
		}
		if f.Status != "" {
			fields = append(fields, f.Status)
		}
		if len(f.Problems) > 0 {
			fields = append(fields, "["+strings.Join(f.Problems, ", ")+"]")
		}
		if f.Detail != "" {
			fields = append(fields, "("+f.Detail+")")
		}
		ew.printf("%s\n", strings.Join(fields, "  "))
	}
	return ew.err
}

// Summary is the one-line account of a scan.
func Summary(r *Report) string {
	st := r.Stats
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", plural(len(r.Findings), "finding"), plural(r.DistinctKeys(), "distinct key"))
	var read []string
	if st.Files > 0 || st.Blobs == 0 {
		read = append(read, plural(int(st.Files), "file"))
	}
	if st.Blobs > 0 {
		read = append(read, plural(int(st.Blobs), "blob"))
	}
	if st.Commits > 0 {
		read = append(read, plural(int(st.Commits), "commit"))
	}
	fmt.Fprintf(&b, " in %s, %s scanned in %s", strings.Join(read, ", "), humanBytes(st.Bytes),
		(time.Duration(st.DurationMS) * time.Millisecond).String())
	if st.Suppressed > 0 {
		fmt.Fprintf(&b, "; %d suppressed", st.Suppressed)
	}
	if len(st.Errors) > 0 {
		fmt.Fprintf(&b, "; %s", plural(len(st.Errors), "error"))
	}
	if len(st.Skipped) > 0 {
		fmt.Fprintf(&b, "; %d skipped", len(st.Skipped))
	}
	return b.String()
}

// where renders a location for a person: path:line:column for files,
// path@offset for binary content, the uri otherwise.
func where(l Location) string {
	switch {
	case l.Path == "":
		return printable(l.URI)
	case l.Offset != nil:
		return fmt.Sprintf("%s@%d", printable(l.Path), *l.Offset)
	case l.Line == 0:
		return printable(l.Path)
	case l.Commit != "":
		return fmt.Sprintf("%s:%s:%d", l.Commit[:min(12, len(l.Commit))], printable(l.Path), l.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", printable(l.Path), l.Line, l.Column)
	}
}

// printable quotes names that would garble a terminal: invalid UTF-8,
// control characters, newlines.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// errWriter keeps the first write error so callers check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// WriteAuditText writes the report grouped by key: each key with its
// status, the next step and the exact command, then its locations; a
// summary line last. color adds ANSI emphasis, for terminals only.
func WriteAuditText(w io.Writer, r *Report, color bool) error {
	ew := &errWriter{w: w}
	bold, red, reset := "", "", ""
	if color {
		bold, red, reset = "\x1b[1m", "\x1b[31m", "\x1b[0m"
	}
	byKey := map[string][]Finding{}
	for _, f := range r.Findings {
		id := f.KeyID
		if id == "" {
			id = "write-only:" + f.Location.URI
		}
		byKey[id] = append(byKey[id], f)
	}
	for _, k := range r.Keys {
		id, title := k.KeyID, k.Redacted+"  "+k.KeyID
		if k.KeyID == "" {
			continue // write-only secrets are listed together below
		}
		status := k.Status
		if status == "" {
			status = "not checked"
		}
		if status == "live" || status == "invalid" {
			status = red + status + reset
		}
		ew.printf("%s%s%s  %s  %s\n", bold, title, reset, status, plural(k.Locations, "location"))
		ew.printf("  next: %s\n", k.NextStep)
		if k.Command != "" {
			ew.printf("  run:  %s\n", k.Command)
		}
		for _, f := range byKey[id] {
			line := "  - " + where(f.Location)
			if f.Location.Variable != "" {
				line += "  " + printable(f.Location.Variable)
			}
			if len(f.Problems) > 0 {
				line += "  [" + strings.Join(f.Problems, ", ") + "]"
			}
			ew.printf("%s\n", line)
		}
		ew.printf("\n")
	}
	var writeOnly []Finding
	for _, f := range r.Findings {
		if f.KeyID == "" {
			writeOnly = append(writeOnly, f)
		}
	}
	if len(writeOnly) > 0 {
		ew.printf("%sCI secrets presumed to hold a key%s (write-only: values cannot be read)\n", bold, reset)
		for _, f := range writeOnly {
			ew.printf("  - %s  (%s)\n", where(f.Location), f.Detail)
		}
		ew.printf("\n")
	}
	ew.printf("%s\n", Summary(r))
	return ew.err
}
