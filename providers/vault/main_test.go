package vault_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
)

// One dev server serves every test of the package; each test has mounts
// of its own.
var shared struct {
	once sync.Once
	srv  *vaulttest.Server
	err  error
}

func server(t testing.TB) *vaulttest.Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = vaulttest.Launch() })
	if shared.err != nil {
		vaulttest.Unavailable(t, shared.err)
	}
	return shared.srv
}

func TestMain(m *testing.M) {
	m.Run() // its exit code is the test binary's when TestMain returns
	if shared.srv != nil {
		shared.srv.Stop()
	}
}

// transport wraps the client's transport to count requests and to answer
// some of them itself, as a loaded or failing Vault would.
type transport struct {
	base     http.RoundTripper
	calls    atomic.Int64
	fail     atomic.Int64 // the next n requests get status
	status   atomic.Int64
	attempts sync.Map // path → *atomic.Int64, every attempt
	before   func(*http.Request)
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	tr.calls.Add(1)
	n, _ := tr.attempts.LoadOrStore(r.URL.Path, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if tr.before != nil {
		tr.before(r)
	}
	if tr.fail.Add(-1) >= 0 {
		status := int(tr.status.Load())
		return &http.Response{
			StatusCode: status,
			Status:     http.StatusText(status),
			Header:     http.Header{"Content-Type": {"application/json"}},
			Body:       http.NoBody,
			Request:    r,
		}, nil
	}
	tr.fail.Store(0)
	return tr.base.RoundTrip(r)
}

// failNext makes the next n requests answer status without reaching Vault.
func (tr *transport) failNext(n, status int) {
	tr.status.Store(int64(status))
	tr.fail.Store(int64(n))
}

func (tr *transport) attemptsOn(path string) int64 {
	n, ok := tr.attempts.Load(path)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// client is a client of the shared server holding token, its requests
// going through a transport the test controls.
func client(t testing.TB, token string) (*api.Client, *transport) {
	t.Helper()
	cfg := server(t).Config()
	tr := &transport{base: cfg.HttpClient.Transport}
	cfg.HttpClient.Transport = tr
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	c.ClearNamespace()
	return c, tr
}

// open opens the store at path (under the shared server) with the client.
func open(t testing.TB, c *api.Client, path string, o vault.Options) providers.Provider {
	t.Helper()
	p, err := vault.New(context.Background(), c, path, o)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return p
}

// collect lists p and returns its entries by name.
func collect(t testing.TB, p providers.Provider) map[string]providers.Entry {
	t.Helper()
	got := map[string]providers.Entry{}
	err := p.List(context.Background(), func(e providers.Entry) error {
		if _, dup := got[e.Name]; dup {
			t.Errorf("%s listed twice", e.Name)
		}
		got[e.Name] = e
		return nil
	})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return got
}
