package rotators

import (
	"context"
	"errors"

	"github.com/rekeyhq/rekey/scanner"
)

// Keys is the pair a rotation moves between. New is empty while planning a
// run that will mint its new key.
type Keys struct {
	Old, New scanner.Secret
}

// State is what one location holds, as far as rotation cares.
type State struct {
	// Old and New count the copies of each key (plain and base64 forms).
	Old, New int
	// Hash fingerprints the whole content ("sha256:…"), so a change made
	// by someone else between two steps is detected. Empty for write-only
	// stores.
	Hash string
	// Version is the store's version id, for stores that keep versions.
	Version string
	// Detail is a short note for people ("2 copies, 1 base64").
	Detail string
}

// Change asks a Location to replace every copy of From by To.
type Change struct {
	From, To scanner.Secret
	// Expect is the Hash the content must still have; anything else fails
	// with ErrChanged and writes nothing.
	Expect string
	// Want, when set, is the Hash the result must have, or nothing is
	// written (ErrChanged). Rollback uses it to put back exactly the bytes
	// a run replaced.
	Want string
}

// Location is one place that holds a key and can be rewritten.
// Implementations must be safe for concurrent use of different Locations.
type Location interface {
	// Address says where the location is, for reports and the journal.
	Address() scanner.Location
	// Ref is a stable identity the location's Resolver can turn back
	// into the Location in a later process (an absolute path, a store
	// URI).
	Ref() string
	// Read returns the current state with respect to k.
	Read(ctx context.Context, k Keys) (State, error)
	// Write applies c atomically with compare-and-set semantics and
	// returns the new state. On any error the location is unchanged.
	Write(ctx context.Context, c Change) (State, error)
}

// Target is one planned location and the state the plan saw.
type Target struct {
	Location Location
	State    State
	// Skip, when set, says why the location is listed but will not be
	// written (a symbolic link to a file outside the scanned root).
	Skip string
}

// Problem is something a Locator could not read: it may or may not hold
// the key, so the report lists it.
type Problem struct {
	URI     string `json:"uri"`
	Message string `json:"message"`
}

// Found is what a Locator found.
type Found struct {
	Targets  []Target
	Problems []Problem
}

// Locator finds the locations that hold either key of k: the files of a
// working tree, the secrets of a store.
type Locator interface {
	Locate(ctx context.Context, k Keys) (Found, error)
}

// Resolver turns a journal entry back into a Location, for rollback. It
// reports false for kinds it does not handle.
type Resolver interface {
	Resolve(addr scanner.Location, ref string) (Location, bool, error)
}

// Preparer is a Locator with work to do before the first write of a run
// (removing temporary files an interrupted run left behind). It is not
// called for dry runs.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Flusher is a Locator whose writes need one last step after the last
// write and before verification (file systems: syncing the directories
// whose entries changed).
type Flusher interface {
	Flush(ctx context.Context) error
}

// Verifier is a Location that cannot be read back (a write-only CI
// secret) and verifies a write by other means, such as its metadata.
type Verifier interface {
	Verify(ctx context.Context, k Keys, written State) error
}

// Reverter is a Location that keeps versions and, on rollback, makes the
// version it had before a run current again instead of writing the old
// key back.
type Reverter interface {
	Revert(ctx context.Context, before State) (State, error)
}

// Errors locations return, wrapped with context; test with errors.Is.
var (
	// ErrChanged: the content is not what the plan (or the journal) says,
	// so nothing was written.
	ErrChanged = errors.New("changed since it was planned")
	// ErrReadOnly: the location is marked read-only.
	ErrReadOnly = errors.New("read-only")
	// ErrLocked: another process holds a lock on the location.
	ErrLocked = errors.New("locked by another process")
)
