package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strconv"

	"github.com/hashicorp/vault/api"

	"github.com/rekeyhq/rekey/providers"
)

// KV1 is a store on a KV version 1 mount: no versions, so no check-and-set
// and no rollback; a write replaces the whole secret.
type KV1 struct{ *store }

// Put implements providers.Provider: the secret becomes exactly the fields
// value stands for (see the package comment).
func (s *KV1) Put(ctx context.Context, name string, value []byte) (providers.Entry, error) {
	data := decode(value)
	if _, err := s.call(ctx, func() (*api.Secret, error) {
		return s.api.WriteWithContext(ctx, s.mount+name, data)
	}); err != nil {
		return providers.Entry{}, fmt.Errorf("write %s: %w", s.uri(name), err)
	}
	return s.entry(name, secret{data: data}), nil
}

// KV2 is a store on a KV version 2 mount: every write is a new version made
// with check-and-set, and earlier versions can be made current again.
type KV2 struct{ *store }

// Put implements providers.Provider: it reads the current version and
// writes value over it with check-and-set, as PutIfVersion does.
func (s *KV2) Put(ctx context.Context, name string, value []byte) (providers.Entry, error) {
	want := decode(value)
	cur, err := s.read(ctx, name, 0)
	if err != nil && !errors.Is(err, providers.ErrNotFound) {
		return providers.Entry{}, err
	}
	if err != nil {
		// New, or its current version deleted: write over the version
		// number read (0 creates only).
		cur.data = map[string]any{}
	}
	if e, err := s.cas(ctx, name, want, cur.version); !errors.Is(err, providers.ErrConflict) {
		return e, err
	}
	return s.rebase(ctx, name, cur, want)
}

// PutIfVersion implements providers.CompareAndSwap: value, derived from
// version, is written with check-and-set on that version. If the secret has
// changed since, it is read again once and only the fields value changes
// are written over the newer version, provided the other writer left those
// fields alone; otherwise the result is ErrConflict and nothing is written.
func (s *KV2) PutIfVersion(ctx context.Context, name string, value []byte, version string) (providers.Entry, error) {
	if version == "" {
		return s.Put(ctx, name, value)
	}
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 {
		return providers.Entry{}, fmt.Errorf("write %s: version %q is not a kv v2 version", s.uri(name), version)
	}
	want := decode(value)
	if e, err := s.cas(ctx, name, want, v); !errors.Is(err, providers.ErrConflict) {
		return e, err
	}
	base, err := s.read(ctx, name, v)
	if err != nil {
		// The version the value came from is gone: nothing to compare with.
		return providers.Entry{}, fmt.Errorf("write %s: version %d changed and cannot be read (%w): %w",
			s.uri(name), v, err, providers.ErrConflict)
	}
	return s.rebase(ctx, name, base, want)
}

// rebase applies the change from base to want over the current version:
// the one retry after a check-and-set conflict.
func (s *KV2) rebase(ctx context.Context, name string, base secret, want map[string]any) (providers.Entry, error) {
	cur, err := s.read(ctx, name, 0)
	if err != nil {
		return providers.Entry{}, fmt.Errorf("write %s: changed while writing (%w): %w", s.uri(name), err, providers.ErrConflict)
	}
	merged, clash := merge(base.data, want, cur.data)
	if clash != "" {
		return providers.Entry{}, fmt.Errorf("write %s: field %q was changed by someone else since version %d: %w",
			s.uri(name), clash, base.version, providers.ErrConflict)
	}
	if reflect.DeepEqual(merged, cur.data) {
		return s.entry(name, cur), nil // the change is already there
	}
	e, err := s.cas(ctx, name, merged, cur.version)
	if errors.Is(err, providers.ErrConflict) {
		return providers.Entry{}, fmt.Errorf("%w (again, after one retry)", err)
	}
	return e, err
}

// merge returns cur with the fields changed from base to want set as in
// want, or the name of a field the change and cur disagree on.
func merge(base, want, cur map[string]any) (map[string]any, string) {
	out := maps.Clone(cur)
	if out == nil {
		out = map[string]any{}
	}
	fields := make([]string, 0, len(base)+len(want))
	for k := range base {
		fields = append(fields, k)
	}
	for k := range want {
		if _, ok := base[k]; !ok {
			fields = append(fields, k)
		}
	}
	sort.Strings(fields) // report the same field every time
	for _, k := range fields {
		b, inBase := base[k]
		w, inWant := want[k]
		if inBase == inWant && reflect.DeepEqual(b, w) {
			continue // not ours: cur's value stands
		}
		c, inCur := cur[k]
		untouched := inCur == inBase && reflect.DeepEqual(c, b)
		done := inCur == inWant && reflect.DeepEqual(c, w)
		if !untouched && !done {
			return nil, k
		}
		if inWant {
			out[k] = w
		} else {
			delete(out, k)
		}
	}
	return out, ""
}

// cas writes data as a new version if the current one is version (0: only
// if the secret does not exist).
func (s *KV2) cas(ctx context.Context, name string, data map[string]any, version int) (providers.Entry, error) {
	sec, err := s.call(ctx, func() (*api.Secret, error) {
		return s.api.WriteWithContext(ctx, s.mount+"data/"+name, map[string]any{
			"data":    data,
			"options": map[string]any{"cas": version},
		})
	})
	if err != nil {
		return providers.Entry{}, fmt.Errorf("write %s: %w", s.uri(name), err)
	}
	written := secret{data: data}
	if sec != nil {
		written.version, written.created = parseMetadata(sec.Data)
	}
	return s.entry(name, written), nil
}

// Rollback implements providers.Rollbacker: the data of version becomes a
// new current version (check-and-set on the current one, retried once).
func (s *KV2) Rollback(ctx context.Context, name, version string) (providers.Entry, error) {
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 {
		return providers.Entry{}, fmt.Errorf("roll back %s: version %q is not a kv v2 version", s.uri(name), version)
	}
	old, err := s.read(ctx, name, v)
	if err != nil {
		return providers.Entry{}, fmt.Errorf("roll back: %w", err)
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.read(ctx, name, 0)
		if err != nil && !errors.Is(err, providers.ErrNotFound) {
			return providers.Entry{}, fmt.Errorf("roll back: %w", err)
		}
		if err == nil && reflect.DeepEqual(cur.data, old.data) {
			return s.entry(name, cur), nil // already rolled back
		}
		e, err := s.cas(ctx, name, old.data, cur.version)
		if !errors.Is(err, providers.ErrConflict) || attempt == 1 {
			if err != nil {
				return providers.Entry{}, fmt.Errorf("roll back to version %d: %w", v, err)
			}
			return e, nil
		}
	}
}
