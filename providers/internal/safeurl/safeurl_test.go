package safeurl

import (
	"net/url"
	"testing"
)

func TestSecure(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://api.example.com":  true,
		"http://127.0.0.1:8200":    true,
		"http://[::1]:80":          true,
		"http://localhost:9":       true,
		"http://example.com":       false,
		"http://10.1.2.3":          false,
		"ftp://127.0.0.1":          false,
		"http://127.0.0.1.evil.io": false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := Secure(u); got != want {
			t.Errorf("Secure(%q) = %v, want %v", raw, got, want)
		}
	}
}
