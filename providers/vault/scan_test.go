package vault_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// tree is n secrets in nested folders (team-i/svc-j/secret-k, some deeper),
// with keys planted in every 40th, in the ways they are stored in practice.
// It returns the secrets and the finding URIs (relative to the mount) the
// keys must be reported at.
func tree(n int, version int, g *testkeys.Gen) (map[string]map[string]any, []string) {
	secrets := map[string]map[string]any{}
	var want []string
	for i := range n {
		name := fmt.Sprintf("team-%d/svc-%d/secret-%d", i%7, i%13, i)
		if i%5 == 0 {
			name = fmt.Sprintf("team-%d/deep/er/still/secret-%d", i%7, i)
		}
		data := map[string]any{"user": fmt.Sprintf("u%d", i), "url": "https://example.com/" + name}
		if i%40 == 0 {
			key := g.Mixed()
			switch i / 40 % 3 {
			case 0:
				data["PERPLEXITY_API_KEY"] = key
				want = append(want, name+"#PERPLEXITY_API_KEY")
			case 1: // a whole config kept as one JSON string
				data["config"] = `{"llm":{"perplexity":{"key":"` + key + `"}}}`
				want = append(want, name+"#config.llm.perplexity.key")
			case 2:
				if version == 2 { // KV v2 keeps nested JSON as it is
					data["llm"] = map[string]any{"providers": []any{"x", map[string]any{"key": key}}}
					want = append(want, name+"#llm.providers[1].key")
				} else {
					data["env"] = "PERPLEXITY_API_KEY=" + key + "\n"
					want = append(want, name+"#env")
				}
			}
		}
		secrets[name] = data
	}
	// A secret whose path is also a folder.
	secrets["team-0"] = map[string]any{"owner": "ops"}
	return secrets, want
}

// scan runs p through providers.Source and a scanner.Scan, as rekey scan
// --store does.
func scan(t testing.TB, p providers.Provider) *scanner.Report {
	t.Helper()
	s := scanner.NewScan("", nil)
	report, err := s.Run(context.Background(), &providers.Source{Provider: p, Reporter: s})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return report
}

func TestScanNestedAtScale(t *testing.T) {
	for _, tc := range []struct{ version, n int }{{2, 1200}, {1, 300}} {
		t.Run(fmt.Sprintf("kv%d-%d", tc.version, tc.n), func(t *testing.T) {
			srv := server(t)
			mount := srv.Mount(t, tc.version)
			secrets, want := tree(tc.n, tc.version, testkeys.New(uint64(tc.n)))
			srv.Seed(t, mount, tc.version, secrets)
			c, tr := client(t, vaulttest.RootToken)
			p := open(t, c, mount, vault.Options{})

			got := collect(t, p)
			if len(got) != len(secrets) {
				t.Errorf("listed %d secrets, want %d", len(got), len(secrets))
			}
			for name := range secrets {
				if e, ok := got[name]; !ok || e.Err != nil {
					t.Errorf("%s: listed %v, err %v", name, ok, e.Err)
				}
			}

			tr.calls.Store(0)
			report := scan(t, p)
			var uris []string
			for _, f := range report.Findings {
				if f.Location.Kind != scanner.KindVault {
					t.Errorf("finding of kind %q", f.Location.Kind)
				}
				uris = append(uris, strings.TrimPrefix(f.Location.URI, "vault://"+mount+"/"))
			}
			sort.Strings(uris)
			sort.Strings(want)
			if strings.Join(uris, "\n") != strings.Join(want, "\n") {
				t.Errorf("findings at\n%s\nwant\n%s", strings.Join(uris, "\n"), strings.Join(want, "\n"))
			}
			if len(report.Stats.Errors) != 0 {
				t.Errorf("errors: %v", report.Stats.Errors)
			}
			// One LIST per folder and one read per secret, nothing more.
			folders := map[string]bool{"": true}
			for name := range secrets {
				parts := strings.Split(name, "/")
				for i := 1; i < len(parts); i++ {
					folders[strings.Join(parts[:i], "/")+"/"] = true
				}
			}
			if calls, wantCalls := tr.calls.Load(), int64(len(folders)+len(secrets)); calls != wantCalls {
				t.Errorf("%d requests, want %d (one per folder and per secret)", calls, wantCalls)
			}
		})
	}
}

// The URI's path selects a folder, and with no trailing slash also the
// secret of that name; a sibling sharing the prefix is not part of it.
func TestPrefix(t *testing.T) {
	srv := server(t)
	mount := srv.Mount(t, 2)
	srv.Seed(t, mount, 2, map[string]map[string]any{
		"app":          {"a": "1"},
		"app/config":   {"a": "2"},
		"app/x/y":      {"a": "3"},
		"apple/config": {"a": "4"},
		"other":        {"a": "5"},
	})
	c, _ := client(t, vaulttest.RootToken)
	for path, want := range map[string]string{
		mount + "/app":        "app app/config app/x/y",
		mount + "/app/":       "app/config app/x/y",
		mount + "/":           "app app/config app/x/y apple/config other",
		mount:                 "app app/config app/x/y apple/config other",
		mount + "/app/config": "app/config",
		mount + "/nothing":    "",
	} {
		var names []string
		for name := range collect(t, open(t, c, path, vault.Options{})) {
			names = append(names, name)
		}
		sort.Strings(names)
		if got := strings.Join(names, " "); got != want {
			t.Errorf("vault://%s lists %q, want %q", path, got, want)
		}
	}
}

// A token denied one secret and one folder gets those as failed entries
// and everything else as usual.
func TestPermissionDenied(t *testing.T) {
	srv := server(t)
	mount := srv.Mount(t, 2)
	g := testkeys.New(7)
	key := g.Mixed()
	srv.Seed(t, mount, 2, map[string]map[string]any{
		"app/open":          {"PERPLEXITY_API_KEY": key},
		"app/locked":        {"PERPLEXITY_API_KEY": g.Mixed()},
		"app/private/inner": {"PERPLEXITY_API_KEY": g.Mixed()},
		"app/sub/fine":      {"x": "y"},
	})
	token := srv.Token(t, "scan-"+mount, fmt.Sprintf(`
path "%[1]s/data/*"               { capabilities = ["read"] }
path "%[1]s/metadata/*"           { capabilities = ["list"] }
path "%[1]s/data/app/locked"      { capabilities = ["deny"] }
path "%[1]s/metadata/app/private" { capabilities = ["deny"] }
path "%[1]s/metadata/app/private/*" { capabilities = ["deny"] }
`, mount))
	c, _ := client(t, token)
	p := open(t, c, mount+"/app", vault.Options{})
	got := collect(t, p)
	for name, want := range map[string]error{
		"app/open": nil, "app/sub/fine": nil,
		"app/locked": providers.ErrAccessDenied, "app/private/": providers.ErrAccessDenied,
	} {
		e, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s not listed", name)
		case want == nil && e.Err != nil:
			t.Errorf("%s: %v", name, e.Err)
		case want != nil && !errors.Is(e.Err, want):
			t.Errorf("%s: err %v, want %v", name, e.Err, want)
		}
	}
	if len(got) != 4 {
		t.Errorf("listed %d entries, want 4", len(got))
	}

	report := scan(t, p)
	if len(report.Findings) != 1 || len(report.Stats.Errors) != 2 {
		t.Fatalf("%d findings, %d errors (%v); want 1 and 2", len(report.Findings), len(report.Stats.Errors), report.Stats.Errors)
	}
	for _, e := range report.Stats.Errors {
		if !strings.Contains(e.Message, "access denied") {
			t.Errorf("%s: %s", e.Path, e.Message)
		}
	}
	if _, err := p.Put(context.Background(), "app/open", []byte(`{"a":"b"}`)); !errors.Is(err, providers.ErrAccessDenied) {
		t.Errorf("put with a read-only token: %v", err)
	}
}

// Throttling and server errors are retried within the client's bound; past
// it the error says which it was.
func TestRetries(t *testing.T) {
	srv := server(t)
	mount := srv.Mount(t, 2)
	srv.Seed(t, mount, 2, map[string]map[string]any{"a": {"x": "1"}})
	c, tr := client(t, vaulttest.RootToken)
	c.SetMaxRetries(3)
	p := open(t, c, mount, vault.Options{})
	ctx := context.Background()
	path := "/v1/" + mount + "/data/a"

	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		before := tr.attemptsOn(path)
		tr.failNext(3, status)
		if _, err := p.Get(ctx, "a"); err != nil {
			t.Errorf("%d three times, then success: %v", status, err)
		}
		if n := tr.attemptsOn(path) - before; n != 4 {
			t.Errorf("%d: %d attempts, want 4", status, n)
		}
	}

	tr.failNext(4, http.StatusTooManyRequests)
	if _, err := p.Get(ctx, "a"); !errors.Is(err, providers.ErrThrottled) {
		t.Errorf("throttled past the bound: %v, want ErrThrottled", err)
	}
	tr.failNext(4, http.StatusBadGateway)
	if _, err := p.Get(ctx, "a"); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("502 past the bound: %v", err)
	}

	// In a listing, the entry that stays throttled fails alone.
	srv.Seed(t, mount, 2, map[string]map[string]any{"b": {"x": "2"}, "c": {"x": "3"}})
	tr.before = func(r *http.Request) {
		if r.URL.Path == "/v1/"+mount+"/data/b" {
			tr.failNext(1, http.StatusTooManyRequests)
		}
	}
	defer func() { tr.before = nil }()
	got := collect(t, open(t, c, mount, vault.Options{Concurrency: 1}))
	if !errors.Is(got["b"].Err, providers.ErrThrottled) || got["a"].Err != nil || got["c"].Err != nil {
		t.Errorf("entries: a %v, b %v, c %v", got["a"].Err, got["b"].Err, got["c"].Err)
	}
}

// Errors never carry a key, even when a key is in the path asked for.
func TestErrorsScrubbed(t *testing.T) {
	srv := server(t)
	key := testkeys.New(3).Mixed()
	for _, version := range []int{1, 2} {
		mount := srv.Mount(t, version)
		c, tr := client(t, vaulttest.RootToken)
		p := open(t, c, mount, vault.Options{})
		ctx := context.Background()
		var errs []error
		_, err := p.Get(ctx, "x/"+key)
		errs = append(errs, err)
		tr.failNext(10, http.StatusInternalServerError)
		_, err = p.Put(ctx, "x/"+key, []byte("v"))
		errs = append(errs, err)
		if rb, ok := p.(providers.Rollbacker); ok {
			_, err = rb.Rollback(ctx, "x/"+key, "1")
			errs = append(errs, err)
		}
		for i, err := range errs {
			if err == nil {
				t.Errorf("kv v%d: call %d did not fail", version, i)
			} else if strings.Contains(err.Error(), key) || strings.Contains(fmt.Sprintf("%+v", err), key) {
				t.Errorf("kv v%d: error %d leaks the key: %s", version, i, scanner.Scrub(err.Error()))
			}
		}
	}
}
