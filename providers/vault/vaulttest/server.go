// Package vaulttest runs a real HashiCorp Vault dev server for tests: an
// in-memory Vault on a free loopback port, unsealed, with a known root
// token. The binary is REKEY_VAULT_BIN or vault on PATH (.ci/tools.sh
// builds it into the tool cache); without it tests skip, saying why, except
// in CI (CI=true), where its absence fails them.
package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"
)

// RootToken is the dev server's root token.
const RootToken = "root"

// BinEnv names the environment variable holding the vault binary's path.
const BinEnv = "REKEY_VAULT_BIN"

// ErrNoBinary is returned by Launch when no vault binary can be found.
var ErrNoBinary = errors.New("no vault binary")

// Server is a running dev server.
type Server struct {
	// Addr is its address, http://127.0.0.1:PORT.
	Addr string

	cmd    *exec.Cmd
	home   string
	exited chan struct{}
	out    *syncBuffer
	mounts atomic.Int64
}

// Binary returns the vault binary to run: $REKEY_VAULT_BIN, else vault on
// PATH.
func Binary() (string, error) {
	if bin := os.Getenv(BinEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil { //nolint:gosec // the path is the tester's own setting
			return "", fmt.Errorf("%w: %s=%s: %w", ErrNoBinary, BinEnv, bin, err)
		}
		return bin, nil
	}
	bin, err := exec.LookPath("vault")
	if err != nil {
		return "", fmt.Errorf("%w: %s is unset and vault is not on PATH (.ci/test builds it: source .ci/tools.sh && ensure_vault)", ErrNoBinary, BinEnv)
	}
	return bin, nil
}

// Unavailable ends t for a server that could not be launched: a skip
// saying why, or a failure in CI, where the tests must run.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoBinary) && os.Getenv("CI") != "true" {
		t.Skipf("skipping: needs a real Vault dev server: %v", err)
	}
	t.Fatalf("vault dev server: %v", err)
}

// Start launches a dev server for t, stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch()
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Launch starts a dev server and waits until it answers; Stop ends it.
func Launch() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// The port is free when chosen but may be taken before vault binds it;
	// a few tries make that race harmless.
	for attempt := 1; ; attempt++ {
		s, err := launch(bin)
		if err == nil || attempt == 3 {
			return s, err
		}
	}
}

func launch(bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "vaulttest-")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:   "http://" + port,
		home:   home,
		exited: make(chan struct{}),
		out:    &syncBuffer{},
	}
	// Not CommandContext: the server outlives this call; Stop ends it.
	s.cmd = exec.Command(bin, "server", "-dev", //nolint:noctx // see above
		"-dev-root-token-id="+RootToken,
		"-dev-listen-address="+port,
		"-dev-no-store-token")
	// A HOME of its own: nothing of the user's (~/.vault-token) is touched.
	s.cmd.Env = append(cleanEnv(), "HOME="+home)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(home)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// cleanEnv is the environment without VAULT_* settings meant for clients.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

func freePort() (string, error) {
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, s.Addr+"/v1/sys/health", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("vault exited before answering:\n%s", s.out.tail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault did not answer within %v:\n%s", limit, s.out.tail())
		}
	}
}

// Stop kills the server and removes its files.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	_ = os.RemoveAll(s.home)
}

// Config is a client configuration for the server that retries quickly,
// so tests of throttling do not wait seconds; its HttpClient.Transport may
// be wrapped.
func (s *Server) Config() *api.Config {
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MinRetryWait, cfg.MaxRetryWait = 5*time.Millisecond, 20*time.Millisecond
	return cfg
}

// NewClient returns a client of the server using token.
func (s *Server) NewClient(token string) (*api.Client, error) {
	c, err := api.NewClient(s.Config())
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	c.ClearNamespace() // VAULT_NAMESPACE of the environment is not for the dev server
	return c, nil
}

// Client returns a root client, failing t if it cannot.
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	c, err := s.NewClient(RootToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// Mount enables a fresh KV mount of the given version (1 or 2) named after
// t and returns its path without the trailing slash, e.g. "kv2-3-TestScan".
func (s *Server) Mount(t testing.TB, version int) string {
	t.Helper()
	name := fmt.Sprintf("kv%d-%d-%s", version, s.mounts.Add(1), unsafeChars.ReplaceAllString(t.Name(), "-"))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.TrimRight(name, "-")
	err := s.Client(t).Sys().MountWithContext(context.Background(), name, &api.MountInput{
		Type:    "kv",
		Options: map[string]string{"version": fmt.Sprint(version)},
	})
	if err != nil {
		t.Fatalf("enable kv v%d at %s: %v", version, name, err)
	}
	return name
}

// Write stores data at mount/name, as KV of the given version stores it.
func Write(ctx context.Context, c *api.Client, mount string, version int, name string, data map[string]any) error {
	var err error
	if version == 2 {
		_, err = c.Logical().WriteWithContext(ctx, mount+"/data/"+name, map[string]any{"data": data})
	} else {
		_, err = c.Logical().WriteWithContext(ctx, mount+"/"+name, data)
	}
	if err != nil {
		return fmt.Errorf("write %s/%s: %w", mount, name, err)
	}
	return nil
}

// Seed writes many secrets at once, 16 requests in flight.
func (s *Server) Seed(t testing.TB, mount string, version int, secrets map[string]map[string]any) {
	t.Helper()
	c := s.Client(t)
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for name, data := range secrets {
		g.Go(func() error { return Write(ctx, c, mount, version, name, data) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Token creates a policy from HCL rules and returns a token holding only
// it.
func (s *Server) Token(t testing.TB, policy, rules string) string {
	t.Helper()
	ctx := context.Background()
	c := s.Client(t)
	if err := c.Sys().PutPolicyWithContext(ctx, policy, rules); err != nil {
		t.Fatalf("policy %s: %v", policy, err)
	}
	sec, err := c.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
		Policies:        []string{policy},
		NoDefaultPolicy: true,
	})
	if err != nil {
		t.Fatalf("token for %s: %v", policy, err)
	}
	return sec.Auth.ClientToken
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // a dev server's log is small; keep it bounded
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}
