package rotators

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// WriteText writes a report for people: a table of locations, then what
// happened to the keys, then a summary line with counts.
func WriteText(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Locations) > 0 {
		fmt.Fprintln(tw, "LOCATION\tACTION\tVERIFIED\tDETAIL")
		for _, l := range r.Locations {
			verified := "no"
			if l.Verified {
				verified = "yes"
			}
			if r.Mode == ModeDryRun || r.Mode == ModePlan || l.Action == ActionNotRewritten {
				verified = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable(l.URI), l.Action, verified, printable(l.Detail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "could not read %s: %s\n", printable(p.URI), printable(p.Message))
	}
	if k := r.NewKey; k != nil && (k.Status != "" || k.Minted || k.Detail != "") {
		fmt.Fprintf(&b, "new key %s (%s):%s\n", k.Redacted, k.KeyID, keyNotes(k))
	}
	if k := r.OldKey; k != nil && (k.Status != "" || k.Detail != "") {
		fmt.Fprintf(&b, "old key %s (%s):%s\n", k.Redacted, k.KeyID, keyNotes(k))
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "failed: %s\n", printable(f))
	}
	b.WriteString(Summary(r))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func keyNotes(k *KeyReport) string {
	var notes []string
	if k.Minted {
		notes = append(notes, "minted")
	}
	if k.WrittenTo != "" {
		notes = append(notes, "stored in "+printable(k.WrittenTo))
	}
	if k.Status != "" {
		notes = append(notes, string(k.Status))
	}
	if k.Detail != "" {
		notes = append(notes, printable(k.Detail))
	}
	return " " + strings.Join(notes, "; ")
}

// Summary is the one-line account of a report.
func Summary(r *Report) string {
	var b strings.Builder
	switch r.Mode {
	case ModeDryRun:
		b.WriteString("dry run, nothing changed: ")
	case ModePlan:
		b.WriteString("plan: ")
	case ModeRollback:
		fmt.Fprintf(&b, "rollback of run %s: ", r.RollbackOf)
	default:
		b.WriteString("rotation: ")
	}
	if r.Message != "" {
		b.WriteString(r.Message)
		b.WriteString("; ")
	}
	order := []struct {
		a    Action
		name string
	}{
		{ActionPlanned, "to replace"}, {ActionReplaced, "replaced"}, {ActionReverted, "reverted"},
		{ActionAlreadyNew, "already new"}, {ActionSkipped, "skipped"}, {ActionFailed, "failed"},
		{ActionNotRewritten, "in git history (not rewritten)"},
	}
	if r.RollbackOf != "" {
		order[0].name = "to put back"
	}
	var parts []string
	for _, o := range order {
		if n := r.Counts[o.a]; n > 0 || o.a == ActionFailed && r.Mode != ModeDryRun && r.Mode != ModePlan {
			parts = append(parts, fmt.Sprintf("%d %s", n, o.name))
		}
	}
	if len(r.Problems) > 0 {
		parts = append(parts, fmt.Sprintf("%d unreadable", len(r.Problems)))
	}
	fmt.Fprintf(&b, "%s", plural(len(r.Locations), "location"))
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if r.RunID != "" {
		fmt.Fprintf(&b, "; run %s, journal %s", r.RunID, printable(r.Journal))
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// printable quotes text holding control characters or invalid UTF-8
// (a file name with a newline must not break the table or forge a line).
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strconv.Quote(s)
}
