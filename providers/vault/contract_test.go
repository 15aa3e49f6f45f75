package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/providertest"
	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
)

// backend seeds secrets with a client of its own and throttles the
// provider's client through its transport.
type backend struct {
	seeder  *api.Client
	mount   string // "kv2-1-TestContract"
	prefix  string // inside the mount, "app/"
	version int
	tr      *transport
}

func (b *backend) Seed(t *testing.T, name string, value []byte) string {
	t.Helper()
	// A value that is a JSON object is a secret's fields; any other value
	// is a lone "value" field, as the provider stores it.
	data := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if !bytes.HasPrefix(value, []byte("{")) || dec.Decode(&data) != nil {
		data = map[string]any{"value": string(value)}
	}
	if err := vaulttest.Write(context.Background(), b.seeder, b.mount, b.version, b.prefix+name, data); err != nil {
		t.Fatal(err)
	}
	return b.prefix + name
}

// Throttle answers the next n requests with Vault's 429.
func (b *backend) Throttle(n int) { b.tr.failNext(n, http.StatusTooManyRequests) }

func TestContract(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(map[int]string{1: "kv1", 2: "kv2"}[version], func(t *testing.T) {
			srv := server(t)
			mount := srv.Mount(t, version)
			c, tr := client(t, vaulttest.RootToken)
			p := open(t, c, mount+"/app/", vault.Options{})
			_, isRollbacker := p.(providers.Rollbacker)
			_, isCAS := p.(providers.CompareAndSwap)
			if want := version == 2; isRollbacker != want || isCAS != want {
				t.Errorf("kv v%d: Rollbacker %v, CompareAndSwap %v; want both %v", version, isRollbacker, isCAS, want)
			}
			providertest.Run(t, p, &backend{seeder: srv.Client(t), mount: mount, prefix: "app/", version: version, tr: tr})
		})
	}
}

// A value read is the secret's fields as JSON; writing it back changed
// keeps every field, of every type, as it was.
func TestValueIsTheSecretsFields(t *testing.T) {
	for _, version := range []int{1, 2} {
		srv := server(t)
		mount := srv.Mount(t, version)
		data := map[string]any{
			"PERPLEXITY_API_KEY": "old",
			"port":               json.Number("8443"),
			"ratio":              json.Number("0.25"),
			"html":               "<a&b>",
			"config":             `{"llm":{"perplexity":{"key":"old"}}}`,
			"nested":             map[string]any{"list": []any{"x", true, nil}},
		}
		srv.Seed(t, mount, version, map[string]map[string]any{"svc/config": data})
		c, _ := client(t, vaulttest.RootToken)
		p := open(t, c, mount, vault.Options{})

		e, err := p.Get(context.Background(), "svc/config")
		if err != nil {
			t.Fatal(err)
		}
		if e.Name != "svc/config" || e.URI != "vault://"+mount+"/svc/config" || e.Kind != "vault" {
			t.Errorf("kv v%d: entry addressed as %q %q %q", version, e.Name, e.URI, e.Kind)
		}
		if (version == 2) != (e.Version == "1") {
			t.Errorf("kv v%d: version %q", version, e.Version)
		}
		want := `{"PERPLEXITY_API_KEY":"old","config":"{\"llm\":{\"perplexity\":{\"key\":\"old\"}}}","html":"<a&b>","nested":{"list":["x",true,null]},"port":8443,"ratio":0.25}`
		if string(e.Value) != want {
			t.Fatalf("kv v%d: value\n got %s\nwant %s", version, e.Value, want)
		}
		changed := bytes.ReplaceAll(e.Value, []byte(`"old"`), []byte(`"new"`))
		if _, err := p.Put(context.Background(), "svc/config", changed); err != nil {
			t.Fatal(err)
		}
		got, err := p.Get(context.Background(), "svc/config")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Value, changed) {
			t.Errorf("kv v%d: read back\n got %s\nwant %s", version, got.Value, changed)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	c, _ := client(t, vaulttest.RootToken)
	ctx := context.Background()
	if _, err := vault.New(ctx, c, "", vault.Options{}); err == nil {
		t.Error("a URI without a mount opened")
	}
	if _, err := vault.New(ctx, c, "no-such-mount/app", vault.Options{}); err == nil {
		t.Error("a path under no mount opened")
	}
	if err := c.Sys().MountWithContext(ctx, "transit-"+strings.ToLower(t.Name()), &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.New(ctx, c, "transit-"+strings.ToLower(t.Name())+"/x", vault.Options{}); err == nil || !strings.Contains(err.Error(), "not kv") {
		t.Errorf("a transit mount: %v, want a not-kv error", err)
	}
}
