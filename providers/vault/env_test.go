package vault_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
)

func openURI(t *testing.T, uri string) error {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vault.Open(context.Background(), u)
	if err == nil {
		_ = collect(t, p)
	}
	return err
}

// clearVaultEnv isolates a test from the VAULT_* settings of whoever runs it.
func clearVaultEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "VAULT_") {
			t.Setenv(name, "")
			_ = os.Unsetenv(name)
		}
	}
	t.Setenv("HOME", t.TempDir())
}

// Address and token come from VAULT_ADDR and VAULT_TOKEN, or the token
// file `vault login` writes.
func TestOpenFromEnvironment(t *testing.T) {
	srv := server(t)
	mount := srv.Mount(t, 2)
	srv.Seed(t, mount, 2, map[string]map[string]any{"app/a": {"x": "1"}})
	clearVaultEnv(t)
	t.Setenv("VAULT_ADDR", srv.Addr)

	if err := openURI(t, "vault://"+mount+"/app"); err == nil || !strings.Contains(err.Error(), "VAULT_TOKEN") {
		t.Errorf("no token anywhere: %v, want advice to set VAULT_TOKEN", err)
	}
	if err := os.WriteFile(filepath.Join(os.Getenv("HOME"), ".vault-token"), []byte(vaulttest.RootToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openURI(t, "vault://"+mount+"/app"); err != nil {
		t.Errorf("token from ~/.vault-token: %v", err)
	}
	t.Setenv("VAULT_TOKEN", "not-a-token")
	if err := openURI(t, "vault://"+mount+"/app"); err == nil {
		t.Error("VAULT_TOKEN did not take precedence over the token file")
	}
	t.Setenv("VAULT_TOKEN", vaulttest.RootToken)
	if err := openURI(t, "vault://"+mount+"/app?concurrency=2"); err != nil {
		t.Errorf("VAULT_TOKEN: %v", err)
	}
	for _, bad := range []string{"?concurrency=0", "?concurrency=x", "?colour=blue"} {
		if err := openURI(t, "vault://"+mount+"/app"+bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// VAULT_CACERT and VAULT_NAMESPACE reach the client through its default
// configuration. The dev server runs neither TLS nor namespaces (an
// Enterprise feature), so a TLS stand-in answers the one request made when
// a store opens.
func TestTLSAndNamespaceFromEnvironment(t *testing.T) {
	var mu sync.Mutex
	var namespaces []string
	fake := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		namespaces = append(namespaces, r.Header.Get("X-Vault-Namespace"))
		mu.Unlock()
		if r.URL.Path != "/v1/sys/internal/ui/mounts/secret/app" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}`))
	}))
	defer fake.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fake.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	clearVaultEnv(t)
	t.Setenv("VAULT_ADDR", fake.URL)
	t.Setenv("VAULT_TOKEN", "t")
	t.Setenv("VAULT_NAMESPACE", "team-a")

	u, _ := url.Parse("vault://secret/app")
	if _, err := vault.Open(context.Background(), u); err == nil {
		t.Fatal("a server certificate nobody vouches for was accepted")
	}
	t.Setenv("VAULT_CACERT", ca)
	if _, err := vault.Open(context.Background(), u); err != nil {
		t.Fatalf("with VAULT_CACERT: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(namespaces) == 0 || namespaces[len(namespaces)-1] != "team-a" {
		t.Errorf("namespace headers %q, want team-a", namespaces)
	}
}
