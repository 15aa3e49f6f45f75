package scanner

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ReadReport decodes a rekey.report/v1 JSON report.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("not a rekey JSON report: %w", err)
	}
	if rep.Schema != ReportSchema {
		return nil, fmt.Errorf("schema %q, want %q", rep.Schema, ReportSchema)
	}
	return &rep, nil
}

// MergeReports combines reports of disjoint scans (the shards of an audit)
// into one, in the same canonical order a single scan produces: merging
// the shards of an audit gives the unsharded audit's report. Durations
// add up.
func MergeReports(reports ...*Report) *Report {
	out := &Report{Schema: ReportSchema, Findings: []Finding{}}
	out.Stats.Errors = []Problem{}
	withKeys := false
	for _, r := range reports {
		out.Findings = append(out.Findings, r.Findings...)
		st := &out.Stats
		st.Files += r.Stats.Files
		st.Blobs += r.Stats.Blobs
		st.Commits += r.Stats.Commits
		st.Bytes += r.Stats.Bytes
		st.DurationMS += r.Stats.DurationMS
		st.Suppressed += r.Stats.Suppressed
		st.Errors = append(st.Errors, r.Stats.Errors...)
		st.Warnings = append(st.Warnings, r.Stats.Warnings...)
		st.Skipped = append(st.Skipped, r.Stats.Skipped...)
		withKeys = withKeys || r.Keys != nil
	}
	out.sort()
	if withKeys {
		out.Keys = SummarizeKeys(out.Findings, nil)
	}
	return out
}

// sort puts findings and problems in canonical order.
func (r *Report) sort() {
	slices.SortStableFunc(r.Findings, compareFindings)
	for _, list := range [][]Problem{r.Stats.Errors, r.Stats.Warnings, r.Stats.Skipped} {
		slices.SortStableFunc(list, func(a, b Problem) int { return cmp.Compare(a.Path, b.Path) })
	}
}

// RelativeTo rewrites working-tree paths under root as paths relative to
// it, so a repository's report reads the same from wherever it was run
// (and SARIF paths resolve against the repository).
func (r *Report) RelativeTo(root string) {
	prefix := path.Clean(filepath.ToSlash(root)) + "/"
	if prefix == "./" {
		return
	}
	rel := func(p string) string { return strings.TrimPrefix(p, prefix) }
	for i := range r.Findings {
		l := &r.Findings[i].Location
		if l.Kind == KindFile && strings.HasPrefix(l.Path, prefix) {
			l.Path = rel(l.Path)
			l.URI = "file:" + rel(strings.TrimPrefix(l.URI, "file:"))
		}
	}
	for _, list := range [][]Problem{r.Stats.Errors, r.Stats.Warnings, r.Stats.Skipped} {
		for i := range list {
			list[i].Path = rel(list[i].Path)
		}
	}
}

// SetRepo marks every finding as coming from repository repo, for reports
// that combine several repositories.
func (r *Report) SetRepo(repo string) {
	for i := range r.Findings {
		r.Findings[i].Location.Repo = repo
	}
	for _, list := range [][]Problem{r.Stats.Errors, r.Stats.Warnings, r.Stats.Skipped} {
		for i := range list {
			list[i].Path = repo + ": " + list[i].Path
		}
	}
}
