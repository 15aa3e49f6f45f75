package gitlab

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/gitlab/gitlabfake"
	"github.com/rekeyhq/rekey/providers/providertest"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

const project = "acme/platform/app"

// waits records the waits the store decided on and sleeps none of them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) wait(d time.Duration) time.Duration {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return 0
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

func newStore(t *testing.T, f *gitlabfake.Server, path string) (*Store, *waits) {
	t.Helper()
	w := &waits{}
	s, err := New(path, Options{Token: f.Token, BaseURL: f.URL, wait: w.wait})
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

// backend seeds variables of one scope; a decoy with the same key in
// scope "*" proves the store addresses the right one.
type backend struct {
	f           *gitlabfake.Server
	path, scope string
}

func (b backend) Seed(_ *testing.T, name string, value []byte) string {
	key := strings.ToUpper(strings.NewReplacer("/", "_", "-", "_").Replace(name))
	b.f.Set(b.path, gitlabfake.Variable{Key: key, Value: string(value), Scope: b.scope, Masked: true, Protected: true})
	if b.scope != "*" {
		b.f.Set(b.path, gitlabfake.Variable{Key: key, Value: "decoy value", Scope: "*"})
	}
	return key + "@" + b.scope
}

func (b backend) Throttle(n int) { b.f.Throttle(n) }

func TestContract(t *testing.T) {
	for _, tc := range []struct {
		path, scope string
		group       bool
	}{
		{project, "*", false},
		{project, "production", false},
		{project, "review/*", false},
		{"acme", "*", true},
		{"acme/platform", "staging", true},
	} {
		t.Run(tc.path+"@"+tc.scope, func(t *testing.T) {
			f := gitlabfake.New(t)
			if tc.group {
				f.AddGroup(tc.path)
			} else {
				f.AddProject(tc.path)
			}
			s, _ := newStore(t, f, tc.path)
			providertest.Run(t, s, backend{f, tc.path, tc.scope})
		})
	}
}

// fixture is a project with one key in several environment scopes, every
// flag combination, and a hidden variable.
func fixture(t *testing.T) (*gitlabfake.Server, []string) {
	t.Helper()
	g := testkeys.New(3)
	keys := []string{g.Mixed(), g.Hex(), g.Mixed()}
	f := gitlabfake.New(t)
	f.SetPageSize(2)
	f.AddProject(project)
	f.AddGroup("acme")
	f.AddGroup("acme/platform")
	for _, v := range []gitlabfake.Variable{
		{Key: "PERPLEXITY_API_KEY", Value: keys[0], Scope: "production", Masked: true, Protected: true, Description: "prod key"},
		{Key: "PERPLEXITY_API_KEY", Value: keys[1], Scope: "staging", Masked: true},
		{Key: "PERPLEXITY_API_KEY", Value: keys[2], Scope: "*", Raw: true},
		{Key: "LLM_ENV", Value: "# config\nPERPLEXITY_API_KEY=" + keys[0] + "\n", Type: "file", Protected: true},
		{Key: "PPLX_HIDDEN", Value: keys[0], Hidden: true, Description: "hidden"},
		{Key: "OTHER_HIDDEN", Value: "s3cr3t-value", Hidden: true},
		{Key: "REGION", Value: "eu-west-1"},
	} {
		f.Set(project, v)
	}
	return f, keys
}

func TestList(t *testing.T) {
	f, keys := fixture(t)
	s, _ := newStore(t, f, project)
	got := map[string]providers.Entry{}
	if err := s.List(context.Background(), func(e providers.Entry) error {
		got[e.Name] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PERPLEXITY_API_KEY@production": keys[0],
		"PERPLEXITY_API_KEY@staging":    keys[1],
		"PERPLEXITY_API_KEY@*":          keys[2],
		"LLM_ENV@*":                     keys[0],
		"REGION@*":                      "eu-west-1",
	}
	for name, value := range want {
		e := got[name]
		if !strings.Contains(string(e.Value), value) || e.Kind != scanner.KindGitLabCI || e.URI != "gitlab://"+project+"/"+name {
			t.Errorf("%s: entry %s %s, does not hold its value", name, e.URI, e.Kind)
		}
	}
	for name, presumed := range map[string]bool{"PPLX_HIDDEN@*": true, "OTHER_HIDDEN@*": false} {
		e, ok := got[name]
		if !ok || e.Value != nil || (e.Presumed != "") != presumed {
			t.Errorf("%s: hidden entry %+v (listed %v), want no value and presumed=%v", name, e, ok, presumed)
		}
	}
	if len(got) != 7 {
		t.Errorf("listed %d entries, want 7", len(got))
	}
	if !slices.ContainsFunc(f.Requests(), func(r string) bool { return strings.Contains(r, "page=4") }) {
		t.Errorf("pagination not followed to page 4: %v", f.Requests())
	}
}

func TestScan(t *testing.T) {
	f, keys := fixture(t)
	s, _ := newStore(t, f, project)
	scan := scanner.NewScan("", nil)
	report, err := scan.Run(context.Background(), &providers.Source{Provider: s, Reporter: scan})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]scanner.Finding{}
	for _, fd := range report.Findings {
		found[fd.Location.URI] = fd
	}
	for uri, key := range map[string]string{
		"gitlab://" + project + "/PERPLEXITY_API_KEY@production": keys[0],
		"gitlab://" + project + "/PERPLEXITY_API_KEY@staging":    keys[1],
		"gitlab://" + project + "/LLM_ENV@*":                     keys[0],
	} {
		if found[uri].KeyID != scanner.Secret(key).KeyID() {
			t.Errorf("%s: no finding of its key", uri)
		}
	}
	if fd := found["gitlab://"+project+"/PPLX_HIDDEN@*"]; fd.Status != scanner.StatusWriteOnly {
		t.Errorf("hidden PPLX variable: %+v, want a write-only finding", fd)
	}
	if _, ok := found["gitlab://"+project+"/OTHER_HIDDEN@*"]; ok {
		t.Error("a hidden variable with no sign of Perplexity was reported")
	}
}

func TestPutKeepsScopeAndFlags(t *testing.T) {
	newKey := testkeys.New(77).Mixed()
	for _, tc := range []struct{ key, scope string }{
		{"PERPLEXITY_API_KEY", "production"},
		{"PERPLEXITY_API_KEY", "staging"},
		{"PERPLEXITY_API_KEY", "*"},
		{"LLM_ENV", "*"},
	} {
		t.Run(tc.key+"@"+tc.scope, func(t *testing.T) {
			f, keys := fixture(t)
			s, _ := newStore(t, f, project)
			before := map[string]gitlabfake.Variable{}
			for _, sc := range []string{"production", "staging", "*"} {
				before[sc], _ = f.Get(project, "PERPLEXITY_API_KEY", sc)
			}
			was, _ := f.Get(project, tc.key, tc.scope)
			value := strings.ReplaceAll(was.Value, keys[0], newKey)
			value = strings.ReplaceAll(value, keys[1], newKey)
			value = strings.ReplaceAll(value, keys[2], newKey)
			e, err := s.Put(context.Background(), tc.key+"@"+tc.scope, []byte(value))
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Value) != value {
				t.Error("put did not return the value read back")
			}
			now, _ := f.Get(project, tc.key, tc.scope)
			want := was
			want.Value = value
			if now != want {
				t.Errorf("variable became %+v, want %+v (only the value changes)", now, want)
			}
			for sc, v := range before {
				if tc.key == v.Key && sc == tc.scope {
					continue
				}
				if got, _ := f.Get(project, "PERPLEXITY_API_KEY", sc); got != v {
					t.Errorf("scope %s was changed too", sc)
				}
			}
		})
	}
}

func TestPutHidden(t *testing.T) {
	f, _ := fixture(t)
	s, _ := newStore(t, f, project)
	newKey := testkeys.New(8).Mixed()
	e, err := s.Put(context.Background(), "PPLX_HIDDEN@*", []byte(newKey))
	if err != nil {
		t.Fatal(err)
	}
	if e.Value != nil {
		t.Error("a hidden variable came back with a value")
	}
	if v, _ := f.Get(project, "PPLX_HIDDEN", "*"); v.Value != newKey || !v.Hidden || !v.Masked || v.Description != "hidden" {
		t.Errorf("hidden variable after put: hidden=%v masked=%v description=%q, new value stored=%v", v.Hidden, v.Masked, v.Description, v.Value == newKey)
	}
}

func TestPutNeverCreates(t *testing.T) {
	f, _ := fixture(t)
	s, _ := newStore(t, f, project)
	for _, name := range []string{"NEW_VAR@*", "PERPLEXITY_API_KEY@review/*", "REGION@production", "no-scope"} {
		if _, err := s.Put(context.Background(), name, []byte("value-123")); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if _, ok := f.Get(project, "NEW_VAR", "*"); ok {
		t.Error("a variable was created")
	}
}

func TestPutRejectedLeaksNothing(t *testing.T) {
	f, keys := fixture(t)
	s, _ := newStore(t, f, project)
	// A masked variable refuses a value with spaces: GitLab's error must
	// come back without the value.
	_, err := s.Put(context.Background(), "PERPLEXITY_API_KEY@production", []byte("Bearer "+keys[0]))
	if err == nil {
		t.Fatal("masked variable accepted a value with a space")
	}
	if strings.Contains(err.Error(), keys[0][5:]) {
		t.Fatalf("error leaks the key: %s", scanner.Scrub(err.Error()))
	}
}

func TestOldInstanceIgnoringFilter(t *testing.T) {
	// Without filter support GitLab answers 409 for a key in several
	// scopes, or the one variable it has: never a wrong scope silently.
	f, _ := fixture(t)
	f.IgnoreFilter(true)
	f.Set(project, gitlabfake.Variable{Key: "SOLO", Value: "value-1234", Scope: "production"})
	s, _ := newStore(t, f, project)
	if _, err := s.Get(context.Background(), "PERPLEXITY_API_KEY@staging"); err == nil {
		t.Error("get of a multi-scope key succeeded without filter support")
	}
	if _, err := s.Put(context.Background(), "SOLO@staging", []byte("value-5678")); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("put to a scope that does not exist: %v", err)
	}
	if v, _ := f.Get(project, "SOLO", "production"); v.Value != "value-1234" {
		t.Error("the variable of another scope was overwritten")
	}
}

func TestThrottling(t *testing.T) {
	ctx := context.Background()
	f, _ := fixture(t)
	s, w := newStore(t, f, project)
	f.Throttle(2)
	if _, err := s.Get(ctx, "REGION@*"); err != nil {
		t.Fatalf("after two 429s: %v", err)
	}
	f.ThrottleFor(1, 9*time.Second)
	if _, err := s.Get(ctx, "REGION@*"); err != nil {
		t.Fatalf("after a 429 asking for 9s: %v", err)
	}
	f.ServerError(1)
	if _, err := s.Get(ctx, "REGION@*"); err != nil {
		t.Fatalf("after a 502: %v", err)
	}
	if got := w.all(); !slices.Equal(got, []time.Duration{time.Second, time.Second, 9 * time.Second, time.Second}) {
		t.Errorf("waits %v, want [1s 1s 9s 1s] (Retry-After honoured, backoff for 5xx)", got)
	}
	f.ThrottleFor(1, 2*time.Hour)
	if _, err := s.Get(ctx, "REGION@*"); !errors.Is(err, providers.ErrThrottled) {
		t.Errorf("a two-hour wait: %v, want ErrThrottled at once", err)
	}
	f.Throttle(20)
	if _, err := s.Get(ctx, "REGION@*"); !errors.Is(err, providers.ErrThrottled) {
		t.Errorf("endless 429s: %v, want ErrThrottled", err)
	}
	if n := len(w.all()); n != 4+defaultTries-1 {
		t.Errorf("%d waits in all, want %d (attempts are bounded)", n, 4+defaultTries-1)
	}
}

func TestGroupsAndNesting(t *testing.T) {
	f, keys := fixture(t)
	f.Set("acme/platform", gitlabfake.Variable{Key: "PPLX_GROUP", Value: keys[1], Scope: "*"})
	f.Set("acme", gitlabfake.Variable{Key: "TOP", Value: keys[2]})
	for path, name := range map[string]string{"acme/platform": "PPLX_GROUP@*", "acme": "TOP@*"} {
		s, _ := newStore(t, f, path)
		var names []string
		if err := s.List(context.Background(), func(e providers.Entry) error {
			names = append(names, e.Name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{name}) {
			t.Errorf("group %s lists %v, want [%s]", path, names, name)
		}
	}
	s, _ := newStore(t, f, "acme/nothing")
	if err := s.List(context.Background(), func(providers.Entry) error { return nil }); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("a path that is neither project nor group: %v", err)
	}
}

func TestBadTokenIsAccessDenied(t *testing.T) {
	f, _ := fixture(t)
	s, err := New(project, Options{Token: "wrong", BaseURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "REGION@*"); !errors.Is(err, providers.ErrAccessDenied) {
		t.Errorf("bad token: %v, want ErrAccessDenied", err)
	}
}

func TestOpen(t *testing.T) {
	t.Setenv(TokenEnv, "tok")
	t.Setenv(APIURLEnv, "https://gitlab.example.com/api/v4")
	for uri, want := range map[string]string{
		"gitlab://acme/platform/app": "acme/platform/app",
		"gitlab://acme":              "acme",
		"gitlab://acme/app?name_patterns=SONAR&api=https://git.example.org/api/v4": "acme/app",
	} {
		u, _ := url.Parse(uri)
		p, err := Open(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		s := p.(*Store)
		base := s.client.BaseURL().String()
		if s.path != want {
			t.Errorf("%s: path %s", uri, s.path)
		}
		if strings.Contains(uri, "api=") {
			if base != "https://git.example.org/api/v4/" || !slices.Equal(s.opts.Patterns, []string{"PERPLEXITY", "PPLX", "SONAR"}) {
				t.Errorf("%s: base %s, patterns %v", uri, base, s.opts.Patterns)
			}
		} else if base != "https://gitlab.example.com/api/v4/" {
			t.Errorf("%s: base %s, want CI_API_V4_URL", uri, base)
		}
	}
	for _, uri := range []string{"gitlab://acme?x=1", "gitlab://acme?api=http://git.example.org/api/v4", "gitlab://acme?concurrency=-1"} {
		u, _ := url.Parse(uri)
		if _, err := Open(context.Background(), u); err == nil {
			t.Errorf("%s opened", uri)
		}
	}
	t.Setenv(TokenEnv, "")
	if _, err := New("acme", Options{}); err == nil || !strings.Contains(err.Error(), TokenEnv) {
		t.Errorf("no token: %v", err)
	}
}

func TestEnvironmentsOption(t *testing.T) {
	f, _ := fixture(t)
	f.Set(project, gitlabfake.Variable{Key: "REVIEW_ONLY", Value: "x", Scope: "review/*"})
	for envs, want := range map[string][]string{
		"production":         {"LLM_ENV@*", "OTHER_HIDDEN@*", "PERPLEXITY_API_KEY@*", "PERPLEXITY_API_KEY@production", "PPLX_HIDDEN@*", "REGION@*"},
		"review/app,staging": {"LLM_ENV@*", "OTHER_HIDDEN@*", "PERPLEXITY_API_KEY@*", "PERPLEXITY_API_KEY@staging", "PPLX_HIDDEN@*", "REGION@*", "REVIEW_ONLY@review/*"},
	} {
		u, _ := url.Parse("gitlab://" + project + "?concurrency=3&environments=" + url.QueryEscape(envs) + "&api=" + url.QueryEscape(f.URL))
		t.Setenv(TokenEnv, f.Token)
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
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("environments=%s listed %v, want %v", envs, names, want)
		}
	}
}
