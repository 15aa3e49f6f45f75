package providers

import (
	"context"
	"errors"
	"time"

	"github.com/rekeyhq/rekey/scanner"
)

// Entry is one secret in a store: its address (never separate from it),
// and its value when the store lets it be read.
type Entry struct {
	// Name is the store's own name for the secret ("prod/app",
	// "/myapp/key", "myapp/config", "PERPLEXITY_API_KEY").
	Name string
	// URI is rekey's address for it, "aws-sm://us-east-1/prod/app".
	URI string
	// Kind is the location kind findings in this entry carry.
	Kind scanner.Kind
	// Value is the secret's content; nil when the store never returns
	// values (write-only CI secrets).
	Value []byte
	// Version identifies the stored version, when the store keeps versions.
	Version string
	// Updated is when the value last changed, when the store says.
	Updated time.Time
	// Presumed, for an entry without a readable value, says why it is
	// believed to hold a Perplexity key ("name contains PERPLEXITY",
	// "feeds PERPLEXITY_API_KEY in .github/workflows/ci.yml"); empty when
	// there is no reason to think so.
	Presumed string
	// Err is set when this one entry could not be read (access denied,
	// throttled beyond the retry bound): the listing goes on.
	Err error
}

// Provider is a secret store. Extra abilities are the small optional
// interfaces below, found by type assertion.
type Provider interface {
	// Name is the store's URI scheme, e.g. "aws-sm".
	Name() string
	// List calls fn for every entry under the store's prefix, values
	// included where readable. An entry that cannot be read is passed with
	// Err set; only a failure to list at all is returned.
	List(ctx context.Context, fn func(Entry) error) error
	// Get reads one entry's current value; ErrNotFound when absent.
	Get(ctx context.Context, name string) (Entry, error)
	// Put stores value as the entry's new current version and returns it.
	Put(ctx context.Context, name string, value []byte) (Entry, error)
}

// Rollbacker is a store that keeps versions and can make an earlier one
// current again (AWS version stages, SSM history, Vault KV v2).
type Rollbacker interface {
	// Rollback makes the value of version the entry's current value.
	Rollback(ctx context.Context, name, version string) (Entry, error)
}

// WriteOnly is a store whose values cannot be read back (GitHub Actions
// secrets): a write is verified by its metadata (Updated advancing).
type WriteOnly interface {
	WriteOnly() bool
}

// CompareAndSwap is a store that writes only if the entry is still at the
// version read (Vault KV v2 check-and-set); ErrConflict otherwise.
type CompareAndSwap interface {
	PutIfVersion(ctx context.Context, name string, value []byte, version string) (Entry, error)
}

// Errors providers return, wrapped with context; test with errors.Is.
var (
	ErrNotFound     = errors.New("secret not found")
	ErrConflict     = errors.New("secret changed since it was read")
	ErrThrottled    = errors.New("throttled by the store")
	ErrAccessDenied = errors.New("access denied")
)
