package scanner

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"
)

// ReportSchema identifies the JSON report format.
const ReportSchema = "rekey.report/v1"

// Report is the result of a scan: findings and statistics. Its JSON form is
// the stable contract of DESIGN.md §3.
type Report struct {
	Schema   string    `json:"schema"`
	Findings []Finding `json:"findings"`
	// Keys summarises findings per key with the next step (audit only).
	Keys  []KeySummary `json:"keys,omitempty"`
	Stats Stats        `json:"stats"`
}

// Stats counts what a scan read and lists what it could not.
type Stats struct {
	Files      int64     `json:"files"`
	Blobs      int64     `json:"blobs"`
	Commits    int64     `json:"commits"`
	Bytes      int64     `json:"bytes"`
	DurationMS int64     `json:"duration_ms"`
	Suppressed int       `json:"suppressed"`
	Errors     []Problem `json:"errors"`
	Warnings   []Problem `json:"warnings,omitempty"`
	Skipped    []Problem `json:"skipped,omitempty"`
}

// Problem is one object a scan could not read, read with a caveat, or skipped.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// DistinctKeys returns the number of distinct keys among the findings.
func (r *Report) DistinctKeys() int {
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if f.KeyID != "" { // write-only findings name no key
			seen[f.KeyID] = true
		}
	}
	return len(seen)
}

// Scan runs sources through a Detector and collects a Report. It is the
// Reporter the sources are built with.
type Scan struct {
	detector Detector
	allow    *Allowlist

	mu      sync.Mutex
	report  Report
	pending []Finding // of the running source, until it finishes
}

// Attributor is the optional part of a Source whose findings are only
// complete once the whole source has been scanned: a git history source
// scans each blob once, then expands a finding into one per path and commit
// that introduced the blob.
type Attributor interface {
	Attribute(Finding) []Finding
}

// NewScan prepares a scan. only, when set, restricts findings to one key;
// allow, when non-nil, suppresses findings.
func NewScan(only Secret, allow *Allowlist) *Scan {
	s := &Scan{allow: allow, report: Report{Schema: ReportSchema, Findings: []Finding{}}}
	s.report.Stats.Errors = []Problem{}
	s.detector = Detector{Only: only, Reporter: s}
	return s
}

// Run scans every source in turn and returns the report. Only a fatal
// error (a cancelled context, a failing source) is returned; objects that
// could not be read are listed in Stats.Errors.
func (s *Scan) Run(ctx context.Context, sources ...Source) (*Report, error) {
	start := time.Now()
	for _, src := range sources {
		if err := src.Scan(ctx, s.emit); err != nil {
			return nil, err
		}
		s.settle(src)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.report
	r.Stats.DurationMS = time.Since(start).Milliseconds()
	r.scrubAddresses()
	r.sort()
	return &r, nil
}

// scrubAddresses redacts keys that appear in addresses themselves (a file
// or secret named after a key), since reports end up in CI logs.
func (r *Report) scrubAddresses() {
	for i := range r.Findings {
		l := &r.Findings[i].Location
		l.Path, l.URI, l.Variable = Scrub(l.Path), Scrub(l.URI), Scrub(l.Variable)
	}
	for _, list := range [][]Problem{r.Stats.Errors, r.Stats.Warnings, r.Stats.Skipped} {
		for i := range list {
			list[i].Path = Scrub(list[i].Path)
		}
	}
}

func compareFindings(a, b Finding) int {
	return cmp.Or(
		cmp.Compare(a.Location.Repo, b.Location.Repo),
		cmp.Compare(a.Location.Kind, b.Location.Kind),
		cmp.Compare(a.Location.Path, b.Location.Path),
		cmp.Compare(a.Location.Commit, b.Location.Commit),
		cmp.Compare(a.Location.Line, b.Location.Line),
		cmp.Compare(a.Location.Column, b.Location.Column),
		cmp.Compare(a.Location.URI, b.Location.URI),
	)
}

func (s *Scan) emit(c Chunk) error {
	findings, suppressed := s.detector.Detect(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.report.Stats
	st.Bytes += int64(len(c.Data) - c.Fresh)
	if c.first() {
		switch {
		case c.Location.Object != "":
			st.Blobs++
		case c.Location.Kind != KindGitHistory: // commit and tag messages count as commits
			st.Files++
		}
	}
	st.Suppressed += suppressed
	s.pending = append(s.pending, findings...)
	return nil
}

// settle passes the findings of a finished source through its Attributor,
// if it has one, then through the allow list, which needs the final path.
func (s *Scan) settle(src Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, _ := src.(Attributor)
	for _, f := range s.pending {
		list := []Finding{f}
		if a != nil {
			list = a.Attribute(f)
		}
		for _, g := range list {
			if s.allow.Allows(g) {
				s.report.Stats.Suppressed++
				continue
			}
			s.report.Findings = append(s.report.Findings, g)
		}
	}
	s.pending = nil
}

// AddFinding records a finding that no content match produced, such as a
// write-only secret presumed to hold a key. The allow-list still applies.
func (s *Scan) AddFinding(f Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.allow.Allows(f) {
		s.report.Stats.Suppressed++
		return
	}
	s.report.Findings = append(s.report.Findings, f)
}

// FindingSink is a Reporter that also takes findings directly (the *Scan).
type FindingSink interface {
	AddFinding(Finding)
}

// AddBlobs counts blobs a history source read and found free of keys
// without passing them through emit.
func (s *Scan) AddBlobs(n, bytes int64) {
	s.mu.Lock()
	s.report.Stats.Blobs += n
	s.report.Stats.Bytes += bytes
	s.mu.Unlock()
}

// AddCommits counts commits read by a history source.
func (s *Scan) AddCommits(n int64) {
	s.mu.Lock()
	s.report.Stats.Commits += n
	s.mu.Unlock()
}

// Error implements Reporter.
func (s *Scan) Error(path string, err error) {
	s.add(&s.report.Stats.Errors, path, fmt.Sprint(err))
}

// Warn implements Reporter.
func (s *Scan) Warn(path string, msg string) { s.add(&s.report.Stats.Warnings, path, msg) }

// Skip implements Reporter.
func (s *Scan) Skip(path string, reason string) { s.add(&s.report.Stats.Skipped, path, reason) }

func (s *Scan) add(list *[]Problem, path, msg string) {
	s.mu.Lock()
	*list = append(*list, Problem{Path: path, Message: Scrub(msg)})
	s.mu.Unlock()
}
