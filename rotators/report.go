package rotators

import (
	"encoding/json"
	"io"

	"github.com/rekeyhq/rekey/scanner"
)

// ReportSchema identifies the JSON rotation report.
const ReportSchema = "rekey.rotation/v1"

// Action is what happened, or would happen, at one location.
type Action string

// The actions of DESIGN.md §5, plus planned (a dry run's "would replace")
// and not-rewritten (a copy in git history, reported with advice).
const (
	ActionPlanned      Action = "planned"
	ActionReplaced     Action = "replaced"
	ActionAlreadyNew   Action = "already-new"
	ActionSkipped      Action = "skipped"
	ActionFailed       Action = "failed"
	ActionReverted     Action = "reverted"
	ActionNotRewritten Action = "not-rewritten"
)

// The modes of a run.
const (
	ModeRotate   = "rotate"
	ModeDryRun   = "dry-run"
	ModeRollback = "rollback"
	// ModePlan marks a dry-run report shown as the plan of a real run,
	// before it asks for confirmation.
	ModePlan = "plan"
)

// Report is the result of a rotation, a dry run or a rollback. Its JSON
// form is a stable contract.
type Report struct {
	Schema     string           `json:"schema"`
	RunID      string           `json:"run_id,omitempty"`
	Mode       string           `json:"mode"`
	RollbackOf string           `json:"rollback_of,omitempty"`
	OldKeyID   string           `json:"old_key_id"`
	NewKeyID   string           `json:"new_key_id,omitempty"`
	Locations  []LocationResult `json:"locations"`
	Counts     map[Action]int   `json:"counts"`
	// Problems are places that could not be read: they may hold the key.
	Problems []Problem  `json:"problems,omitempty"`
	NewKey   *KeyReport `json:"new_key,omitempty"`
	OldKey   *KeyReport `json:"old_key,omitempty"`
	// Failures are run-level failures (a revocation that did not take).
	Failures []string `json:"failures,omitempty"`
	// Message sums the run up when there was nothing to do.
	Message string `json:"message,omitempty"`
	Journal string `json:"journal,omitempty"`
}

// LocationResult is one row of the report.
type LocationResult struct {
	URI      string       `json:"uri"`
	Kind     scanner.Kind `json:"kind"`
	Path     string       `json:"path,omitempty"`
	Action   Action       `json:"action"`
	Verified bool         `json:"verified"`
	Detail   string       `json:"detail,omitempty"`
}

// KeyReport says what the run knows and did about one key. It never holds
// the key, only its id and redacted form.
type KeyReport struct {
	KeyID     string    `json:"key_id"`
	Redacted  string    `json:"redacted"`
	Status    KeyStatus `json:"status,omitempty"`
	Minted    bool      `json:"minted,omitempty"`
	WrittenTo string    `json:"written_to,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

func keyReport(k scanner.Secret) *KeyReport {
	if k == "" {
		return nil
	}
	return &KeyReport{KeyID: k.KeyID(), Redacted: k.Redacted()}
}

func newReport(mode string, k Keys) *Report {
	r := &Report{Schema: ReportSchema, Mode: mode, OldKeyID: k.Old.KeyID(), Locations: []LocationResult{},
		OldKey: keyReport(k.Old), NewKey: keyReport(k.New)}
	if k.New != "" {
		r.NewKeyID = k.New.KeyID()
	}
	return r
}

func (r *Report) setNew(k scanner.Secret) {
	minted := r.NewKey != nil && r.NewKey.Minted
	r.NewKeyID, r.NewKey = k.KeyID(), keyReport(k)
	r.NewKey.Minted = minted
}

// add appends a location's row.
func (r *Report) add(addr scanner.Location, a Action, verified bool, detail string) {
	// Addresses are scrubbed too: a file may be named after a key.
	r.Locations = append(r.Locations, LocationResult{URI: scanner.Scrub(addr.URI), Kind: addr.Kind, Path: scanner.Scrub(addr.Path),
		Action: a, Verified: verified, Detail: scanner.Scrub(detail)})
}

// count fills Counts from the rows.
func (r *Report) count() {
	r.Counts = map[Action]int{}
	for _, l := range r.Locations {
		r.Counts[l.Action]++
	}
}

// Failed reports whether any location failed or a run-level step did:
// the command exits 1.
func (r *Report) Failed() bool {
	return r.Counts[ActionFailed] > 0 || len(r.Failures) > 0
}

// Incomplete reports places that may still hold the old key without having
// failed: locations skipped and places that could not be read.
func (r *Report) Incomplete() bool {
	return r.Counts[ActionSkipped] > 0 && r.RollbackOf == "" || len(r.Problems) > 0
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
