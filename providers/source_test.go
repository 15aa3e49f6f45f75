package providers

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// memStore is a Provider over a fixed list of entries.
type memStore struct {
	entries []Entry
	listErr error
}

func (m *memStore) Name() string { return "mem" }
func (m *memStore) List(_ context.Context, fn func(Entry) error) error {
	for _, e := range m.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return m.listErr
}
func (m *memStore) Get(context.Context, string) (Entry, error) { return Entry{}, ErrNotFound }
func (m *memStore) Put(context.Context, string, []byte) (Entry, error) {
	return Entry{}, errors.New("read-only")
}

func TestSourceFindsKeysInFieldsAndPresumedSecrets(t *testing.T) {
	g := testkeys.New(50)
	k1, k2, k3 := g.Mixed(), g.Hex(), g.Mixed()
	store := &memStore{entries: []Entry{
		{Name: "plain", URI: "mem://x/plain", Kind: scanner.KindVault, Value: []byte(k1)},
		{Name: "json", URI: "mem://x/json", Kind: scanner.KindVault,
			Value: []byte(`{"db":"x","llm":{"perplexity":{"key":"` + k2 + `"}},"list":["a","` + k1 + `"],"nested":"{\"inner.key\":\"` + k3 + `\"}"}`)},
		{Name: "bearer", URI: "mem://x/bearer", Kind: scanner.KindVault, Value: []byte(`{"token":"Bearer ` + k3 + `\r"}`)},
		{Name: "denied", URI: "mem://x/denied", Kind: scanner.KindVault, Err: ErrAccessDenied},
		{Name: "PPLX_TOKEN", URI: "mem://x/actions/PPLX_TOKEN", Kind: scanner.KindGitHubActions, Presumed: "name contains PPLX"},
		{Name: "OTHER", URI: "mem://x/actions/OTHER", Kind: scanner.KindGitHubActions},
	}}
	scan := scanner.NewScan("", nil)
	r, err := scan.Run(context.Background(), &Source{Provider: store, Reporter: scan, URI: "mem://x"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range r.Findings {
		got[f.Location.URI] = f.Location.Variable + " " + f.KeyID + " " + f.Status + strings.Join(f.Problems, ",")
	}
	want := map[string]string{
		"mem://x/plain":                   " " + scanner.KeyID(k1) + " ",
		"mem://x/json#llm.perplexity.key": "llm.perplexity.key " + scanner.KeyID(k2) + " ",
		"mem://x/json#list[1]":            "list[1] " + scanner.KeyID(k1) + " ",
		`mem://x/json#nested."inner.key"`: `nested."inner.key" ` + scanner.KeyID(k3) + " ",
		"mem://x/actions/PPLX_TOKEN":      "PPLX_TOKEN  write-only",
		"mem://x/bearer#token":            "token " + scanner.KeyID(k3) + " carriage-return,bearer-prefix",
	}
	if len(got) != len(want) {
		t.Fatalf("findings %v, want %v", got, want)
	}
	for uri, w := range want {
		if got[uri] != w {
			t.Errorf("%s: got %q, want %q", uri, got[uri], w)
		}
	}
	if len(r.Stats.Errors) != 1 || r.Stats.Errors[0].Path != "mem://x/denied" {
		t.Errorf("errors %v", r.Stats.Errors)
	}
}

func TestSourceListFailureIsReported(t *testing.T) {
	scan := scanner.NewScan("", nil)
	store := &memStore{listErr: errors.New("AccessDeniedException: not authorized to list")}
	r, err := scan.Run(context.Background(), &Source{Provider: store, Reporter: scan, URI: "mem://x"})
	if err != nil {
		t.Fatalf("a store that cannot be listed must not end the scan: %v", err)
	}
	if len(r.Stats.Errors) != 1 || !strings.Contains(r.Stats.Errors[0].Message, "list store") {
		t.Fatalf("errors %v", r.Stats.Errors)
	}
}

func TestRegistryOpen(t *testing.T) {
	reg := Registry{"mem": func(context.Context, *url.URL) (Provider, error) { return &memStore{}, nil }}
	if _, err := reg.Open(context.Background(), "mem://host/path"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"nope://x", "mem:", "just-words", "mem:///no-host"} {
		if _, err := reg.Open(context.Background(), bad); err == nil {
			t.Errorf("%q opened", bad)
		}
	}
}
