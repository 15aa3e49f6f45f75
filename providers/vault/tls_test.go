package vault

import (
	"net/http"
	"testing"
)

func TestTLSStaysOn(t *testing.T) {
	for addr, ok := range map[string]bool{
		"https://vault.example.com:8200": true,
		"http://127.0.0.1:8200":          true,
		"http://localhost:8200":          true,
		"http://[::1]:8200":              true,
		"http://vault.example.com:8200":  false,
		"http://10.0.0.5:8200":           false,
	} {
		if err := requireTLS(addr); (err == nil) != ok {
			t.Errorf("requireTLS(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
	t.Setenv("VAULT_ADDR", "https://127.0.0.1:1")
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	t.Setenv("VAULT_TOKEN", "test-token")
	c, err := newClient(4)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.CloneConfig().HttpClient.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("VAULT_SKIP_VERIFY turned TLS verification off")
	}
}
