// Package vault is rekey's HashiCorp Vault KV store, vault://MOUNT/PATH,
// through github.com/hashicorp/vault/api.
//
// The KV version is asked of Vault per mount when the store is opened, and
// decides the type returned: a KV2 store keeps versions, so it writes with
// check-and-set and can roll back (providers.CompareAndSwap,
// providers.Rollbacker); a KV1 store can do neither and says so by not
// having those methods.
//
// An entry is one secret: its Name is the secret's path inside the mount
// ("myapp/config"), its URI "vault://secret/myapp/config", and its Value the
// secret's fields as one JSON object, so providers.Source reports each field
// on its own ("#PERPLEXITY_API_KEY"). A secret holding a single field named
// "value" (the `vault kv put path value=…` habit) is shown as that field's
// raw text, and Put stores a value that is not a JSON object the same way,
// so any value written reads back byte for byte.
//
// Address, token, namespace and TLS come from the Vault client's own
// environment (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, …);
// without VAULT_TOKEN the token `vault login` left in ~/.vault-token is
// used. Throttling (429) and server errors are retried by the client with
// backoff, up to VAULT_MAX_RETRIES (default 4) times; requests in flight are
// bounded per store (default 4, or ?concurrency=N in the URI). No error
// carries a raw key: Vault's messages pass through scanner.Scrub.
package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/internal/safeurl"
	"github.com/rekeyhq/rekey/scanner"
)

// Scheme is the URI scheme of Vault stores.
const Scheme = "vault"

// DefaultConcurrency bounds the requests a store has in flight at once.
const DefaultConcurrency = 4

// defaultMaxRetries replaces the client's default of 2 retries when
// VAULT_MAX_RETRIES is unset: a scan of thousands of secrets against a
// rate-limited Vault needs a little more patience than one CLI call.
const defaultMaxRetries = 4

// Options tune a store.
type Options struct {
	// Concurrency bounds the requests in flight; DefaultConcurrency when 0.
	Concurrency int
}

// The store types and the abilities each has.
var (
	_ providers.Provider       = (*KV1)(nil)
	_ providers.Provider       = (*KV2)(nil)
	_ providers.CompareAndSwap = (*KV2)(nil)
	_ providers.Rollbacker     = (*KV2)(nil)
)

// Open is the providers.Opener for vault://MOUNT/PATH: a client configured
// from the environment, then New.
func Open(ctx context.Context, u *url.URL) (providers.Provider, error) {
	var o Options
	for name, values := range u.Query() {
		switch name {
		case "concurrency":
			n, err := strconv.Atoi(values[0])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("concurrency=%q: want a positive number", values[0])
			}
			o.Concurrency = n
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: concurrency)", name)
		}
	}
	c, err := newClient(o.concurrency())
	if err != nil {
		return nil, err
	}
	return New(ctx, c, u.Host+u.Path, o)
}

// requireTLS refuses plain http:// except to this machine (dev servers).
func requireTLS(addr string) error {
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("VAULT_ADDR %q is not a URL", addr)
	}
	if !safeurl.Secure(u) {
		return fmt.Errorf("VAULT_ADDR %s: rekey talks to Vault over https only (plain http only to this machine)", u.Redacted())
	}
	return nil
}

// newClient builds a client from the environment, as the vault CLI does.
func newClient(concurrency int) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client configuration: %w", scanner.ScrubError(cfg.Error))
	}
	if os.Getenv(api.EnvVaultMaxRetries) == "" {
		cfg.MaxRetries = defaultMaxRetries
	}
	// TLS verification stays on whatever VAULT_SKIP_VERIFY says, and a token
	// never travels in clear text beyond this machine.
	if t, ok := cfg.HttpClient.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		t.TLSClientConfig.InsecureSkipVerify = false
	}
	if err := requireTLS(cfg.Address); err != nil {
		return nil, err
	}
	// The pooled transport keeps GOMAXPROCS+1 idle connections per host;
	// keep one per concurrent request so connections are reused, not churned.
	if t, ok := cfg.HttpClient.Transport.(*http.Transport); ok && t.MaxIdleConnsPerHost < concurrency {
		t.MaxIdleConnsPerHost = concurrency
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", scanner.ScrubError(err))
	}
	if c.Token() == "" {
		c.SetToken(tokenFile())
	}
	if c.Token() == "" {
		return nil, errors.New("no vault token: set VAULT_TOKEN or log in with `vault login`")
	}
	return c, nil
}

// tokenFile returns the token `vault login` stored, or "".
func tokenFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(home, ".vault-token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// New opens the store at path ("MOUNT/PATH", as in vault://MOUNT/PATH)
// through c: it asks Vault which KV mount holds path and which version it
// runs, and returns a *KV1 or a *KV2. A path ending in "/" names a folder
// only; otherwise the secret of that name is included too.
func New(ctx context.Context, c *api.Client, path string, o Options) (providers.Provider, error) {
	path = strings.TrimLeft(path, "/")
	if path == "" {
		return nil, errors.New("no mount named: want vault://MOUNT/PATH, e.g. vault://secret/myapp")
	}
	m, err := detectMount(ctx, c, path)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimPrefix(path, m.path)
	if path+"/" == m.path {
		prefix = ""
	}
	s := &store{
		api:    c.Logical(),
		mount:  m.path,
		prefix: prefix,
		v2:     m.version == 2,
		sem:    make(chan struct{}, o.concurrency()),
	}
	if m.version == 2 {
		return &KV2{s}, nil
	}
	return &KV1{s}, nil
}

func (o Options) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return DefaultConcurrency
}

type mount struct {
	path    string // "secret/", with its trailing slash
	version int
}

// detectMount asks Vault which KV mount serves path, as the vault CLI does:
// sys/internal/ui/mounts answers any token with some right on the path;
// sys/mounts, which needs more, is the fallback for older servers.
func detectMount(ctx context.Context, c *api.Client, path string) (mount, error) {
	sec, err := c.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+path)
	if err == nil && sec != nil && sec.Data != nil {
		p, _ := sec.Data["path"].(string)
		typ, _ := sec.Data["type"].(string)
		opts, _ := sec.Data["options"].(map[string]any)
		version, _ := opts["version"].(string)
		return kvMount(path, p, typ, version)
	}
	first := err
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		if first == nil {
			first = err
		}
		return mount{}, fmt.Errorf("find the kv mount of %s: %w", scanner.Scrub(path), classify(first))
	}
	best := ""
	for p := range mounts {
		if strings.HasPrefix(path+"/", p) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return mount{}, fmt.Errorf("no secrets engine is mounted at %s", scanner.Scrub(path))
	}
	return kvMount(path, best, mounts[best].Type, mounts[best].Options["version"])
}

func kvMount(path, p, typ, version string) (mount, error) {
	switch {
	case p == "":
		return mount{}, fmt.Errorf("no secrets engine is mounted at %s", scanner.Scrub(path))
	case typ != "kv" && typ != "generic":
		return mount{}, fmt.Errorf("%s is a %q secrets engine, not kv", p, typ)
	case version == "2":
		return mount{path: p, version: 2}, nil
	case version == "" || version == "1":
		return mount{path: p, version: 1}, nil
	}
	return mount{}, fmt.Errorf("kv mount %s has version %q, which rekey does not know", p, version)
}
