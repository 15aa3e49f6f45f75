// Package storerot holds the secret-store locations of a rotation: every
// entry of a providers.Provider (AWS, Vault, GitHub, GitLab) that holds the
// old or the new key, rewritten through the store's own API.
//
// How an entry is rewritten:
//
//   - Readable values: the value is read again, compared with the hash the
//     plan saw (anything else fails with rotators.ErrChanged), every copy of
//     the old key (plain or base64) is replaced by the new one with every
//     other byte kept, and the result is written as the entry's new version
//     (check-and-set on the version read where the store offers it).
//   - Write-only values (GitHub secrets, hidden GitLab variables) cannot be
//     read: an entry presumed to hold a key is re-set to the new key, and
//     the write is verified by the store's metadata (its update time).
//   - Rollback makes the version before the run current again where the
//     store keeps versions; elsewhere the old key is written back.
package storerot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/rotators/rewrite"
	"github.com/rekeyhq/rekey/scanner"
)

// Locator finds the entries of one store that hold either key.
type Locator struct {
	Provider providers.Provider
	// URI is the store's URI as the user gave it; it prefixes every ref so
	// a later rollback can find the store again.
	URI string
}

var (
	_ rotators.Locator  = (*Locator)(nil)
	_ rotators.Resolver = (*Locator)(nil)
)

// Locate lists the store and returns the entries holding either key, and
// the entries it could not read.
func (l *Locator) Locate(ctx context.Context, k rotators.Keys) (rotators.Found, error) {
	var found rotators.Found
	keys := newKeys(k)
	err := l.Provider.List(ctx, func(e providers.Entry) error {
		switch {
		case e.Err != nil:
			found.Problems = append(found.Problems, rotators.Problem{URI: e.URI, Message: scanner.Scrub(e.Err.Error())})
		case e.Value == nil && e.Presumed != "":
			found.Targets = append(found.Targets, rotators.Target{Location: l.location(e.Name, address(e)), State: writeOnlyState(e)})
		case e.Value != nil:
			st := keys.state(e)
			if st.Old > 0 || st.New > 0 {
				found.Targets = append(found.Targets, rotators.Target{Location: l.location(e.Name, address(e)), State: st})
			}
		}
		return nil
	})
	if err != nil {
		return found, fmt.Errorf("list store %s: %w", l.URI, err)
	}
	return found, nil
}

// Resolve turns a journal entry of this store back into a location.
func (l *Locator) Resolve(addr scanner.Location, ref string) (rotators.Location, bool, error) {
	name, ok := strings.CutPrefix(ref, l.URI+"\x00")
	if !ok {
		return nil, false, nil
	}
	return l.location(name, addr), true, nil
}

// location returns the entry as a rotation location; in a store that keeps
// versions it can also revert to the version before a run.
func (l *Locator) location(name string, addr scanner.Location) rotators.Location {
	e := &entry{l: l, name: name, addr: addr}
	if _, ok := l.Provider.(providers.Rollbacker); ok {
		return &versioned{e}
	}
	return e
}

// entry is one secret of the store.
type entry struct {
	l    *Locator
	name string
	addr scanner.Location
}

var (
	_ rotators.Location = (*entry)(nil)
	_ rotators.Verifier = (*entry)(nil)
	_ rotators.Reverter = (*versioned)(nil)
)

func (e *entry) Address() scanner.Location { return e.addr }
func (e *entry) Ref() string               { return e.l.URI + "\x00" + e.name }

func (e *entry) writeOnly(got providers.Entry) bool { return got.Value == nil }

// Read returns how many copies of each key the entry holds now.
func (e *entry) Read(ctx context.Context, k rotators.Keys) (rotators.State, error) {
	got, err := e.l.Provider.Get(ctx, e.name)
	if err != nil {
		return rotators.State{}, fmt.Errorf("read %s: %w", e.addr.URI, err)
	}
	if e.writeOnly(got) {
		return writeOnlyState(got), nil
	}
	return newKeys(k).state(got), nil
}

// Write replaces c.From by c.To in the entry's value and stores the result
// as a new version; a write-only entry is set to c.To.
func (e *entry) Write(ctx context.Context, c rotators.Change) (rotators.State, error) {
	got, err := e.l.Provider.Get(ctx, e.name)
	if err != nil {
		return rotators.State{}, fmt.Errorf("read %s: %w", e.addr.URI, err)
	}
	if e.writeOnly(got) {
		put, err := e.l.Provider.Put(ctx, e.name, []byte(c.To.Reveal()))
		if err != nil {
			return rotators.State{}, fmt.Errorf("write %s: %w", e.addr.URI, err)
		}
		st := writeOnlyState(put)
		st.Old, st.New = 0, 1
		return st, nil
	}
	if c.Expect != "" && hash(got.Value) != c.Expect {
		return rotators.State{}, fmt.Errorf("write %s: %w", e.addr.URI, rotators.ErrChanged)
	}
	from, to := rewrite.NewKey(c.From.Reveal()), rewrite.NewKey(c.To.Reveal())
	out, counts := rewrite.Replace(got.Value, from, to)
	if c.Want != "" && hash(out) != c.Want {
		return rotators.State{}, fmt.Errorf("write %s: %w", e.addr.URI, rotators.ErrChanged)
	}
	if counts.Total() == 0 {
		return newKeys(rotators.Keys{Old: c.From, New: c.To}).state(got), nil
	}
	var put providers.Entry
	if cas, ok := e.l.Provider.(providers.CompareAndSwap); ok && got.Version != "" {
		put, err = cas.PutIfVersion(ctx, e.name, out, got.Version)
	} else {
		put, err = e.l.Provider.Put(ctx, e.name, out)
	}
	if errors.Is(err, providers.ErrConflict) {
		err = fmt.Errorf("%w: %w", rotators.ErrChanged, err)
	}
	if err != nil {
		return rotators.State{}, fmt.Errorf("write %s: %w", e.addr.URI, err)
	}
	// The state is what the store now holds, read back: stores may keep a
	// value in another form than it was sent (Vault re-encodes JSON).
	if stored, err := e.l.Provider.Get(ctx, e.name); err == nil && stored.Value != nil {
		put = stored
	} else if put.Value == nil {
		put.Value = out
	}
	return newKeys(rotators.Keys{Old: c.From, New: c.To}).state(put), nil
}

// Verify checks that the entry holds what was written (after a write) or
// what the run found (after a rollback): readable values by reading them
// back, write-only ones by their metadata, since the store shows an update
// at or after the write.
func (e *entry) Verify(ctx context.Context, k rotators.Keys, want rotators.State) error {
	got, err := e.l.Provider.Get(ctx, e.name)
	if err != nil {
		return fmt.Errorf("verify %s: %w", e.addr.URI, err)
	}
	if e.writeOnly(got) {
		if want.Version != "" && updated(got) < want.Version {
			return fmt.Errorf("verify %s: the store shows no update since the write (updated %s); the value itself cannot be read back", e.addr.URI, updated(got))
		}
		return nil
	}
	st := newKeys(k).state(got)
	switch {
	case want.Hash != "" && st.Hash != want.Hash:
		return fmt.Errorf("verify %s: reading it back found other content than expected (changed by someone else?)", e.addr.URI)
	case want.Hash == "" && (st.Old != want.Old || st.New != want.New):
		return fmt.Errorf("verify %s: reading it back found the old key %d times and the new %d times, want %d and %d", e.addr.URI, st.Old, st.New, want.Old, want.New)
	}
	return nil
}

// versioned is an entry of a store that keeps versions.
type versioned struct{ *entry }

// Revert makes the version before the run current again.
func (v *versioned) Revert(ctx context.Context, before rotators.State) (rotators.State, error) {
	e := v.entry
	got, err := e.l.Provider.(providers.Rollbacker).Rollback(ctx, e.name, before.Version)
	if err != nil {
		return rotators.State{}, fmt.Errorf("roll back %s: %w", e.addr.URI, err)
	}
	return rotators.State{Hash: hash(got.Value), Version: got.Version}, nil
}

// keys are the two keys of a rotation, prepared for counting.
type keys struct{ old, new *rewrite.Key }

func newKeys(k rotators.Keys) keys {
	var ks keys
	if k.Old != "" {
		ks.old = rewrite.NewKey(k.Old.Reveal())
	}
	if k.New != "" {
		ks.new = rewrite.NewKey(k.New.Reveal())
	}
	return ks
}

func (ks keys) state(e providers.Entry) rotators.State {
	st := rotators.State{Hash: hash(e.Value), Version: e.Version}
	if ks.old != nil {
		st.Old = len(ks.old.Spans(e.Value))
	}
	if ks.new != nil {
		st.New = len(ks.new.Spans(e.Value))
	}
	return st
}

// writeOnlyState is the state of an entry whose value cannot be read: it
// is presumed to hold the old key; its version is its update time, which
// is what verification compares.
func writeOnlyState(e providers.Entry) rotators.State {
	return rotators.State{Old: 1, Version: updated(e), Detail: "write-only; " + e.Presumed}
}

// updated renders an update time so that strings compare as times do.
func updated(e providers.Entry) string {
	if e.Updated.IsZero() {
		return e.Version
	}
	return e.Updated.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

func address(e providers.Entry) scanner.Location {
	return scanner.Location{Kind: e.Kind, URI: e.URI, Variable: e.Name}
}

func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
