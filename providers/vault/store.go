package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// logical is the part of the Vault client a store uses.
type logical interface {
	ReadWithDataWithContext(ctx context.Context, path string, data map[string][]string) (*api.Secret, error)
	ListWithContext(ctx context.Context, path string) (*api.Secret, error)
	WriteWithContext(ctx context.Context, path string, data map[string]any) (*api.Secret, error)
}

// store is what KV1 and KV2 share: addressing, listing and reading.
type store struct {
	api    logical
	mount  string // "secret/"
	prefix string // inside the mount: "", "myapp" or "myapp/"
	v2     bool
	sem    chan struct{} // one token per request in flight
}

// secret is one secret as read: its fields, and for KV v2 its version.
type secret struct {
	data    map[string]any
	version int
	created time.Time
}

// Name implements providers.Provider.
func (s *store) Name() string { return Scheme }

// uri is rekey's address of the secret or folder name, redacted should a
// key have ended up in a path.
func (s *store) uri(name string) string {
	return scanner.Scrub(Scheme + "://" + s.mount + name)
}

// call runs one request while holding a concurrency token.
func (s *store) call(ctx context.Context, fn func() (*api.Secret, error)) (*api.Secret, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.sem }()
	sec, err := fn()
	if err != nil {
		return nil, classify(err)
	}
	return sec, nil
}

// read reads name's current value, or the given version (KV v2, >0). For a
// KV v2 secret whose version is deleted or destroyed it returns
// ErrNotFound along with the version, which check-and-set still needs.
func (s *store) read(ctx context.Context, name string, version int) (secret, error) {
	path, query := s.mount+name, map[string][]string(nil)
	if s.v2 {
		path = s.mount + "data/" + name
		if version > 0 {
			query = map[string][]string{"version": {strconv.Itoa(version)}}
		}
	}
	sec, err := s.call(ctx, func() (*api.Secret, error) {
		return s.api.ReadWithDataWithContext(ctx, path, query)
	})
	if err != nil {
		return secret{}, fmt.Errorf("read %s: %w", s.uri(name), err)
	}
	if sec == nil || sec.Data == nil {
		return secret{}, fmt.Errorf("read %s: %w", s.uri(name), providers.ErrNotFound)
	}
	if !s.v2 {
		return secret{data: sec.Data}, nil
	}
	var out secret
	if meta, ok := sec.Data["metadata"].(map[string]any); ok {
		out.version, out.created = parseMetadata(meta)
	}
	data, ok := sec.Data["data"].(map[string]any)
	if !ok { // deleted or destroyed: only metadata is left
		return out, fmt.Errorf("read %s: version %d is deleted: %w", s.uri(name), out.version, providers.ErrNotFound)
	}
	out.data = data
	return out, nil
}

// parseMetadata reads the version and creation time KV v2 answers with
// (numbers arrive as json.Number: the client decodes with UseNumber).
func parseMetadata(meta map[string]any) (int, time.Time) {
	var version int
	if n, ok := meta["version"].(json.Number); ok {
		v, _ := n.Int64()
		version = int(v)
	}
	created, _ := meta["created_time"].(string)
	t, _ := time.Parse(time.RFC3339Nano, created)
	return version, t
}

// list returns the keys in folder ("" or "a/b/"); sub-folders end in "/".
func (s *store) list(ctx context.Context, folder string) ([]string, error) {
	path := s.mount + folder
	if s.v2 {
		path = s.mount + "metadata/" + folder
	}
	sec, err := s.call(ctx, func() (*api.Secret, error) { return s.api.ListWithContext(ctx, path) })
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.uri(folder), err)
	}
	if sec == nil {
		return nil, nil // an empty or absent folder
	}
	raw, _ := sec.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		if k, ok := k.(string); ok && k != "" {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// entry is the providers.Entry of a secret read or written.
func (s *store) entry(name string, sec secret) providers.Entry {
	e := providers.Entry{
		Name:    name,
		URI:     s.uri(name),
		Kind:    scanner.KindVault,
		Value:   encode(sec.data),
		Updated: sec.created,
	}
	if s.v2 {
		e.Version = strconv.Itoa(sec.version)
	}
	return e
}

// Get implements providers.Provider.
func (s *store) Get(ctx context.Context, name string) (providers.Entry, error) {
	sec, err := s.read(ctx, name, 0)
	if err != nil {
		return providers.Entry{}, err
	}
	return s.entry(name, sec), nil
}

// List implements providers.Provider: the folder tree under the prefix is
// walked with one goroutine per folder and the secrets read by a fixed set
// of readers, every request holding one of the store's concurrency tokens.
// fn is never called concurrently.
func (s *store) List(ctx context.Context, fn func(providers.Entry) error) error {
	folder, single := s.prefix, ""
	if folder != "" && !strings.HasSuffix(folder, "/") {
		folder, single = folder+"/", folder // "myapp" is a folder, and may be a secret too
	}
	keys, err := s.list(ctx, folder)
	if err != nil {
		// A token may read one secret without the right to list beside it.
		if single != "" {
			if sec, rerr := s.read(ctx, single, 0); rerr == nil {
				return fn(s.entry(single, sec))
			}
		}
		return err
	}

	probe := "" // the secret named like the folder, when the folder has secrets
	if len(keys) > 0 {
		probe = single
	}
	g, ctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	report := func(e providers.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(e)
	}
	names := make(chan string)
	send := func(name string) bool {
		select {
		case names <- name:
			return true
		case <-ctx.Done():
			return false
		}
	}

	for range cap(s.sem) {
		g.Go(func() error {
			for name := range names {
				sec, err := s.read(ctx, name, 0)
				switch {
				case err == nil:
					err = report(s.entry(name, sec))
				case ctx.Err() != nil:
					return ctx.Err()
				case errors.Is(err, providers.ErrNotFound):
					// Deleted since listed, or a KV v2 secret whose current
					// version is deleted: nothing current to scan.
					continue
				case name == probe && errors.Is(err, providers.ErrAccessDenied):
					// vault://secret/app named the folder app/, which has
					// secrets; a secret "app" beside it is none of ours.
					continue
				default:
					err = report(providers.Entry{Name: name, URI: s.uri(name), Kind: scanner.KindVault, Err: err})
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}

	var walkers sync.WaitGroup
	var walk func(folder string, keys []string)
	walk = func(folder string, keys []string) {
		for _, k := range keys {
			name := folder + k
			if !strings.HasSuffix(k, "/") {
				if !send(name) {
					return
				}
				continue
			}
			walkers.Add(1)
			g.Go(func() error {
				defer walkers.Done()
				sub, err := s.list(ctx, name)
				switch {
				case err == nil:
					walk(name, sub)
					return nil
				case ctx.Err() != nil:
					return ctx.Err()
				}
				// One folder that cannot be listed fails only itself.
				return report(providers.Entry{Name: name, URI: s.uri(name), Kind: scanner.KindVault, Err: err})
			})
		}
	}
	walkers.Add(1)
	g.Go(func() error {
		defer walkers.Done()
		if single != "" && !send(single) {
			return nil
		}
		walk(folder, keys)
		return nil
	})
	go func() {
		walkers.Wait()
		close(names)
	}()
	return g.Wait()
}

// encode is an entry's Value: the fields as one JSON object, or the raw
// text of a lone "value" field that is not itself a JSON object.
func encode(data map[string]any) []byte {
	if v, ok := data["value"].(string); ok && len(data) == 1 {
		if _, isObject := decodeObject([]byte(v)); !isObject {
			return []byte(v)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep values as stored: "<" stays "<"
	if err := enc.Encode(data); err != nil {
		// Data decoded from JSON always encodes again.
		return []byte(fmt.Sprintf("%v", data))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// decode is the inverse of encode: the fields a value stands for.
func decode(value []byte) map[string]any {
	if data, ok := decodeObject(value); ok {
		return data
	}
	return map[string]any{"value": string(value)}
}

// decodeObject decodes a JSON object, numbers kept exact as the Vault
// client keeps them.
func decodeObject(value []byte) (map[string]any, bool) {
	trimmed := bytes.TrimSpace(value)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var data map[string]any
	if dec.Decode(&data) != nil || dec.More() || data == nil {
		return nil, false
	}
	return data, true
}
