// Package providertest is the contract every secret store passes: one
// shared suite (list, get, put, verify, not found, throttled, rollback), so
// a store behaves like every other from the scanner's and the rotation
// engine's point of view.
package providertest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// Backend is the test's handle on the store behind a provider: a real
// server (Vault dev) or an in-repo fake.
type Backend interface {
	// Seed creates or overwrites a secret directly in the store, not through
	// the provider under test, under the provider's prefix, and returns its
	// full name as the provider's Entry.Name will show it.
	Seed(t *testing.T, name string, value []byte) string
}

// Throttler is a Backend that can make the store throttle: the next n
// requests get the store's throttling answer (429, ThrottlingException).
type Throttler interface {
	Throttle(n int)
}

// Run checks p against the contract. Names are seeded under p's prefix by b.
func Run(t *testing.T, p providers.Provider, b Backend) {
	ctx := context.Background()
	g := testkeys.New(uint64(time.Now().UnixNano()))
	oldKey, newKey := g.Mixed(), g.Mixed()
	_, writeOnly := p.(providers.WriteOnly)

	nameA := b.Seed(t, "contract/a", []byte("PERPLEXITY_API_KEY="+oldKey))
	nameB := b.Seed(t, "contract/b", []byte("nothing here"))
	missing := nameB[:len(nameB)-1] + "missing"

	t.Run("list", func(t *testing.T) {
		seen := map[string][]byte{}
		err := p.List(ctx, func(e providers.Entry) error {
			if e.Err != nil {
				t.Errorf("entry %s: %v", e.URI, e.Err)
			}
			if e.URI == "" || e.Kind == "" {
				t.Errorf("entry %q lacks its address: %+v", e.Name, e)
			}
			seen[e.Name] = e.Value
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		a, ok := seen[nameA]
		if !ok {
			t.Fatalf("seeded secret not listed; listed %v", keys(seen))
		}
		if !writeOnly && !bytes.Contains(a, []byte(oldKey)) {
			t.Errorf("listed value does not hold the seeded key")
		}
	})

	t.Run("get and not found", func(t *testing.T) {
		e, err := p.Get(ctx, nameA)
		if err != nil {
			t.Fatal(err)
		}
		if !writeOnly && !bytes.Contains(e.Value, []byte(oldKey)) {
			t.Errorf("get: value does not hold the seeded key")
		}
		if _, err := p.Get(ctx, missing); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("get of a missing secret: %v, want ErrNotFound", err)
		}
	})

	var before providers.Entry
	t.Run("put and verify", func(t *testing.T) {
		var err error
		if before, err = p.Get(ctx, nameA); err != nil {
			t.Fatal(err)
		}
		value := []byte("PERPLEXITY_API_KEY=" + newKey)
		after, err := p.Put(ctx, nameA, value)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Get(ctx, nameA)
		if err != nil {
			t.Fatal(err)
		}
		if writeOnly {
			if !got.Updated.After(before.Updated) && !got.Updated.Equal(after.Updated) {
				t.Errorf("write-only store: updated %v did not advance past %v", got.Updated, before.Updated)
			}
			return
		}
		if !bytes.Equal(got.Value, value) {
			t.Errorf("read back %d bytes, not the value written", len(got.Value))
		}
		if before.Version != "" && got.Version == before.Version {
			t.Errorf("version %q did not change", got.Version)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		rb, ok := p.(providers.Rollbacker)
		if !ok {
			t.Skip("store keeps no versions")
		}
		if before.Version == "" {
			t.Fatal("versioned store returned no version")
		}
		if _, err := rb.Rollback(ctx, nameA, before.Version); err != nil {
			t.Fatal(err)
		}
		got, err := p.Get(ctx, nameA)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(got.Value, []byte(oldKey)) || bytes.Contains(got.Value, []byte(newKey)) {
			t.Errorf("rollback did not restore the earlier value")
		}
	})

	t.Run("throttled", func(t *testing.T) {
		th, ok := b.(Throttler)
		if !ok {
			t.Skip("backend cannot throttle")
		}
		th.Throttle(2)
		if _, err := p.Get(ctx, nameB); err != nil {
			t.Fatalf("get after two throttled answers: %v (retries must absorb throttling)", err)
		}
	})

	t.Run("errors hold no key", func(t *testing.T) {
		_, err := p.Get(ctx, nameB[:len(nameB)-1]+oldKey)
		if err != nil && bytes.Contains([]byte(err.Error()), []byte(oldKey)) {
			t.Errorf("error leaks a key: %s", scanner.Scrub(err.Error()))
		}
	})
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
