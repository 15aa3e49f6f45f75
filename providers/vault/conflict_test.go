package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// kv2 opens a fresh KV v2 mount holding one secret "app/config" at version
// 1, and returns the store, its transport, a separate client playing the
// other writer, and the mount.
func kv2(t *testing.T, data map[string]any) (providers.CompareAndSwap, *transport, *api.Client, string) {
	t.Helper()
	srv := server(t)
	mount := srv.Mount(t, 2)
	other := srv.Client(t)
	if err := vaulttest.Write(context.Background(), other, mount, 2, "app/config", data); err != nil {
		t.Fatal(err)
	}
	c, tr := client(t, vaulttest.RootToken)
	return open(t, c, mount, vault.Options{}).(providers.CompareAndSwap), tr, other, mount
}

func current(t *testing.T, c *api.Client, mount string) (map[string]any, string) {
	t.Helper()
	sec, err := c.Logical().ReadWithContext(context.Background(), mount+"/data/app/config")
	if err != nil || sec == nil {
		t.Fatalf("read back: %v", err)
	}
	meta := sec.Data["metadata"].(map[string]any)
	return sec.Data["data"].(map[string]any), fmt.Sprint(meta["version"])
}

// isWrite tells the store's writes of app/config from its reads.
func isWrite(r *http.Request, mount string) bool {
	return r.Method != http.MethodGet && r.Method != "LIST" && r.URL.Path == "/v1/"+mount+"/data/app/config"
}

func TestCheckAndSet(t *testing.T) {
	g := testkeys.New(11)
	oldKey, newKey, otherKey := g.Mixed(), g.Mixed(), g.Mixed()
	ctx := context.Background()
	rotate := func(e providers.Entry) []byte { return bytes.ReplaceAll(e.Value, []byte(oldKey), []byte(newKey)) }

	t.Run("another field changed since read: only ours is written over it", func(t *testing.T) {
		p, tr, other, mount := kv2(t, map[string]any{"key": oldKey, "counter": "0"})
		e, err := p.(providers.Provider).Get(ctx, "app/config")
		if err != nil {
			t.Fatal(err)
		}
		if err := vaulttest.Write(ctx, other, mount, 2, "app/config", map[string]any{"key": oldKey, "counter": "1"}); err != nil {
			t.Fatal(err)
		}
		written, err := p.PutIfVersion(ctx, "app/config", rotate(e), e.Version)
		if err != nil {
			t.Fatal(err)
		}
		data, version := current(t, other, mount)
		if data["key"] != newKey || data["counter"] != "1" || version != "3" || written.Version != "3" {
			t.Errorf("after the retry: counter %v, new key %v, version %s (entry %s); want 1, true, 3",
				data["counter"], data["key"] == newKey, version, written.Version)
		}
		if n := tr.attemptsOn("/v1/" + mount + "/data/app/config"); n != 5 {
			t.Errorf("%d requests, want 5: get, write (conflict), read base, read current, write", n)
		}
	})

	t.Run("our field changed since read: conflict, nothing written", func(t *testing.T) {
		p, _, other, mount := kv2(t, map[string]any{"key": oldKey, "counter": "0"})
		e, err := p.(providers.Provider).Get(ctx, "app/config")
		if err != nil {
			t.Fatal(err)
		}
		if err := vaulttest.Write(ctx, other, mount, 2, "app/config", map[string]any{"key": otherKey, "counter": "0"}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.PutIfVersion(ctx, "app/config", rotate(e), e.Version); !errors.Is(err, providers.ErrConflict) {
			t.Fatalf("got %v, want ErrConflict", err)
		}
		if data, version := current(t, other, mount); data["key"] != otherKey || version != "2" {
			t.Errorf("the other writer's value was overwritten (version %s)", version)
		}
	})

	t.Run("the other writer already made our change", func(t *testing.T) {
		p, _, other, mount := kv2(t, map[string]any{"key": oldKey})
		e, _ := p.(providers.Provider).Get(ctx, "app/config")
		if err := vaulttest.Write(ctx, other, mount, 2, "app/config", map[string]any{"key": newKey}); err != nil {
			t.Fatal(err)
		}
		got, err := p.PutIfVersion(ctx, "app/config", rotate(e), e.Version)
		if err != nil || got.Version != "2" {
			t.Errorf("got version %q, %v; want 2 and no new version", got.Version, err)
		}
	})

	t.Run("a writer racing every write: one retry, then conflict", func(t *testing.T) {
		p, tr, other, mount := kv2(t, map[string]any{"key": oldKey, "counter": "0"})
		e, _ := p.(providers.Provider).Get(ctx, "app/config")
		var races atomic.Int64
		tr.before = func(r *http.Request) {
			if isWrite(r, mount) { // just before each of our writes lands
				n := races.Add(1)
				_ = vaulttest.Write(ctx, other, mount, 2, "app/config", map[string]any{"key": oldKey, "counter": fmt.Sprint(n)})
			}
		}
		_, err := p.PutIfVersion(ctx, "app/config", rotate(e), e.Version)
		if !errors.Is(err, providers.ErrConflict) || races.Load() != 2 {
			t.Errorf("got %v after %d writes, want ErrConflict after 2", err, races.Load())
		}
		if data, _ := current(t, other, mount); data["key"] != oldKey || data["counter"] != "2" {
			t.Errorf("data changed by the failed write: counter %v", data["counter"])
		}
	})

	t.Run("put reads the current version and keeps a racing writer's fields", func(t *testing.T) {
		p, tr, other, mount := kv2(t, map[string]any{"key": oldKey, "counter": "0"})
		e, _ := p.(providers.Provider).Get(ctx, "app/config")
		var once sync.Once
		tr.before = func(r *http.Request) {
			if isWrite(r, mount) {
				once.Do(func() {
					_ = vaulttest.Write(ctx, other, mount, 2, "app/config", map[string]any{"key": oldKey, "counter": "7"})
				})
			}
		}
		if _, err := p.(providers.Provider).Put(ctx, "app/config", rotate(e)); err != nil {
			t.Fatal(err)
		}
		if data, version := current(t, other, mount); data["key"] != newKey || data["counter"] != "7" || version != "3" {
			t.Errorf("counter %v, new key %v, version %s", data["counter"], data["key"] == newKey, version)
		}
	})
}

// A writer updating one field in a loop, with check-and-set as a careful
// application does, while the key field is rotated again and again: every
// rotation either lands or reports a conflict, and no update of either side
// is lost.
func TestConcurrentWriter(t *testing.T) {
	p, _, other, mount := kv2(t, map[string]any{"key": "start", "counter": "0"})
	store := p.(providers.Provider)
	ctx := context.Background()
	const writes, rotations = 60, 20
	var conflicts atomic.Int64

	done := make(chan error)
	go func() {
		for i := 1; i <= writes; i++ {
			for {
				sec, err := other.Logical().ReadWithContext(ctx, mount+"/data/app/config")
				if err != nil {
					done <- err
					return
				}
				data := sec.Data["data"].(map[string]any)
				data["counter"] = fmt.Sprint(i)
				_, err = other.Logical().WriteWithContext(ctx, mount+"/data/app/config", map[string]any{
					"data": data, "options": map[string]any{"cas": sec.Data["metadata"].(map[string]any)["version"]},
				})
				if err == nil {
					break
				}
				var re *api.ResponseError
				if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()

	g := testkeys.New(99)
	last := "start"
	for range rotations {
		next := g.Mixed()
		for attempt := 0; ; attempt++ {
			e, err := store.Get(ctx, "app/config")
			if err != nil {
				t.Fatal(err)
			}
			value := bytes.Replace(e.Value, []byte(`"key":"`+last+`"`), []byte(`"key":"`+next+`"`), 1)
			_, err = p.PutIfVersion(ctx, "app/config", value, e.Version)
			if err == nil {
				break
			}
			if !errors.Is(err, providers.ErrConflict) || attempt == 20 {
				t.Fatalf("rotation: %v", err)
			}
			conflicts.Add(1)
		}
		last = next
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	data, version := current(t, other, mount)
	if data["key"] != last || data["counter"] != fmt.Sprint(writes) {
		t.Errorf("final counter %v (want %d), last key kept: %v", data["counter"], writes, data["key"] == last)
	}
	t.Logf("version %s after %d rotations and %d writes; %d rotations met a conflict they could not rebase",
		version, rotations, writes, conflicts.Load())
}

func TestRollback(t *testing.T) {
	g := testkeys.New(5)
	oldKey, newKey := g.Mixed(), g.Mixed()
	ctx := context.Background()
	p, _, other, mount := kv2(t, map[string]any{"key": oldKey, "note": "n"})
	store := p.(providers.Provider)
	rb := p.(providers.Rollbacker)
	e, _ := store.Get(ctx, "app/config")
	if _, err := store.Put(ctx, "app/config", bytes.ReplaceAll(e.Value, []byte(oldKey), []byte(newKey))); err != nil {
		t.Fatal(err)
	}
	got, err := rb.Rollback(ctx, "app/config", e.Version)
	if err != nil {
		t.Fatal(err)
	}
	if data, version := current(t, other, mount); data["key"] != oldKey || version != "3" || got.Version != "3" {
		t.Errorf("after rollback: old key back %v, version %s", data["key"] == oldKey, version)
	}
	// Rolling back again changes nothing: a re-run is safe.
	if got, err := rb.Rollback(ctx, "app/config", e.Version); err != nil || got.Version != "3" {
		t.Errorf("second rollback: version %q, %v", got.Version, err)
	}
	if _, err := other.Logical().WriteWithContext(ctx, mount+"/destroy/app/config", map[string]any{"versions": []int{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Rollback(ctx, "app/config", "1"); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("rollback to a destroyed version: %v", err)
	}
	if _, err := rb.Rollback(ctx, "app/config", "latest"); err == nil {
		t.Error("rollback to a version that is no number succeeded")
	}
}

// KV v1 keeps no versions: the store offers no rollback and no
// check-and-set, and a write replaces the whole secret.
func TestKV1(t *testing.T) {
	srv := server(t)
	mount := srv.Mount(t, 1)
	c, _ := client(t, vaulttest.RootToken)
	p := open(t, c, mount, vault.Options{})
	if _, ok := p.(providers.Rollbacker); ok {
		t.Error("kv v1 store claims to roll back")
	}
	ctx := context.Background()
	if _, err := p.Put(ctx, "new/secret", []byte(`{"a":"1","b":"2"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Put(ctx, "new/secret", []byte(`{"a":"3"}`)); err != nil {
		t.Fatal(err)
	}
	if e, err := p.Get(ctx, "new/secret"); err != nil || string(e.Value) != `{"a":"3"}` || e.Version != "" {
		t.Errorf("read back %s, version %q, %v", e.Value, e.Version, err)
	}
}
