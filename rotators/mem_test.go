package rotators

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rekeyhq/rekey/rotators/rewrite"
	"github.com/rekeyhq/rekey/scanner"
)

// memStore is an in-memory store of named values: the smallest Locator a
// store could be, used to test the engine without files.
type memStore struct {
	mu     sync.Mutex
	values map[string][]byte
	// failWrite names entries whose writes fail; lie names entries whose
	// writes report success without writing.
	failWrite map[string]error
	lie       map[string]bool
	writes    []string // names in write order
}

func newMemStore(values map[string]string) *memStore {
	s := &memStore{values: map[string][]byte{}, failWrite: map[string]error{}, lie: map[string]bool{}}
	for k, v := range values {
		s.values[k] = []byte(v)
	}
	return s
}

func (s *memStore) get(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.values[name])
}

func (s *memStore) set(name, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[name] = []byte(v)
}

func memHash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func memState(data []byte, k Keys) State {
	st := State{Old: rewrite.NewKey(k.Old.Reveal()).Count(data).Total(), Hash: memHash(data)}
	if k.New != "" {
		st.New = rewrite.NewKey(k.New.Reveal()).Count(data).Total()
	}
	st.Detail = fmt.Sprintf("%d old, %d new", st.Old, st.New)
	return st
}

func (s *memStore) Locate(_ context.Context, k Keys) (Found, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f Found
	names := make([]string, 0, len(s.values))
	for n := range s.values {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		st := memState(s.values[n], k)
		if st.Old+st.New > 0 {
			f.Targets = append(f.Targets, Target{Location: &memLoc{s: s, name: n}, State: st})
		}
	}
	return f, nil
}

func (s *memStore) Resolve(addr scanner.Location, ref string) (Location, bool, error) {
	if addr.Kind != "mem" {
		return nil, false, nil
	}
	name := strings.TrimPrefix(ref, "mem:")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.values[name]; !ok {
		return nil, true, errors.New("gone")
	}
	return &memLoc{s: s, name: name}, true, nil
}

type memLoc struct {
	s    *memStore
	name string
}

func (m *memLoc) Address() scanner.Location {
	return scanner.Location{Kind: "mem", URI: "mem:" + m.name, Path: m.name}
}

func (m *memLoc) Ref() string { return "mem:" + m.name }

func (m *memLoc) Read(_ context.Context, k Keys) (State, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return memState(m.s.values[m.name], k), nil
}

func (m *memLoc) Write(_ context.Context, c Change) (State, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if err := m.s.failWrite[m.name]; err != nil {
		return State{}, err
	}
	data := m.s.values[m.name]
	if memHash(data) != c.Expect {
		return State{}, fmt.Errorf("%w: hash differs", ErrChanged)
	}
	out, _ := rewrite.Replace(data, rewrite.NewKey(c.From.Reveal()), rewrite.NewKey(c.To.Reveal()))
	if c.Want != "" && memHash(out) != c.Want {
		return State{}, fmt.Errorf("%w: result differs", ErrChanged)
	}
	m.s.writes = append(m.s.writes, m.name)
	if m.s.lie[m.name] {
		return State{Hash: memHash(out)}, nil
	}
	m.s.values[m.name] = out
	return State{Hash: memHash(out)}, nil
}

// fakeAPI is a KeyAPI over a set of live keys.
type fakeAPI struct {
	mu       sync.Mutex
	live     map[scanner.Secret]bool
	mintKey  scanner.Secret // what Generate returns
	genErr   error
	revokes  []string // key ids revoked
	calls    []string
	onRevoke func(scanner.Secret)
}

func newFakeAPI(live ...scanner.Secret) *fakeAPI {
	f := &fakeAPI{live: map[scanner.Secret]bool{}}
	for _, k := range live {
		f.live[k] = true
	}
	return f
}

func (f *fakeAPI) Check(_ context.Context, key scanner.Secret) (KeyStatus, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "check "+key.KeyID())
	if f.live[key] {
		return StatusLive, ""
	}
	return StatusInvalid, "401"
}

func (f *fakeAPI) Generate(_ context.Context, auth scanner.Secret, _ string) (scanner.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "generate by "+auth.KeyID())
	if f.genErr != nil {
		return "", f.genErr
	}
	if !f.live[auth] {
		return "", errors.New("401")
	}
	f.live[f.mintKey] = true
	return f.mintKey, nil
}

func (f *fakeAPI) Revoke(_ context.Context, auth, key scanner.Secret) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "revoke "+key.KeyID())
	if !f.live[auth] {
		return errors.New("401")
	}
	delete(f.live, key)
	f.revokes = append(f.revokes, key.KeyID())
	if f.onRevoke != nil {
		f.onRevoke(key)
	}
	return nil
}
