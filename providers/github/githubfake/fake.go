// Package githubfake is an in-process GitHub REST API for tests: the
// documented endpoints for Actions, environment, Dependabot and Codespaces
// secrets, Actions variables, environments, repository contents and
// organization secret access, driven through the real go-github client.
//
// It models what rotation depends on. Each secret scope holds a real
// Curve25519 key pair and opens every sealed box it is sent, so a test can
// read the plaintext a write stored; a write must carry the id of the
// scope's current key, and the key is replaced after every accepted write,
// so a client that reuses a stale or another scope's key fails. Lists are
// paginated with Link headers, timestamps advance a second per write, and
// requests can be answered with GitHub's primary and secondary rate-limit
// responses. The API is served under /api/v3/, the GitHub Enterprise
// Server layout.
package githubfake

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
)

// Prefix is the path the API is served under.
const Prefix = "/api/v3"

// Server is a fake GitHub.
type Server struct {
	// URL is the API base URL, http://127.0.0.1:PORT/api/v3 (no trailing
	// slash, as GITHUB_API_URL is set).
	URL string
	// Token is the only token accepted.
	Token string

	srv *httptest.Server

	mu       sync.Mutex
	repos    map[string]*repo // "owner/repo" (lower-case)
	orgs     map[string]*owner
	clock    time.Time
	pageSize int
	faults   []fault
	dropPuts bool
	log      []string
	nextID   int64
	keySeq   int
}

type keyPair struct {
	id        string
	pub, priv [32]byte
	fetches   int
}

// scope is a set of secrets with their own public key.
type scope struct {
	key     *keyPair
	secrets map[string]*secret
}

type secret struct {
	name             string
	value            []byte
	created, updated time.Time
	visibility       string // organization secrets
	selected         []int64
}

type variable struct {
	name, value      string
	created, updated time.Time
	visibility       string
}

type environment struct {
	name    string
	secrets *scope
	vars    map[string]*variable
}

type repo struct {
	id                              int64
	owner, name                     string
	actions, dependabot, codespaces *scope
	envs                            map[string]*environment // lower-case name
	vars                            map[string]*variable
	files                           map[string]string
}

type owner struct {
	actions, dependabot, codespaces *scope
	vars                            map[string]*variable
}

type fault struct {
	status int
	header http.Header
	body   string
}

// New starts a fake on a loopback port, stopped when the test ends.
func New(t testing.TB) *Server {
	f := &Server{
		Token:  "ghp_fake" + strconv.FormatInt(time.Now().UnixNano(), 36),
		repos:  map[string]*repo{},
		orgs:   map[string]*owner{},
		clock:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		nextID: 1000,
	}
	mux := http.NewServeMux()
	f.routes(mux)
	f.srv = httptest.NewServer(http.StripPrefix(Prefix, f.guard(mux)))
	f.URL = f.srv.URL + Prefix
	t.Cleanup(f.srv.Close)
	return f
}

// SetPageSize caps every page at n items (GitHub's own caps are 100, and
// 30 for variables), so small fixtures paginate.
func (f *Server) SetPageSize(n int) {
	f.mu.Lock()
	f.pageSize = n
	f.mu.Unlock()
}

// Throttle answers the next n requests with GitHub's secondary rate limit:
// 403, retry-after: 1.
func (f *Server) Throttle(n int) {
	h := http.Header{"Retry-After": {"1"}}
	f.fail(n, http.StatusForbidden, h, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}`)
}

// ThrottlePrimary answers the next n requests with the primary rate limit
// exhausted until reset: 403, x-ratelimit-remaining: 0, x-ratelimit-reset.
func (f *Server) ThrottlePrimary(n int, reset time.Time) {
	h := http.Header{
		"X-Ratelimit-Limit":     {"5000"},
		"X-Ratelimit-Remaining": {"0"},
		"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
		"X-Ratelimit-Used":      {"5000"},
	}
	f.fail(n, http.StatusForbidden, h, `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit","status":"403"}`)
}

// TooMany answers the next n requests with a bare 429 and retry-after.
func (f *Server) TooMany(n int, retryAfter time.Duration) {
	h := http.Header{"Retry-After": {strconv.Itoa(int(retryAfter / time.Second))}}
	f.fail(n, http.StatusTooManyRequests, h, `{"message":"Too Many Requests"}`)
}

// Forbidden answers the next n requests 403 with retry-after but none of
// the bodies go-github recognises as rate limits.
func (f *Server) Forbidden(n int, retryAfter time.Duration) {
	h := http.Header{"Retry-After": {strconv.Itoa(int(retryAfter / time.Second))}}
	f.fail(n, http.StatusForbidden, h, `{"message":"Slow down"}`)
}

// ServerError answers the next n requests with 502.
func (f *Server) ServerError(n int) {
	f.fail(n, http.StatusBadGateway, nil, `{"message":"Server Error"}`)
}

func (f *Server) fail(n, status int, h http.Header, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults = append(f.faults, fault{status, h, body})
	}
}

// DropWrites makes secret writes answer 204 without storing anything, as
// a write lost behind the API would look.
func (f *Server) DropWrites(drop bool) {
	f.mu.Lock()
	f.dropPuts = drop
	f.mu.Unlock()
}

// Requests returns "METHOD /path?query" of every request served so far.
func (f *Server) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// AddRepo creates a repository "owner/name" with empty scopes.
func (f *Server) AddRepo(full string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repo(full)
}

func (f *Server) repo(full string) *repo {
	key := strings.ToLower(full)
	if r := f.repos[key]; r != nil {
		return r
	}
	o, n, _ := strings.Cut(full, "/")
	f.nextID++
	r := &repo{
		id: f.nextID, owner: o, name: n,
		actions: f.newScope(), dependabot: f.newScope(), codespaces: f.newScope(),
		envs: map[string]*environment{}, vars: map[string]*variable{}, files: map[string]string{},
	}
	f.repos[key] = r
	return r
}

// AddOrg creates an organization with empty scopes.
func (f *Server) AddOrg(org string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.org(org)
}

func (f *Server) org(name string) *owner {
	key := strings.ToLower(name)
	if o := f.orgs[key]; o != nil {
		return o
	}
	o := &owner{actions: f.newScope(), dependabot: f.newScope(), codespaces: f.newScope(), vars: map[string]*variable{}}
	f.orgs[key] = o
	return o
}

func (f *Server) env(r *repo, name string) *environment {
	key := strings.ToLower(name)
	if e := r.envs[key]; e != nil {
		return e
	}
	e := &environment{name: name, secrets: f.newScope(), vars: map[string]*variable{}}
	r.envs[key] = e
	return e
}

// AddEnvironment creates an environment in a repository.
func (f *Server) AddEnvironment(full, env string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.env(f.repo(full), env)
}

// AddFile stores a file in the repository's default branch.
func (f *Server) AddFile(full, path, content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repo(full).files[path] = content
}

func (f *Server) newScope() *scope {
	return &scope{key: f.newKey(), secrets: map[string]*secret{}}
}

func (f *Server) newKey() *keyPair {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	f.keySeq++
	return &keyPair{id: strconv.FormatInt(568250167242549743+int64(f.keySeq), 10), pub: *pub, priv: *priv}
}

func (f *Server) tick() time.Time {
	f.clock = f.clock.Add(time.Second)
	return f.clock
}

// Set creates or overwrites a secret or variable directly (not through the
// API), addressed as the store names entries: target is "owner/repo" or
// "org"; name is actions/NAME, env/ENV/NAME, dependabot/NAME,
// codespaces/NAME, variables/NAME or env/ENV/variables/NAME (ENV
// path-escaped).
func (f *Server) Set(target, name string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, vars, n := f.address(target, name, true)
	now := f.tick()
	if vars != nil {
		v := vars[n]
		if v == nil {
			v = &variable{name: n, created: now}
			if !strings.Contains(target, "/") {
				v.visibility = "all"
			}
			vars[n] = v
		}
		v.value, v.updated = string(value), now
		return
	}
	s := sc.secrets[n]
	if s == nil {
		s = &secret{name: n, created: now}
		if !strings.Contains(target, "/") {
			s.visibility = "all"
		}
		sc.secrets[n] = s
	}
	s.value, s.updated = append([]byte(nil), value...), now
}

// SetAccess sets an organization secret's visibility ("all", "private",
// "selected") and selected repository ids.
func (f *Server) SetAccess(org, name, visibility string, repoIDs ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, _, n := f.address(org, name, false)
	if s := sc.secrets[n]; s != nil {
		s.visibility, s.selected = visibility, append([]int64(nil), repoIDs...)
	}
}

// Access returns an organization secret's visibility and selected ids.
func (f *Server) Access(org, name string) (string, []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, _, n := f.address(org, name, false)
	if s := sc.secrets[n]; s != nil {
		return s.visibility, append([]int64(nil), s.selected...)
	}
	return "", nil
}

// Secret returns the plaintext a secret holds (opened from the sealed box
// it was written as) and when it was last updated.
func (f *Server) Secret(target, name string) ([]byte, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, vars, n := f.address(target, name, false)
	if vars != nil {
		if v := vars[n]; v != nil {
			return []byte(v.value), v.updated, true
		}
		return nil, time.Time{}, false
	}
	if sc == nil || sc.secrets[n] == nil {
		return nil, time.Time{}, false
	}
	s := sc.secrets[n]
	return append([]byte(nil), s.value...), s.updated, true
}

// KeyStats returns how many times a scope's current key was fetched; the
// scope is named like its secrets' prefix ("actions/", "env/prod/").
func (f *Server) KeyStats(target, prefix string) (id string, fetches int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, _, _ := f.address(target, prefix+"X", false)
	return sc.key.id, sc.key.fetches
}

// address resolves an entry name to its scope (secrets) or variable map.
func (f *Server) address(target, name string, create bool) (*scope, map[string]*variable, string) {
	parts := strings.Split(name, "/")
	n := strings.ToUpper(parts[len(parts)-1])
	if !strings.Contains(target, "/") {
		o := f.org(target)
		switch parts[0] {
		case "dependabot":
			return o.dependabot, nil, n
		case "codespaces":
			return o.codespaces, nil, n
		case "variables":
			return nil, o.vars, n
		}
		return o.actions, nil, n
	}
	r := f.repo(target)
	switch parts[0] {
	case "dependabot":
		return r.dependabot, nil, n
	case "codespaces":
		return r.codespaces, nil, n
	case "variables":
		return nil, r.vars, n
	case "env":
		envName, _ := url.PathUnescape(parts[1])
		e := r.envs[strings.ToLower(envName)]
		if e == nil {
			if !create {
				return nil, nil, n
			}
			e = f.env(r, envName)
		}
		if len(parts) == 4 {
			return nil, e.vars, n
		}
		return e.secrets, nil, n
	}
	return r.actions, nil, n
}

// guard checks the token, serves queued faults and logs requests.
func (f *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.log = append(f.log, r.Method+" "+r.URL.RequestURI())
		var flt *fault
		if len(f.faults) > 0 {
			flt = &f.faults[0]
			f.faults = f.faults[1:]
		}
		f.mu.Unlock()
		auth := r.Header.Get("Authorization")
		if auth != "Bearer "+f.Token && auth != "token "+f.Token {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
			return
		}
		if flt != nil {
			for k, v := range flt.header {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(flt.status)
			_, _ = w.Write([]byte(flt.body))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
}

func unprocessable(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

// page cuts items to the requested page and sets the Link header.
func (f *Server) page(w http.ResponseWriter, r *http.Request, n, maxPer int) (lo, hi int) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, maxPer)
	f.mu.Lock()
	if f.pageSize > 0 {
		per = min(per, f.pageSize)
	}
	f.mu.Unlock()
	pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pg = max(pg, 1)
	last := max((n+per-1)/per, 1)
	link := func(p int, rel string) string {
		u := *r.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s%s%s>; rel="%s"`, f.srv.URL, Prefix, u.RequestURI(), rel)
	}
	var links []string
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"), link(pg-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((pg-1)*per, n)
	return lo, min(lo+per, n)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func sortedSecrets(sc *scope) []*secret {
	out := make([]*secret, 0, len(sc.secrets))
	for _, s := range sc.secrets {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sortedVars(m map[string]*variable) []*variable {
	out := make([]*variable, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
