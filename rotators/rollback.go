package rotators

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/scanner"
)

// RunSources returns the paths and store URIs a run recorded in its
// journal, so the command can build the resolvers for a rollback.
func (e *Engine) RunSources(runID string) (paths, stores []string, err error) {
	if !ValidRunID(runID) {
		return nil, nil, fmt.Errorf("%q is not a run id (they look like 20260102T030405Z-1a2b3c)", runID)
	}
	l, err := readJournal(e.StateDir, runID)
	if err != nil {
		return nil, nil, err
	}
	return l.header.Paths, l.header.Stores, nil
}

// revertItem is one location of the run being rolled back.
type revertItem struct {
	rec   record
	after string // the hash the run recorded after writing, if it did
	loc   Location
	cur   State
	fail  string // why it cannot be rolled back
	skip  string // why there is nothing to roll back
}

// Rollback puts the old key back exactly where run runID put the new one.
// k must hold the same two keys the run used. A location is reverted only
// if the result is byte for byte what the run found there (or, for stores
// that keep versions, by making that version current again); a location
// changed since fails and is left alone. With dryRun nothing is written.
func (e *Engine) Rollback(ctx context.Context, runID string, k Keys, resolvers []Resolver, dryRun bool) (*Report, error) {
	if !ValidRunID(runID) {
		return nil, fmt.Errorf("%q is not a run id (they look like 20260102T030405Z-1a2b3c)", runID)
	}
	if err := ensureStateDir(e.StateDir); err != nil {
		return nil, err
	}
	unlock, err := lockState(e.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	l, err := readJournal(e.StateDir, runID)
	if err != nil {
		return nil, err
	}
	if l.header.Mode != ModeRotate {
		return nil, fmt.Errorf("run %s is a %s, not a rotation: only rotations can be rolled back", runID, l.header.Mode)
	}
	if got := k.Old.KeyID(); got != l.header.OldKeyID {
		return nil, fmt.Errorf("%w: the old key given is %s, run %s replaced %s", ErrMismatch, got, runID, l.header.OldKeyID)
	}
	if got := k.New.KeyID(); got != l.newKeyID {
		return nil, fmt.Errorf("%w: the new key given is %s, run %s wrote %s", ErrMismatch, got, runID, l.newKeyID)
	}
	if l.rolledBy != "" && !dryRun {
		e.log().Warn("run " + runID + " was already rolled back by run " + l.rolledBy)
	}

	items := e.resolveRun(ctx, l, k, resolvers)
	mode := ModeRollback
	if dryRun {
		mode = ModeDryRun
	}
	r := newReport(mode, k)
	r.RollbackOf = runID
	pending := 0
	for _, it := range items {
		if it.fail == "" && it.skip == "" {
			pending++
		}
	}
	if dryRun || pending == 0 {
		for _, it := range items {
			switch addr := addrOf(it); {
			case it.fail != "":
				r.add(addr, ActionFailed, false, it.fail)
			case it.skip != "":
				r.add(addr, ActionSkipped, false, it.skip)
			default:
				r.add(addr, ActionPlanned, false, "would put the old key back")
			}
		}
		if pending == 0 {
			r.Message = "nothing to roll back"
		}
		sortRows(r)
		r.count()
		return r, nil
	}
	j, err := createJournal(e.StateDir, newRunID(time.Now()), record{Mode: ModeRollback, RollbackOf: runID,
		OldKeyID: k.Old.KeyID(), NewKeyID: k.New.KeyID(), Paths: l.header.Paths, Stores: l.header.Stores})
	if err != nil {
		return nil, err
	}
	r.RunID, r.Journal = j.id, j.path
	for _, it := range items {
		if it.fail == "" && it.skip == "" {
			a := it.loc.Address()
			j.append(record{Type: recPlan, Kind: a.Kind, URI: a.URI, Path: a.Path, Ref: it.rec.Ref,
				Before: it.cur.Hash, BeforeVersion: it.cur.Version, Old: it.cur.Old, New: it.cur.New})
		}
	}
	if err := j.sync(); err != nil {
		_ = j.close()
		return nil, err
	}
	outcomes := e.revertAll(ctx, items, k)
	flushers := make([]any, len(resolvers))
	for i, res := range resolvers {
		flushers[i] = res
	}
	e.flush(ctx, r, flushers)
	for i, it := range items {
		o := outcomes[i]
		if o.wrote {
			if err := verifyRevert(ctx, it, k); err != nil {
				o.action, o.verified, o.detail = ActionFailed, false, "written, but "+err.Error()
			} else {
				o.verified = true
			}
			j.append(record{Type: recDone, Kind: it.rec.Kind, URI: it.rec.URI, Ref: it.rec.Ref, Action: o.action,
				Verified: o.verified, After: o.written.Hash, Detail: scanner.Scrub(o.detail)})
		}
		r.add(addrOf(it), o.action, o.verified, o.detail)
	}
	sortRows(r)
	r.count()
	j.append(record{Type: recEnd, Failed: r.Counts[ActionFailed]})
	if err := j.close(); err != nil {
		r.Failures = append(r.Failures, err.Error())
	}
	if r.Counts[ActionReverted] > 0 {
		if orig, err := appendJournal(e.StateDir, runID); err == nil {
			orig.append(record{Type: recRolledBack, By: j.id})
			_ = orig.close()
		}
	}
	return r, nil
}

func addrOf(it revertItem) scanner.Location {
	if it.loc != nil {
		return it.loc.Address()
	}
	return scanner.Location{Kind: it.rec.Kind, URI: it.rec.URI, Path: it.rec.Path}
}

// resolveRun turns the run's plan records into locations and reads them.
func (e *Engine) resolveRun(ctx context.Context, l *runLog, k Keys, resolvers []Resolver) []revertItem {
	items := make([]revertItem, len(l.plans))
	var g errgroup.Group
	g.SetLimit(e.workers())
	for i, rec := range l.plans {
		items[i].rec = rec
		if done, ok := l.done[rec.Ref]; ok && done.Action == ActionReplaced {
			items[i].after = done.After
		}
		g.Go(func() error {
			it := &items[i]
			addr := scanner.Location{Kind: rec.Kind, URI: rec.URI, Path: rec.Path}
			for _, res := range resolvers {
				loc, ok, err := res.Resolve(addr, rec.Ref)
				if !ok {
					continue
				}
				if err != nil {
					it.fail = "cannot be reached: " + scanner.Scrub(err.Error())
					return nil
				}
				it.loc = loc
				break
			}
			if it.loc == nil {
				if it.fail == "" {
					it.fail = "no resolver for locations of kind " + string(rec.Kind)
				}
				return nil
			}
			cur, err := it.loc.Read(ctx, k)
			switch {
			case err != nil:
				it.fail = "cannot be read: " + scanner.Scrub(err.Error())
			case rec.Before != "" && cur.Hash == rec.Before:
				it.skip = "holds what it held before the run (never written, or already rolled back)"
			case it.after != "" && cur.Hash != it.after:
				it.fail = "changed since the run: it no longer holds what the run wrote, so nothing was rolled back"
			case cur.New == 0 && cur.Hash != "": // a write-only value cannot be judged: it is written back
				it.fail = "changed since the run: the new key is no longer there, so nothing was rolled back"
			}
			it.cur = cur
			return nil
		})
	}
	_ = g.Wait()
	return items
}

// revertAll writes the old key back, with bounded concurrency.
func (e *Engine) revertAll(ctx context.Context, items []revertItem, k Keys) []outcome {
	out := make([]outcome, len(items))
	var g errgroup.Group
	g.SetLimit(e.workers())
	for i, it := range items {
		switch {
		case it.fail != "":
			out[i] = outcome{action: ActionFailed, detail: it.fail}
			continue
		case it.skip != "":
			out[i] = outcome{action: ActionSkipped, detail: it.skip}
			continue
		}
		g.Go(func() error {
			var st State
			var err error
			// A version is restored only when the location provably holds
			// what the run wrote; otherwise writing the old key back, with
			// the result checked against the hash before the run, is exact.
			if rv, ok := it.loc.(Reverter); ok && it.rec.BeforeVersion != "" && it.after != "" {
				st, err = rv.Revert(ctx, State{Hash: it.rec.Before, Version: it.rec.BeforeVersion})
			} else {
				st, err = it.loc.Write(ctx, Change{From: k.New, To: k.Old, Expect: it.cur.Hash, Want: it.rec.Before})
			}
			switch {
			case errors.Is(err, ErrChanged):
				out[i] = outcome{action: ActionFailed, detail: "changed since the run, so nothing was rolled back: " + err.Error()}
			case err != nil:
				out[i] = outcome{action: ActionFailed, detail: err.Error()}
			default:
				out[i] = outcome{action: ActionReverted, written: st, wrote: true, detail: "old key put back"}
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// verifyRevert reads a reverted location back: it must be what the run
// found there.
func verifyRevert(ctx context.Context, it revertItem, k Keys) error {
	if v, ok := it.loc.(Verifier); ok {
		return v.Verify(ctx, k, State{Hash: it.rec.Before, Old: it.rec.Old})
	}
	st, err := it.loc.Read(ctx, k)
	switch {
	case err != nil:
		return fmt.Errorf("reading it back failed: %w", err)
	case it.rec.Before != "" && st.Hash != it.rec.Before:
		return errors.New("reading it back found other content than the run found there")
	case st.Old != it.rec.Old:
		return fmt.Errorf("reading it back found the old key %d times, want %d", st.Old, it.rec.Old)
	}
	return nil
}
