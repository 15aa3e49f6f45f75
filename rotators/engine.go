package rotators

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/scanner"
)

// Errors of the engine itself; the command maps them to exit codes.
var (
	// ErrBusy: another rotation of this user is running.
	ErrBusy = errors.New("another rekey rotate is running for this user")
	// ErrNotLive: the new key did not answer live.
	ErrNotLive = errors.New("the new key is not live")
	// ErrCannotMint: there is no live key to authorise minting.
	ErrCannotMint = errors.New("cannot mint a new key")
	// ErrMismatch: the keys given do not match the run's journal.
	ErrMismatch = errors.New("the keys do not match that run")
	// ErrUnfinished: an unfinished run stands in the way.
	ErrUnfinished = errors.New("an earlier run did not finish")
)

// Engine runs rotations. Fill in the fields and call Plan, then DryRun,
// Rotate or (for an earlier run) Rollback.
type Engine struct {
	// Locators find where the keys are (files, stores).
	Locators []Locator
	// Listers find copies rotation does not rewrite (git history).
	Listers []Lister
	// API checks, mints and revokes keys; nil when offline.
	API KeyAPI
	// StateDir holds the journals (see StateDir).
	StateDir string
	// Workers bounds how many locations are written at once; 0 means 16.
	Workers int
	// Log receives progress notes; nil means none.
	Log *slog.Logger
}

func (e *Engine) workers() int {
	if e.Workers > 0 {
		return e.Workers
	}
	// Writes wait on the disk, not the CPU: enough of them in flight lets
	// the file system commit their syncs together.
	return 16
}

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Lister finds copies of a key that rotation reports but never rewrites,
// such as blobs in git history.
type Lister interface {
	List(ctx context.Context, old scanner.Secret) ([]scanner.Location, error)
}

// SourceLister lists the findings of the old key in any scanner.Source,
// for example a git history source. New builds the source with the
// reporter it must report to.
type SourceLister struct {
	New func(scanner.Reporter) (scanner.Source, error)
}

// List runs the source for the old key only.
func (s SourceLister) List(ctx context.Context, old scanner.Secret) ([]scanner.Location, error) {
	scan := scanner.NewScan(old, nil)
	src, err := s.New(scan)
	if err != nil {
		return nil, err
	}
	if c, ok := src.(interface{ Close() error }); ok {
		defer func() { _ = c.Close() }()
	}
	report, err := scan.Run(ctx, src)
	if err != nil {
		return nil, err
	}
	locs := make([]scanner.Location, 0, len(report.Findings))
	for _, f := range report.Findings {
		locs = append(locs, f.Location)
	}
	return locs, nil
}

// Plan is every location of either key, and what could not be read.
// Targets are in the order the Locators chose, which is the order they
// are written in (a file Locator spreads consecutive writes over
// directories); reports list them by URI.
type Plan struct {
	Keys     Keys
	Targets  []Target
	Problems []Problem
	History  []scanner.Location
}

// todo returns the indexes of the targets to write: not skipped, holding
// the old key.
func (p *Plan) todo() []int {
	var idx []int
	for i, t := range p.Targets {
		if t.Skip == "" && t.State.Old > 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// Plan asks every Locator and Lister where the keys are. It changes
// nothing.
func (e *Engine) Plan(ctx context.Context, k Keys) (*Plan, error) {
	p := &Plan{Keys: k}
	for _, l := range e.Locators {
		found, err := l.Locate(ctx, k)
		if err != nil {
			return nil, err
		}
		p.Targets = append(p.Targets, found.Targets...)
		p.Problems = append(p.Problems, found.Problems...)
	}
	for _, l := range e.Listers {
		locs, err := l.List(ctx, k.Old)
		if err != nil {
			p.Problems = append(p.Problems, Problem{URI: "git-history", Message: scanner.Scrub(err.Error())})
			continue
		}
		p.History = append(p.History, locs...)
	}
	return p, nil
}

// CheckNew refuses a new key that does not answer live. Without an API
// (offline) every well-formed key passes.
func (e *Engine) CheckNew(ctx context.Context, key scanner.Secret) error {
	if e.API == nil {
		return nil
	}
	st, reason := e.API.Check(ctx, key)
	if st == StatusLive {
		return nil
	}
	return fmt.Errorf("%w: the API says %s%s", ErrNotLive, st, because(reason))
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + scanner.Scrub(reason) + ")"
}

// DryRun reports what Rotate would do with p, changing nothing.
func (e *Engine) DryRun(p *Plan) *Report {
	r := newReport(ModeDryRun, p.Keys)
	r.Problems = p.Problems
	for _, t := range p.Targets {
		switch {
		case t.Skip != "":
			r.add(t.Location.Address(), ActionSkipped, false, t.Skip)
		case t.State.Old > 0:
			r.add(t.Location.Address(), ActionPlanned, false, t.State.Detail)
		default:
			r.add(t.Location.Address(), ActionAlreadyNew, true, t.State.Detail)
		}
	}
	sortRows(r)
	e.addHistory(r, p)
	r.count()
	r.Message = nothingToDo(p)
	return r
}

// sortRows orders the report's rows by URI, for people.
func sortRows(r *Report) {
	slices.SortStableFunc(r.Locations, func(a, b LocationResult) int { return cmp.Compare(a.URI, b.URI) })
}

// nothingToDo explains a plan with nothing to write, or returns "".
func nothingToDo(p *Plan) string {
	if len(p.todo()) > 0 {
		return ""
	}
	if len(p.Targets) == 0 {
		return "nothing to do: the old key was not found"
	}
	return "nothing to do: no location still holds the old key"
}

// Mint asks Rotate to create the new key through the API.
type Mint struct {
	// To is a file to store the minted key in (created, mode 0600) before
	// anything else; empty means the first location holds it first.
	To string
	// Name is the key's name in the Perplexity console; empty means
	// "rekey-RUN-ID".
	Name string
}

// RotateOptions are the choices of one rotation.
type RotateOptions struct {
	// Mint, when set, creates the new key (Plan's Keys.New is empty).
	Mint *Mint
	// RevokeOld revokes the old key once every location verified.
	RevokeOld bool
	// AdminKey, when set, authorises minting and revoking; otherwise
	// the old key (minting) or the new key (revoking) does.
	AdminKey scanner.Secret
	// Paths and Stores are recorded in the journal, so that a rollback
	// can find the run's locations again (see RunSources).
	Paths  []string
	Stores []string
}

// outcome is what happened at one target.
type outcome struct {
	action   Action
	verified bool
	detail   string
	written  State
	wrote    bool
}

// Rotate applies p: it writes the new key wherever the plan found the old
// one, verifies every write, and with RevokeOld revokes the old key. It
// returns an error only when the run could not start or had to stop (the
// lock is held, the journal cannot be written, minting failed); what
// happened at each location is in the report.
func (e *Engine) Rotate(ctx context.Context, p *Plan, o RotateOptions) (*Report, error) {
	k := p.Keys
	r := newReport(ModeRotate, k)
	r.Problems = p.Problems
	if err := ensureStateDir(e.StateDir); err != nil {
		return nil, err
	}
	unlock, err := lockState(e.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for _, l := range e.Locators {
		if pr, ok := l.(Preparer); ok {
			if err := pr.Prepare(ctx); err != nil {
				return nil, err
			}
		}
	}
	todo := p.todo()
	if len(todo) == 0 {
		rep := e.DryRun(p)
		rep.Mode = ModeRotate
		e.closeFinished(p.Keys, o.Paths)
		if o.Mint == nil {
			// Every copy found already holds the new key: revoking the old
			// one, if asked, is as safe now as at the end of a full run.
			rep.Locations = slices.DeleteFunc(rep.Locations, func(l LocationResult) bool { return l.Action == ActionNotRewritten })
			e.finishKeys(ctx, rep, k, o, len(p.History) > 0)
			e.addHistory(rep, p)
			rep.count()
		}
		return rep, nil
	}

	j, err := e.startRun(k, o)
	if err != nil {
		return nil, err
	}
	r.RunID, r.Journal = j.id, j.path
	for _, i := range todo {
		t := p.Targets[i]
		a := t.Location.Address()
		j.append(record{Type: recPlan, Kind: a.Kind, URI: a.URI, Path: a.Path, Ref: t.Location.Ref(),
			Before: t.State.Hash, BeforeVersion: t.State.Version, Old: t.State.Old, New: t.State.New})
	}
	// The plan records must be on disk before the first write, so a crash
	// at any later moment leaves a journal that can roll the run back.
	if err := j.sync(); err != nil {
		_ = j.close()
		return nil, err
	}

	results := make([]outcome, len(p.Targets))
	var mintAuth scanner.Secret
	if o.Mint != nil {
		var newKey scanner.Secret
		newKey, mintAuth, err = e.mint(ctx, k.Old, o, j.id)
		if err != nil {
			j.append(record{Type: recEnd, Failed: len(todo), Detail: scanner.Scrub(err.Error())})
			_ = j.close()
			return nil, err
		}
		k.New = newKey
		r.NewKey = &KeyReport{Minted: true}
		r.setNew(newKey)
		r.NewKey.WrittenTo = o.Mint.To
		if o.Mint.To == "" {
			r.NewKey.WrittenTo = p.Targets[todo[0]].Location.Address().URI
		}
		j.append(record{Type: recMinted, NewKeyID: newKey.KeyID(), WrittenTo: r.NewKey.WrittenTo})
		if err := j.sync(); err != nil {
			e.revokeMinted(ctx, r, mintAuth, newKey, o.Mint.To, "the journal could not be written")
			_ = j.close()
			return nil, err
		}
	}

	rest := todo
	if o.Mint != nil && o.Mint.To == "" {
		// The minted key exists nowhere yet: the first location must hold
		// it before any other location is touched.
		first := todo[0]
		results[first] = e.write(ctx, p.Targets[first], k)
		rest = todo[1:]
		if results[first].action == ActionFailed {
			for _, i := range rest {
				results[i] = outcome{action: ActionSkipped, detail: "not attempted: the minted key could not be stored in the first location"}
			}
			rest = nil
		}
	}
	e.writeAll(ctx, p, k, rest, results)
	e.flush(ctx, r, e.locatorsAsAny())
	e.verifyAll(ctx, p, k, todo, results)

	held := false
	for _, i := range todo {
		res := results[i]
		t := p.Targets[i]
		a := t.Location.Address()
		r.add(a, res.action, res.verified, res.detail)
		held = held || res.wrote
		j.append(record{Type: recDone, Kind: a.Kind, URI: a.URI, Ref: t.Location.Ref(), Action: res.action,
			Verified: res.verified, After: res.written.Hash, Detail: scanner.Scrub(res.detail)})
	}
	for _, t := range p.Targets {
		switch {
		case t.Skip != "":
			r.add(t.Location.Address(), ActionSkipped, false, t.Skip)
		case t.State.Old == 0:
			r.add(t.Location.Address(), ActionAlreadyNew, true, t.State.Detail)
		}
	}
	sortRows(r)
	if o.Mint != nil && !held {
		e.revokeMinted(ctx, r, mintAuth, k.New, o.Mint.To, "no location holds it")
	}
	r.count()
	e.finishKeys(ctx, r, k, o, len(p.History) > 0)
	e.addHistory(r, p)
	r.count()
	j.append(record{Type: recEnd, Failed: r.Counts[ActionFailed]})
	if err := j.close(); err != nil {
		r.Failures = append(r.Failures, err.Error())
	}
	return r, nil
}

// startRun resumes the unfinished run of the same keys, or starts a new one.
func (e *Engine) startRun(k Keys, o RotateOptions) (*journal, error) {
	runs, err := unfinishedRuns(e.StateDir, k.Old.KeyID())
	if err != nil {
		return nil, err
	}
	for _, l := range runs {
		if o.Mint != nil && l.minted != nil {
			return nil, fmt.Errorf("%w: run %s minted a new key (%s, stored in %s) and was interrupted; "+
				"finish it with that key (--new-stdin or --new-env) instead of minting another",
				ErrUnfinished, l.header.RunID, l.newKeyID, l.minted.WrittenTo)
		}
		if o.Mint == nil && l.newKeyID == k.New.KeyID() {
			j, err := appendJournal(e.StateDir, l.header.RunID)
			if err != nil {
				return nil, err
			}
			e.log().Info("resuming interrupted run " + l.header.RunID)
			j.append(record{Type: recResume})
			return j, nil
		}
	}
	header := record{Mode: ModeRotate, OldKeyID: k.Old.KeyID(), Paths: o.Paths, Stores: o.Stores}
	if k.New != "" {
		header.NewKeyID = k.New.KeyID()
	}
	return createJournal(e.StateDir, newRunID(time.Now()), header)
}

// closeFinished ends the unfinished runs of these keys over the same paths
// once nothing is left to do there, so later runs stop resuming them.
func (e *Engine) closeFinished(k Keys, paths []string) {
	runs, err := unfinishedRuns(e.StateDir, k.Old.KeyID())
	if err != nil {
		return
	}
	for _, l := range runs {
		if k.New == "" || l.newKeyID != k.New.KeyID() || !slices.Equal(l.header.Paths, paths) {
			continue
		}
		if j, err := appendJournal(e.StateDir, l.header.RunID); err == nil {
			j.append(record{Type: recEnd, Detail: "finished by a later run with nothing left to do"})
			_ = j.close()
		}
	}
}

// write applies the change to one target.
func (e *Engine) write(ctx context.Context, t Target, k Keys) outcome {
	st, err := t.Location.Write(ctx, Change{From: k.Old, To: k.New, Expect: t.State.Hash})
	if err != nil {
		return outcome{action: ActionFailed, detail: err.Error()}
	}
	return outcome{action: ActionReplaced, written: st, wrote: true, detail: st.Detail}
}

// writeAll writes the targets idx with bounded concurrency; a failure is
// recorded and never stops the others.
func (e *Engine) writeAll(ctx context.Context, p *Plan, k Keys, idx []int, results []outcome) {
	var g errgroup.Group
	g.SetLimit(e.workers())
	for _, i := range idx {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				results[i] = outcome{action: ActionFailed, detail: "not attempted: " + err.Error()}
				return nil
			}
			results[i] = e.write(ctx, p.Targets[i], k)
			return nil
		})
	}
	_ = g.Wait()
}

func (e *Engine) locatorsAsAny() []any {
	out := make([]any, len(e.Locators))
	for i, l := range e.Locators {
		out[i] = l
	}
	return out
}

// flush runs the Flushers among ls; a failure makes the run fail, since
// the writes may not be durable.
func (e *Engine) flush(ctx context.Context, r *Report, ls []any) {
	for _, l := range ls {
		if f, ok := l.(Flusher); ok {
			if err := f.Flush(ctx); err != nil {
				r.Failures = append(r.Failures, scanner.Scrub(err.Error()))
			}
		}
	}
}

// verifyAll reads back every location written, with bounded concurrency.
func (e *Engine) verifyAll(ctx context.Context, p *Plan, k Keys, idx []int, results []outcome) {
	var g errgroup.Group
	g.SetLimit(e.workers())
	for _, i := range idx {
		if !results[i].wrote {
			continue
		}
		g.Go(func() error {
			t := p.Targets[i]
			if err := verify(ctx, t.Location, k, results[i].written, t.State.Old+t.State.New); err != nil {
				results[i].action, results[i].detail = ActionFailed, "written, but "+err.Error()
				return nil
			}
			results[i].verified = true
			return nil
		})
	}
	_ = g.Wait()
}

// verify checks a write: the new key present as many times as want, the
// old one absent, the content what was written.
func verify(ctx context.Context, loc Location, k Keys, written State, want int) error {
	if v, ok := loc.(Verifier); ok {
		return v.Verify(ctx, k, written)
	}
	st, err := loc.Read(ctx, k)
	switch {
	case err != nil:
		return fmt.Errorf("reading it back failed: %w", err)
	case st.Old != 0:
		return fmt.Errorf("reading it back found the old key %d times", st.Old)
	case st.New != want:
		return fmt.Errorf("reading it back found the new key %d times, want %d", st.New, want)
	case written.Hash != "" && st.Hash != written.Hash:
		return errors.New("reading it back found other content than was written (changed by someone else?)")
	}
	return nil
}

// finishKeys checks the new key once more and, if asked and safe, revokes
// the old one and confirms it now answers invalid. Without a revocation,
// oldStatus asks for the old key's status (the advice on copies in git
// history depends on it).
func (e *Engine) finishKeys(ctx context.Context, r *Report, k Keys, o RotateOptions, oldStatus bool) {
	if e.API == nil {
		return
	}
	if r.NewKey != nil && !r.NewKey.Revoked {
		st, reason := e.API.Check(ctx, k.New)
		r.NewKey.Status = st
		if st == StatusInvalid {
			r.Failures = append(r.Failures, "the new key answers invalid after the rotation"+because(reason))
		}
	}
	if !o.RevokeOld {
		if oldStatus {
			r.OldKey.Status, _ = e.API.Check(ctx, k.Old)
		}
		return
	}
	if why := e.cannotRevoke(r); why != "" {
		r.OldKey.Detail = "not revoked: " + why
		r.Failures = append(r.Failures, "the old key was not revoked: "+why)
		return
	}
	auth := o.AdminKey
	if auth == "" {
		auth = k.New
	}
	if err := e.API.Revoke(ctx, auth, k.Old); err != nil {
		r.OldKey.Detail = "revocation failed: " + scanner.Scrub(err.Error())
		r.Failures = append(r.Failures, "revoke the old key: "+scanner.Scrub(err.Error()))
		return
	}
	st, reason := e.API.Check(ctx, k.Old)
	r.OldKey.Status = st
	if st != StatusInvalid {
		r.OldKey.Detail = "revoked, but the API still answers " + string(st) + because(reason)
		r.Failures = append(r.Failures, "the old key's revocation is not confirmed: it answers "+string(st))
		return
	}
	r.OldKey.Revoked, r.OldKey.Detail = true, "revoked; the API now answers invalid"
}

// cannotRevoke says why revoking the old key now would break something,
// or returns "".
func (e *Engine) cannotRevoke(r *Report) string {
	switch {
	case r.Counts[ActionFailed] > 0:
		return fmt.Sprintf("%d locations failed and still hold it", r.Counts[ActionFailed])
	case r.Counts[ActionSkipped] > 0:
		return fmt.Sprintf("%d locations were skipped and may still hold it", r.Counts[ActionSkipped])
	case len(r.Problems) > 0:
		return fmt.Sprintf("%d places could not be read and may hold it", len(r.Problems))
	case len(r.Failures) > 0:
		return "the run had failures"
	case r.NewKey == nil || r.NewKey.Status != StatusLive:
		return "the new key could not be confirmed live"
	}
	return ""
}

// addHistory lists the copies rotation does not rewrite, with advice that
// depends on whether the old key is still live.
func (e *Engine) addHistory(r *Report, p *Plan) {
	if len(p.History) == 0 {
		return
	}
	dead := r.OldKey != nil && (r.OldKey.Revoked || r.OldKey.Status == StatusInvalid)
	advice := "not rewritten: git history keeps this copy readable to anyone with the repository; " +
		"revoke the old key (--revoke-old) once every location holds the new one"
	if dead {
		advice = "not rewritten: the old key is revoked, so this copy in git history is dead"
	}
	for _, loc := range p.History {
		r.add(loc, ActionNotRewritten, false, advice)
	}
}
