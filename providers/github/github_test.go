package github

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/github/githubfake"
	"github.com/rekeyhq/rekey/providers/providertest"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

const repoName = "acme/app"

// waits records the waits a store asked for instead of sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return nil
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

func newStore(t *testing.T, f *githubfake.Server, target string) (*Store, *waits) {
	t.Helper()
	w := &waits{}
	s, err := New(target, Options{Token: f.Token, BaseURL: f.URL, sleep: w.sleep})
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

// backend seeds entries of one scope in the fake for the contract suite.
type backend struct {
	f              *githubfake.Server
	target, prefix string
}

func (b backend) Seed(_ *testing.T, name string, value []byte) string {
	n := b.prefix + strings.ToUpper(strings.NewReplacer("/", "_", "-", "_").Replace(name))
	b.f.Set(b.target, n, value)
	return n
}

func (b backend) Throttle(n int) { b.f.Throttle(n) }

// readable hides the store's WriteOnly ability, so the contract suite
// checks variables by value.
type readable struct{ providers.Provider }

func TestContract(t *testing.T) {
	for _, tc := range []struct {
		target, prefix string
		variables      bool
	}{
		{repoName, "actions/", false},
		{repoName, "env/production/", false},
		{repoName, "env/review%2Fapp/", false},
		{repoName, "dependabot/", false},
		{repoName, "codespaces/", false},
		{"acme", "actions/", false},
		{"acme", "dependabot/", false},
		{"acme", "codespaces/", false},
		{repoName, "variables/", true},
		{repoName, "env/production/variables/", true},
		{"acme", "variables/", true},
	} {
		t.Run(tc.target+"/"+tc.prefix, func(t *testing.T) {
			f := githubfake.New(t)
			f.AddRepo(repoName)
			f.AddEnvironment(repoName, "production")
			f.AddEnvironment(repoName, "review/app")
			f.AddOrg("acme")
			s, _ := newStore(t, f, tc.target)
			var p providers.Provider = s
			if tc.variables {
				p = readable{s}
			}
			providertest.Run(t, p, backend{f, tc.target, tc.prefix})
		})
	}
}

// fixture is a repository with secrets in every scope, two environments
// (one with a slash in its name), variables and workflows.
func fixture(t *testing.T) (*githubfake.Server, string) {
	t.Helper()
	key := testkeys.New(11).Mixed()
	f := githubfake.New(t)
	f.SetPageSize(2)
	f.AddRepo(repoName)
	for _, n := range []string{"actions/LLM_KEY", "actions/PERPLEXITY_API_KEY", "actions/DEPLOY_KEY", "actions/CALLER_SECRET", "actions/UNRELATED",
		"env/production/LLM_KEY", "env/production/PAGER_TOKEN", "env/review%2Fapp/PPLX_REVIEW",
		"dependabot/LLM_KEY", "dependabot/NPM_TOKEN", "codespaces/PPLX_DEV", "codespaces/LLM_KEY"} {
		f.Set(repoName, n, []byte("sealed"))
	}
	f.Set(repoName, "variables/MODEL", []byte("sonar-pro"))
	f.Set(repoName, "variables/LLM_CONFIG", []byte(`{"provider":"perplexity","key":"`+key+`"}`))
	f.Set(repoName, "variables/REGION", []byte("eu"))
	f.Set(repoName, "env/production/variables/FALLBACK", []byte("PERPLEXITY_API_KEY="+key))
	f.AddFile(repoName, ".github/workflows/ci.yml", ciWorkflow)
	f.AddFile(repoName, ".github/workflows/reusable.yml", reusableWorkflow)
	f.AddFile(repoName, ".github/workflows/README.md", "not a workflow")
	return f, key
}

func TestListRepository(t *testing.T) {
	f, _ := fixture(t)
	s, _ := newStore(t, f, repoName)
	got := map[string]providers.Entry{}
	err := s.List(context.Background(), func(e providers.Entry) error {
		if e.Err != nil {
			t.Errorf("%s: %v", e.URI, e.Err)
		}
		if _, dup := got[e.Name]; dup {
			t.Errorf("%s listed twice", e.Name)
		}
		got[e.Name] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // name -> a fragment of Presumed ("" = none)
		"actions/LLM_KEY":              "feeds env PERPLEXITY_API_KEY in .github/workflows/ci.yml",
		"actions/PERPLEXITY_API_KEY":   "name contains PERPLEXITY",
		"actions/DEPLOY_KEY":           "",
		"actions/CALLER_SECRET":        "is passed as secret LLM_TOKEN to .github/workflows/reusable.yml",
		"actions/UNRELATED":            "",
		"env/production/LLM_KEY":       "feeds env PERPLEXITY_API_KEY",
		"env/production/PAGER_TOKEN":   "",
		"env/review%2Fapp/PPLX_REVIEW": "name contains PPLX",
		"dependabot/LLM_KEY":           "feeds env PERPLEXITY_API_KEY",
		"dependabot/NPM_TOKEN":         "",
		"codespaces/PPLX_DEV":          "name contains PPLX",
		"codespaces/LLM_KEY":           "", // Codespaces secrets never reach workflows
	}
	for name, presumed := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s not listed", name)
			continue
		}
		if e.Value != nil || e.Updated.IsZero() || e.Kind != scanner.KindGitHubActions {
			t.Errorf("%s: secret entry %+v, want no value, updated_at and kind github-actions", name, e)
		}
		if e.URI != "github://acme/app/"+name {
			t.Errorf("%s: uri %s", name, e.URI)
		}
		if (presumed == "") != (e.Presumed == "") || !strings.Contains(e.Presumed, presumed) {
			t.Errorf("%s: presumed %q, want %q", name, e.Presumed, presumed)
		}
	}
	for _, name := range []string{"variables/MODEL", "variables/LLM_CONFIG", "variables/REGION", "env/production/variables/FALLBACK"} {
		if e := got[name]; e.Value == nil {
			t.Errorf("%s: variable listed without its value", name)
		}
	}
	if len(got) != len(want)+4 {
		t.Errorf("listed %d entries, want %d", len(got), len(want)+4)
	}
	// The page size of 2 forces every list through its Link headers.
	if !slices.ContainsFunc(f.Requests(), func(r string) bool { return strings.Contains(r, "/actions/secrets?page=3") }) {
		t.Errorf("no third page of repository secrets requested: %v", f.Requests())
	}
}

func TestScanFindsVariablesAndPresumedSecrets(t *testing.T) {
	f, key := fixture(t)
	s, _ := newStore(t, f, repoName)
	scan := scanner.NewScan("", nil)
	report, err := scan.Run(context.Background(), &providers.Source{Provider: s, Reporter: scan})
	if err != nil {
		t.Fatal(err)
	}
	byURI := map[string]scanner.Finding{}
	for _, fd := range report.Findings {
		byURI[fd.Location.URI] = fd
	}
	for _, uri := range []string{"github://acme/app/variables/LLM_CONFIG#key", "github://acme/app/env/production/variables/FALLBACK"} {
		fd, ok := byURI[uri]
		if !ok || fd.KeyID != scanner.Secret(key).KeyID() {
			t.Errorf("no finding of the key at %s; findings %v", uri, keysOf(byURI))
		}
	}
	for _, uri := range []string{"github://acme/app/actions/LLM_KEY", "github://acme/app/codespaces/PPLX_DEV", "github://acme/app/actions/CALLER_SECRET"} {
		fd, ok := byURI[uri]
		if !ok || fd.Status != scanner.StatusWriteOnly || !strings.Contains(fd.Detail, "cannot be read back") {
			t.Errorf("%s: want a write-only finding, got %+v", uri, fd)
		}
	}
	if _, ok := byURI["github://acme/app/actions/DEPLOY_KEY"]; ok {
		t.Error("DEPLOY_KEY reported without any sign of Perplexity")
	}
}

func keysOf(m map[string]scanner.Finding) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPutSealsForTheScopeKey(t *testing.T) {
	g := testkeys.New(5)
	for _, tc := range []struct{ target, name string }{
		{repoName, "actions/LLM_KEY"},
		{repoName, "env/production/LLM_KEY"},
		{repoName, "env/review%2Fapp/PPLX_REVIEW"},
		{repoName, "dependabot/LLM_KEY"},
		{repoName, "codespaces/PPLX_DEV"},
		{"acme", "actions/PPLX"},
		{"acme", "dependabot/PPLX"},
		{"acme", "codespaces/PPLX"},
	} {
		t.Run(tc.target+"/"+tc.name, func(t *testing.T) {
			f, _ := fixture(t)
			f.Set("acme", tc.name, []byte("old"))
			s, _ := newStore(t, f, tc.target)
			prefix := tc.name[:strings.LastIndex(tc.name, "/")+1]
			// Two rotations in a row: the fake replaces the scope's key after
			// each write, so the second only succeeds with a fresh key.
			for i := range 2 {
				newKey := g.Mixed()
				before, err := s.Get(context.Background(), tc.name)
				if err != nil {
					t.Fatal(err)
				}
				keyID, _ := f.KeyStats(tc.target, prefix)
				e, err := s.Put(context.Background(), tc.name, []byte(newKey))
				if err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
				plain, updated, _ := f.Secret(tc.target, tc.name)
				if string(plain) != newKey {
					t.Fatalf("put %d: the fake opened %d bytes that are not the new key", i, len(plain))
				}
				if !e.Updated.Equal(updated) || !e.Updated.After(before.Updated) {
					t.Errorf("put %d: entry updated %v, store %v, before %v", i, e.Updated, updated, before.Updated)
				}
				if id, _ := f.KeyStats(tc.target, prefix); id == keyID {
					t.Errorf("put %d: the scope key was not replaced", i)
				}
			}
		})
	}
}

func TestPutRefusesAnotherScopesKey(t *testing.T) {
	// The environment's key cannot open a box sealed for the repository's
	// key: proving the fake checks, so the test above means something.
	f, _ := fixture(t)
	s, _ := newStore(t, f, repoName)
	repoKey, err := s.publicKey(context.Background(), ref{kind: kindActions})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := seal([]byte("x"), repoKey.GetKey())
	if err != nil {
		t.Fatal(err)
	}
	r := ref{kind: kindEnv, env: "production", name: "LLM_KEY"}
	envKey, err := s.publicKey(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	for _, keyID := range []string{repoKey.GetKeyID(), envKey.GetKeyID()} {
		enc := &gh.EncryptedSecret{Name: r.name, KeyID: keyID, EncryptedValue: sealed}
		if err := s.putSecret(context.Background(), r, enc); err == nil {
			t.Errorf("write sealed for the repository key accepted by the environment (key id %s)", keyID)
		}
	}
}

func TestPutKeepsOrganizationAccess(t *testing.T) {
	for _, name := range []string{"actions/PPLX", "dependabot/PPLX", "codespaces/PPLX"} {
		t.Run(name, func(t *testing.T) {
			f := githubfake.New(t)
			f.SetPageSize(2) // the selected repositories come in pages
			f.AddOrg("acme")
			f.Set("acme", name, []byte("old"))
			f.Set("acme", "actions/PRIVATE_PPLX", []byte("old"))
			f.SetAccess("acme", name, "selected", 11, 12, 13, 14, 15)
			f.SetAccess("acme", "actions/PRIVATE_PPLX", "private")
			s, _ := newStore(t, f, "acme")
			for _, n := range []string{name, "actions/PRIVATE_PPLX"} {
				vis, ids := f.Access("acme", n)
				if _, err := s.Put(context.Background(), n, []byte("new")); err != nil {
					t.Fatal(err)
				}
				gotVis, gotIDs := f.Access("acme", n)
				if gotVis != vis || !slices.Equal(gotIDs, ids) {
					t.Errorf("%s: access %s %v became %s %v", n, vis, ids, gotVis, gotIDs)
				}
			}
		})
	}
}

func TestPutVariableReadsBack(t *testing.T) {
	f, key := fixture(t)
	s, _ := newStore(t, f, repoName)
	newKey := testkeys.New(99).Mixed()
	value := []byte(strings.Replace(`{"provider":"perplexity","key":"K"}`, "K", newKey, 1))
	e, err := s.Put(context.Background(), "variables/LLM_CONFIG", value)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value) != string(value) {
		t.Error("put returned an entry without the value read back")
	}
	got, _, _ := f.Secret(repoName, "variables/LLM_CONFIG")
	if strings.Contains(string(got), key) || !strings.Contains(string(got), newKey) {
		t.Error("variable not rotated")
	}
	if _, err := s.Put(context.Background(), "env/production/variables/FALLBACK", []byte("PERPLEXITY_API_KEY="+newKey)); err != nil {
		t.Fatal(err)
	}
}

func TestPutUnconfirmedWhenUpdatedAtStays(t *testing.T) {
	f, _ := fixture(t)
	f.DropWrites(true)
	s, _ := newStore(t, f, repoName)
	_, err := s.Put(context.Background(), "actions/LLM_KEY", []byte(testkeys.New(1).Mixed()))
	if err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("a lost write was not caught: %v", err)
	}
}

func TestPutNeverCreates(t *testing.T) {
	f, _ := fixture(t)
	s, _ := newStore(t, f, repoName)
	for _, name := range []string{"actions/NEW_SECRET", "env/production/NEW_SECRET", "env/nowhere/X", "variables/NEW_VAR"} {
		_, err := s.Put(context.Background(), name, []byte("v"))
		if !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
		if _, _, ok := f.Secret(repoName, name); ok {
			t.Errorf("%s was created", name)
		}
	}
}

func TestRateLimitsAreWaitedOut(t *testing.T) {
	ctx := context.Background()
	f, _ := fixture(t)
	s, w := newStore(t, f, repoName)

	f.Throttle(2) // secondary: 403 with retry-after: 1
	if _, err := s.Get(ctx, "actions/LLM_KEY"); err != nil {
		t.Fatalf("secondary rate limit: %v", err)
	}
	f.TooMany(1, 7*time.Second) // bare 429 with retry-after
	if _, err := s.Get(ctx, "actions/LLM_KEY"); err != nil {
		t.Fatalf("429: %v", err)
	}
	f.ThrottlePrimary(1, time.Now().Add(20*time.Second))
	if _, err := s.Get(ctx, "actions/LLM_KEY"); err != nil {
		t.Fatalf("primary rate limit: %v", err)
	}
	f.ServerError(1)
	if _, err := s.Get(ctx, "actions/LLM_KEY"); err != nil {
		t.Fatalf("502: %v", err)
	}
	f.Forbidden(1, 3*time.Second)
	if _, err := s.Get(ctx, "actions/LLM_KEY"); err != nil {
		t.Fatalf("403 with retry-after: %v", err)
	}
	got := w.all()
	if len(got) != 6 || got[0] != time.Second || got[1] != time.Second || got[2] != 7*time.Second ||
		got[3] < 15*time.Second || got[3] > 22*time.Second || got[4] != time.Second || got[5] != 3*time.Second {
		t.Errorf("waits %v, want [1s 1s 7s ~21s 1s 3s] (retry-after, x-ratelimit-reset, backoff)", got)
	}
}

func TestRateLimitBeyondBoundFails(t *testing.T) {
	ctx := context.Background()
	f, _ := fixture(t)
	s, w := newStore(t, f, repoName)
	f.ThrottlePrimary(1, time.Now().Add(2*time.Hour))
	_, err := s.Get(ctx, "actions/LLM_KEY")
	if !errors.Is(err, providers.ErrThrottled) || !strings.Contains(err.Error(), "wait") {
		t.Fatalf("an hours-long reset: %v, want ErrThrottled saying how long", err)
	}
	f.Throttle(10)
	_, err = s.Get(ctx, "actions/LLM_KEY")
	if !errors.Is(err, providers.ErrThrottled) {
		t.Fatalf("endless throttling: %v, want ErrThrottled", err)
	}
	if n := len(w.all()); n != defaultTries-1 {
		t.Errorf("%d waits, want %d (attempts are bounded)", n, defaultTries-1)
	}
	f.Throttle(0)
}

func TestBadTokenIsAccessDenied(t *testing.T) {
	f, _ := fixture(t)
	s, err := New(repoName, Options{Token: "wrong", BaseURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.List(context.Background(), func(providers.Entry) error { return nil }); !errors.Is(err, providers.ErrAccessDenied) {
		t.Fatalf("list with a bad token: %v, want ErrAccessDenied", err)
	}
}

func TestUnreadableScopeIsAnEntryError(t *testing.T) {
	f, key := fixture(t)
	f.AddFile(repoName, ".github/workflows/broken.yml", "jobs: [\n  "+key+"\n")
	s, _ := newStore(t, f, repoName)
	var errs []providers.Entry
	n := 0
	err := s.List(context.Background(), func(e providers.Entry) error {
		n++
		if e.Err != nil {
			errs = append(errs, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || errs[0].URI != "github://acme/app/.github/workflows/broken.yml" {
		t.Fatalf("entry errors %v, want the broken workflow only", errs)
	}
	if strings.Contains(errs[0].Err.Error(), key[5:]) {
		t.Fatalf("error leaks the key: %s", scanner.Scrub(errs[0].Err.Error()))
	}
	if n < 16 {
		t.Errorf("listing stopped early: %d entries", n)
	}
}

func TestOpen(t *testing.T) {
	t.Setenv(TokenEnv, "")
	t.Setenv(AltTokenEnv, "tok")
	t.Setenv(APIURLEnv, "https://ghe.example.com/api/v3")
	for uri, want := range map[string]string{
		"github://acme/app":                        "acme/app",
		"github://acme":                            "acme",
		"github://acme/app/":                       "acme/app",
		"github://acme/app?name_patterns=SONAR,AI": "acme/app",
		"github://acme/app?concurrency=2":          "acme/app",
	} {
		u, _ := url.Parse(uri)
		p, err := Open(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		s := p.(*Store)
		if s.target() != want || s.client.BaseURL.String() != "https://ghe.example.com/api/v3/" {
			t.Errorf("%s: target %s, base %s", uri, s.target(), s.client.BaseURL)
		}
		if strings.Contains(uri, "name_patterns") && !slices.Equal([]string(s.match), []string{"PERPLEXITY", "PPLX", "SONAR", "AI"}) {
			t.Errorf("%s: patterns %v", uri, s.match)
		}
	}
	for _, uri := range []string{"github://acme/app/extra", "github://acme/app?nmes=X", "github://acme/app?concurrency=0"} {
		u, _ := url.Parse(uri)
		if _, err := Open(context.Background(), u); err == nil {
			t.Errorf("%s opened", uri)
		}
	}
	t.Setenv(APIURLEnv, "http://ghe.example.com/api/v3")
	if _, err := New("acme", Options{}); err == nil {
		t.Error("plain http API URL accepted for a remote host")
	}
	t.Setenv(AltTokenEnv, "")
	if _, err := New("acme", Options{BaseURL: "https://x"}); err == nil || !strings.Contains(err.Error(), "GITHUB_TOKEN") {
		t.Errorf("no token: %v", err)
	}
}

func TestEnvironmentsOption(t *testing.T) {
	f, _ := fixture(t)
	u, _ := url.Parse("github://acme/app?environments=Production")
	t.Setenv(TokenEnv, f.Token)
	t.Setenv(APIURLEnv, f.URL)
	p, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := p.List(context.Background(), func(e providers.Entry) error {
		names = append(names, e.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "env/production/LLM_KEY") || !slices.Contains(names, "actions/LLM_KEY") ||
		slices.Contains(names, "env/review%2Fapp/PPLX_REVIEW") {
		t.Errorf("environments=Production listed %v", names)
	}
}
