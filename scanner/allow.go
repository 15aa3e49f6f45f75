package scanner

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Allowlist suppresses findings that are known and accepted: by key id, by
// path glob, or because an earlier report (the baseline) already held the
// same key at the same path. Line numbers are not compared, so a baseline
// survives rebases and moved lines. A nil *Allowlist allows nothing.
type Allowlist struct {
	keyIDs   map[string]bool
	globs    []string
	baseline map[[2]string]bool // (key_id, path)
}

// NewAllowlist checks the globs and normalises the key ids ("sha256:" is
// optional in the input).
func NewAllowlist(keyIDs, globs []string) (*Allowlist, error) {
	a := &Allowlist{keyIDs: map[string]bool{}, baseline: map[[2]string]bool{}}
	for _, id := range keyIDs {
		a.keyIDs["sha256:"+strings.TrimPrefix(strings.ToLower(id), "sha256:")] = true
	}
	for _, g := range globs {
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("allow-list path %q: invalid glob pattern", g)
		}
		a.globs = append(a.globs, g)
	}
	return a, nil
}

// LoadBaseline adds the findings of an earlier JSON report to the list.
func (a *Allowlist) LoadBaseline(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read baseline: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("baseline %s is not a rekey JSON report: %w", file, err)
	}
	if r.Schema != ReportSchema {
		return fmt.Errorf("baseline %s: schema %q, want %q", file, r.Schema, ReportSchema)
	}
	for _, f := range r.Findings {
		a.baseline[[2]string{f.KeyID, f.Location.Path}] = true
	}
	return nil
}

// Allows reports whether f is suppressed.
func (a *Allowlist) Allows(f Finding) bool {
	if a == nil {
		return false
	}
	if a.keyIDs[f.KeyID] || a.baseline[[2]string{f.KeyID, f.Location.Path}] {
		return true
	}
	for _, g := range a.globs {
		if ok, _ := doublestar.Match(g, f.Location.Path); ok {
			return true
		}
	}
	return false
}
