// Package gitlabfake is an in-process GitLab REST API (v4) for tests: the
// documented project- and group-level CI/CD variable endpoints, with
// projects and groups addressed by id or URL-encoded path, driven through
// GitLab's official Go client.
//
// It models what rotation depends on: one key may exist once per
// environment scope, and GET/PUT without filter[environment_scope] on such
// a key answers 409 as GitLab does; masked, hidden, protected, raw,
// variable_type and description flags, with hidden values never returned
// and masked values checked for GitLab's length rule. An update that leaves
// a flag out resets it to its default, the strictest reading of the
// documentation, so a client that does not restate the flags is caught.
// Lists are paginated with X-Next-Page and Link headers, and requests can
// be answered 429 with Retry-After.
package gitlabfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prefix is the path the API is served under.
const Prefix = "/api/v4"

// Variable is one CI/CD variable as GitLab stores it.
type Variable struct {
	Key, Value, Scope, Description string
	Type                           string // env_var (default) or file
	Masked, Hidden, Protected, Raw bool
}

// Server is a fake GitLab.
type Server struct {
	// URL is the API base URL, http://127.0.0.1:PORT/api/v4, as GitLab CI
	// sets CI_API_V4_URL.
	URL string
	// Token is the only PRIVATE-TOKEN accepted.
	Token string

	srv *httptest.Server

	mu           sync.Mutex
	projects     map[string]*holder
	groups       map[string]*holder
	nextID       int
	pageSize     int
	faults       []fault
	log          []string
	ignoreFilter bool
}

type holder struct {
	id   int
	path string
	vars []*Variable
}

type fault struct {
	status int
	header http.Header
	body   string
}

// New starts a fake on a loopback port, stopped when the test ends.
func New(t testing.TB) *Server {
	f := &Server{
		Token:    "glpat-fake" + strconv.FormatInt(time.Now().UnixNano(), 36),
		projects: map[string]*holder{},
		groups:   map[string]*holder{},
		nextID:   100,
	}
	mux := http.NewServeMux()
	for _, kind := range []string{"projects", "groups"} {
		mux.HandleFunc("GET /"+kind+"/{id}", f.getHolder(kind))
		mux.HandleFunc("GET /"+kind+"/{id}/variables", f.list(kind))
		mux.HandleFunc("GET /"+kind+"/{id}/variables/{key}", f.get(kind))
		mux.HandleFunc("PUT /"+kind+"/{id}/variables/{key}", f.update(kind))
	}
	f.srv = httptest.NewServer(http.StripPrefix(Prefix, f.guard(mux)))
	f.URL = f.srv.URL + Prefix
	t.Cleanup(f.srv.Close)
	return f
}

// AddProject creates a project at path ("group/sub/project").
func (f *Server) AddProject(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder(f.projects, path)
}

// AddGroup creates a group at path.
func (f *Server) AddGroup(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder(f.groups, path)
}

func (f *Server) holder(m map[string]*holder, path string) *holder {
	if h := m[path]; h != nil {
		return h
	}
	f.nextID++
	h := &holder{id: f.nextID, path: path}
	m[path] = h
	return h
}

// Set creates or replaces a variable of the project or group at path
// (projects first), keyed by key and scope ("" means "*").
func (f *Server) Set(path string, v Variable) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.projects[path]
	if h == nil {
		h = f.holder(f.groups, path)
	}
	if v.Scope == "" {
		v.Scope = "*"
	}
	if v.Type == "" {
		v.Type = "env_var"
	}
	if v.Hidden {
		v.Masked = true
	}
	for i, old := range h.vars {
		if old.Key == v.Key && old.Scope == v.Scope {
			h.vars[i] = &v
			return
		}
	}
	h.vars = append(h.vars, &v)
}

// Get returns a variable as stored, hidden value included.
func (f *Server) Get(path, key, scope string) (Variable, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.projects[path]
	if h == nil {
		h = f.groups[path]
	}
	if h == nil {
		return Variable{}, false
	}
	for _, v := range h.vars {
		if v.Key == key && v.Scope == scope {
			return *v, true
		}
	}
	return Variable{}, false
}

// SetPageSize caps every page at n items, so small fixtures paginate.
func (f *Server) SetPageSize(n int) {
	f.mu.Lock()
	f.pageSize = n
	f.mu.Unlock()
}

// IgnoreFilter makes the fake behave like an instance without
// filter[environment_scope] (before GitLab 16.9): the filter is ignored.
func (f *Server) IgnoreFilter(ignore bool) {
	f.mu.Lock()
	f.ignoreFilter = ignore
	f.mu.Unlock()
}

// Throttle answers the next n requests 429 with Retry-After: 1.
func (f *Server) Throttle(n int) { f.ThrottleFor(n, time.Second) }

// ThrottleFor answers the next n requests 429 asking to wait d.
func (f *Server) ThrottleFor(n int, d time.Duration) {
	h := http.Header{
		"Retry-After":     {strconv.Itoa(int(d / time.Second))},
		"RateLimit-Reset": {strconv.FormatInt(time.Now().Add(d).Unix(), 10)},
	}
	f.fail(n, http.StatusTooManyRequests, h, `{"message":"Retry later"}`)
}

// ServerError answers the next n requests 502.
func (f *Server) ServerError(n int) {
	f.fail(n, http.StatusBadGateway, nil, `{"message":"502 Bad Gateway"}`)
}

func (f *Server) fail(n, status int, h http.Header, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults = append(f.faults, fault{status, h, body})
	}
}

// Requests returns "METHOD /path?query" of every request served so far.
func (f *Server) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

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
		if r.Header.Get("PRIVATE-TOKEN") != f.Token {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func message(w http.ResponseWriter, status int, msg any) {
	writeJSON(w, status, map[string]any{"message": msg})
}

// find resolves {id}, a numeric id or a URL-encoded path. Callers hold mu.
func (f *Server) find(kind string, r *http.Request) *holder {
	m := f.projects
	if kind == "groups" {
		m = f.groups
	}
	id := r.PathValue("id")
	if h := m[id]; h != nil {
		return h
	}
	if n, err := strconv.Atoi(id); err == nil {
		for _, h := range m {
			if h.id == n {
				return h
			}
		}
	}
	return nil
}

func (f *Server) getHolder(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		h := f.find(kind, r)
		if h == nil {
			message(w, http.StatusNotFound, "404 "+strings.TrimSuffix(strings.ToUpper(kind[:1])+kind[1:], "s")+" Not Found")
			return
		}
		name := h.path[strings.LastIndex(h.path, "/")+1:]
		writeJSON(w, http.StatusOK, map[string]any{
			"id": h.id, "name": name, "path": name, "path_with_namespace": h.path, "full_path": h.path,
		})
	}
}

func varJSON(v *Variable) map[string]any {
	m := map[string]any{
		"key": v.Key, "value": v.Value, "variable_type": v.Type, "protected": v.Protected,
		"masked": v.Masked, "hidden": v.Hidden, "raw": v.Raw, "environment_scope": v.Scope,
		"description": v.Description,
	}
	if v.Hidden {
		m["value"] = nil
	}
	if v.Description == "" {
		m["description"] = nil
	}
	return m
}

func (f *Server) list(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		h := f.find(kind, r)
		if h == nil {
			message(w, http.StatusNotFound, "404 Not Found")
			return
		}
		vars := append([]*Variable(nil), h.vars...)
		sort.SliceStable(vars, func(i, j int) bool { return vars[i].Key < vars[j].Key })
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		if per <= 0 {
			per = 20
		}
		per = min(per, 100)
		if f.pageSize > 0 {
			per = min(per, f.pageSize)
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		total := len(vars)
		pages := max((total+per-1)/per, 1)
		lo := min((page-1)*per, total)
		hi := min(lo+per, total)
		hd := w.Header()
		hd.Set("X-Page", strconv.Itoa(page))
		hd.Set("X-Per-Page", strconv.Itoa(per))
		hd.Set("X-Total", strconv.Itoa(total))
		hd.Set("X-Total-Pages", strconv.Itoa(pages))
		if page < pages {
			hd.Set("X-Next-Page", strconv.Itoa(page+1))
			u := *r.URL
			q := u.Query()
			q.Set("page", strconv.Itoa(page+1))
			q.Set("per_page", strconv.Itoa(per))
			u.RawQuery = q.Encode()
			hd.Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, f.URL, u.RequestURI()))
		}
		if page > 1 {
			hd.Set("X-Prev-Page", strconv.Itoa(page-1))
		}
		out := []map[string]any{}
		for _, v := range vars[lo:hi] {
			out = append(out, varJSON(v))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// pick selects the variables a request addresses by key and, unless the
// fake ignores it, filter[environment_scope]. Callers hold mu.
func (f *Server) pick(h *holder, key, scope string) []*Variable {
	var out []*Variable
	for _, v := range h.vars {
		if v.Key == key && (scope == "" || f.ignoreFilter || v.Scope == scope) {
			out = append(out, v)
		}
	}
	return out
}

const multiple = "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"

func (f *Server) get(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		h := f.find(kind, r)
		if h == nil {
			message(w, http.StatusNotFound, "404 Not Found")
			return
		}
		vs := f.pick(h, r.PathValue("key"), r.URL.Query().Get("filter[environment_scope]"))
		switch {
		case len(vs) == 0:
			message(w, http.StatusNotFound, "404 Variable Not Found")
		case len(vs) > 1:
			message(w, http.StatusConflict, multiple)
		default:
			writeJSON(w, http.StatusOK, varJSON(vs[0]))
		}
	}
}

// params reads a request's parameters from its JSON body or its form and
// query, as GitLab's API accepts both.
func params(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return nil, err
		}
		for k, v := range body {
			switch t := v.(type) {
			case map[string]any:
				for k2, v2 := range t {
					out[k+"["+k2+"]"] = fmt.Sprint(v2)
				}
			case nil:
			default:
				out[k] = fmt.Sprint(t)
			}
		}
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k, v := range r.Form {
		if _, set := out[k]; !set && len(v) > 0 {
			out[k] = v[len(v)-1]
		}
	}
	return out, nil
}

func (f *Server) update(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := params(r)
		if err != nil {
			message(w, http.StatusBadRequest, "400 Bad request - malformed body")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		h := f.find(kind, r)
		if h == nil {
			message(w, http.StatusNotFound, "404 Not Found")
			return
		}
		vs := f.pick(h, r.PathValue("key"), p["filter[environment_scope]"])
		switch {
		case len(vs) == 0:
			message(w, http.StatusNotFound, "404 Variable Not Found")
			return
		case len(vs) > 1:
			message(w, http.StatusConflict, multiple)
			return
		}
		value, ok := p["value"]
		if !ok {
			message(w, http.StatusBadRequest, "value is missing")
			return
		}
		v := *vs[0]
		v.Value = value
		v.Masked = p["masked"] == "true"
		v.Protected = p["protected"] == "true"
		v.Raw = p["raw"] == "true"
		v.Description = p["description"]
		v.Type = "env_var"
		if t := p["variable_type"]; t != "" {
			v.Type = t
		}
		if sc := p["environment_scope"]; sc != "" {
			v.Scope = sc
		}
		if v.Hidden && !v.Masked {
			message(w, http.StatusBadRequest, map[string][]string{"masked": {"cannot be unset for a hidden variable"}})
			return
		}
		if v.Masked && (len(value) < 8 || strings.ContainsAny(value, " \n\r\t")) {
			message(w, http.StatusBadRequest, map[string][]string{"value": {"is invalid"}})
			return
		}
		*vs[0] = v
		writeJSON(w, http.StatusOK, varJSON(&v))
	}
}
