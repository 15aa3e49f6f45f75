package scanner

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
