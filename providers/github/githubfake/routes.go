package githubfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/nacl/box"
)

// scopeFunc finds the secret scope a request addresses (nil: 404) and
// whether it is an organization's.
type scopeFunc func(r *http.Request) (sc *scope, org bool, selectedURL string)

// varsFunc finds the variables a request addresses (nil: 404).
type varsFunc func(r *http.Request) (vars map[string]*variable, org bool)

func (f *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /repos/{owner}/{repo}", f.getRepo)
	mux.HandleFunc("GET /repos/{owner}/{repo}/environments", f.listEnvironments)
	mux.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", f.getContents)

	repoScope := func(pick func(*repo) *scope) scopeFunc {
		return func(r *http.Request) (*scope, bool, string) {
			rp := f.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
			if rp == nil {
				return nil, false, ""
			}
			return pick(rp), false, ""
		}
	}
	orgScope := func(kind string, pick func(*owner) *scope) scopeFunc {
		return func(r *http.Request) (*scope, bool, string) {
			o := f.orgs[strings.ToLower(r.PathValue("org"))]
			if o == nil {
				return nil, true, ""
			}
			return pick(o), true, fmt.Sprintf("%s%s/orgs/%s/%s/secrets/", f.srv.URL, Prefix, r.PathValue("org"), kind)
		}
	}
	envByID := func(r *http.Request) (*scope, bool, string) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		for _, rp := range f.repos {
			if rp.id == id {
				if e := rp.envs[strings.ToLower(r.PathValue("env"))]; e != nil {
					return e.secrets, false, ""
				}
			}
		}
		return nil, false, ""
	}
	envByName := func(r *http.Request) (*scope, bool, string) {
		rp := f.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
		if rp == nil {
			return nil, false, ""
		}
		if e := rp.envs[strings.ToLower(r.PathValue("env"))]; e != nil {
			return e.secrets, false, ""
		}
		return nil, false, ""
	}
	f.secretRoutes(mux, "/repos/{owner}/{repo}/actions/secrets", repoScope(func(r *repo) *scope { return r.actions }))
	f.secretRoutes(mux, "/repos/{owner}/{repo}/dependabot/secrets", repoScope(func(r *repo) *scope { return r.dependabot }))
	f.secretRoutes(mux, "/repos/{owner}/{repo}/codespaces/secrets", repoScope(func(r *repo) *scope { return r.codespaces }))
	// Environment secrets: go-github uses the repository-id form, GitHub's
	// current documentation the owner/repo form; both are served.
	f.secretRoutes(mux, "/repositories/{id}/environments/{env}/secrets", envByID)
	f.secretRoutes(mux, "/repos/{owner}/{repo}/environments/{env}/secrets", envByName)
	f.secretRoutes(mux, "/orgs/{org}/actions/secrets", orgScope("actions", func(o *owner) *scope { return o.actions }))
	f.secretRoutes(mux, "/orgs/{org}/dependabot/secrets", orgScope("dependabot", func(o *owner) *scope { return o.dependabot }))
	f.secretRoutes(mux, "/orgs/{org}/codespaces/secrets", orgScope("codespaces", func(o *owner) *scope { return o.codespaces }))

	f.variableRoutes(mux, "/repos/{owner}/{repo}/actions/variables", func(r *http.Request) (map[string]*variable, bool) {
		if rp := f.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]; rp != nil {
			return rp.vars, false
		}
		return nil, false
	})
	f.variableRoutes(mux, "/repos/{owner}/{repo}/environments/{env}/variables", func(r *http.Request) (map[string]*variable, bool) {
		if rp := f.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]; rp != nil {
			if e := rp.envs[strings.ToLower(r.PathValue("env"))]; e != nil {
				return e.vars, false
			}
		}
		return nil, false
	})
	f.variableRoutes(mux, "/orgs/{org}/actions/variables", func(r *http.Request) (map[string]*variable, bool) {
		if o := f.orgs[strings.ToLower(r.PathValue("org"))]; o != nil {
			return o.vars, true
		}
		return nil, true
	})
}

func (f *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rp := f.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	if rp == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": rp.id, "name": rp.name, "full_name": rp.owner + "/" + rp.name,
		"owner": map[string]any{"login": rp.owner}, "default_branch": "main",
	})
}

func (f *Server) listEnvironments(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	rp := f.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	if rp == nil {
		f.mu.Unlock()
		notFound(w)
		return
	}
	names := make([]string, 0, len(rp.envs))
	for _, e := range rp.envs {
		names = append(names, e.name)
	}
	f.mu.Unlock()
	sort.Strings(names)
	lo, hi := f.page(w, r, len(names), 100)
	envs := []map[string]any{}
	for i, n := range names[lo:hi] {
		envs = append(envs, map[string]any{"id": 161088068 + lo + i, "name": n})
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(names), "environments": envs})
}

// getContents serves a file (base64, wrapped at 60 columns as GitHub
// does) or a directory listing of the default branch.
func (f *Server) getContents(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rp := f.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	if rp == nil {
		notFound(w)
		return
	}
	p := strings.Trim(r.PathValue("path"), "/")
	if content, ok := rp.files[p]; ok {
		enc := base64.StdEncoding.EncodeToString([]byte(content))
		var wrapped strings.Builder
		for len(enc) > 60 {
			wrapped.WriteString(enc[:60] + "\n")
			enc = enc[60:]
		}
		wrapped.WriteString(enc + "\n")
		writeJSON(w, http.StatusOK, map[string]any{
			"type": "file", "encoding": "base64", "size": len(content),
			"name": p[strings.LastIndex(p, "/")+1:], "path": p, "content": wrapped.String(), "sha": "0",
		})
		return
	}
	var list []map[string]any
	seen := map[string]bool{}
	for fp, content := range rp.files {
		rest, ok := strings.CutPrefix(fp, p+"/")
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rest, "/")
		if seen[name] {
			continue
		}
		seen[name] = true
		typ, size := "file", len(content)
		if isDir {
			typ, size = "dir", 0
		}
		list = append(list, map[string]any{"type": typ, "name": name, "path": p + "/" + name, "size": size, "sha": "0"})
	}
	if list == nil {
		notFound(w)
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i]["name"].(string) < list[j]["name"].(string) })
	writeJSON(w, http.StatusOK, list)
}

func (f *Server) secretRoutes(mux *http.ServeMux, base string, find scopeFunc) {
	mux.HandleFunc("GET "+base, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		sc, org, selURL := find(r)
		if sc == nil {
			f.mu.Unlock()
			notFound(w)
			return
		}
		all := sortedSecrets(sc)
		f.mu.Unlock()
		lo, hi := f.page(w, r, len(all), 100)
		items := []map[string]any{}
		for _, s := range all[lo:hi] {
			items = append(items, secretJSON(s, org, selURL))
		}
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "secrets": items})
	})
	mux.HandleFunc("GET "+base+"/public-key", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		sc, _, _ := find(r)
		if sc == nil {
			notFound(w)
			return
		}
		sc.key.fetches++
		writeJSON(w, http.StatusOK, map[string]string{"key_id": sc.key.id, "key": base64.StdEncoding.EncodeToString(sc.key.pub[:])})
	})
	mux.HandleFunc("GET "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		sc, org, selURL := find(r)
		if sc == nil || sc.secrets[strings.ToUpper(r.PathValue("name"))] == nil {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, secretJSON(sc.secrets[strings.ToUpper(r.PathValue("name"))], org, selURL))
	})
	mux.HandleFunc("PUT "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.putSecret(w, r, find)
	})
	mux.HandleFunc("GET "+base+"/{name}/repositories", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		sc, org, _ := find(r)
		var s *secret
		if sc != nil {
			s = sc.secrets[strings.ToUpper(r.PathValue("name"))]
		}
		if !org || s == nil {
			f.mu.Unlock()
			notFound(w)
			return
		}
		if s.visibility != "selected" {
			f.mu.Unlock()
			writeJSON(w, http.StatusConflict, map[string]string{"message": "The visibility of this secret is not set to 'selected'"})
			return
		}
		ids := append([]int64(nil), s.selected...)
		f.mu.Unlock()
		lo, hi := f.page(w, r, len(ids), 100)
		repos := []map[string]any{}
		for _, id := range ids[lo:hi] {
			repos = append(repos, map[string]any{"id": id, "name": "repo" + strconv.FormatInt(id, 10)})
		}
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(ids), "repositories": repos})
	})
}

func secretJSON(s *secret, org bool, selURL string) map[string]any {
	m := map[string]any{"name": s.name, "created_at": ts(s.created), "updated_at": ts(s.updated)}
	if org {
		m["visibility"] = s.visibility
		if s.visibility == "selected" {
			m["selected_repositories_url"] = selURL + s.name + "/repositories"
		}
	}
	return m
}

// putSecret opens the sealed box with the scope's current key: a write
// with another key id, or one the key cannot open, is refused. An accepted
// write replaces the scope's key.
func (f *Server) putSecret(w http.ResponseWriter, r *http.Request, find scopeFunc) {
	var body struct {
		EncryptedValue string            `json:"encrypted_value"`
		KeyID          string            `json:"key_id"`
		Visibility     string            `json:"visibility"`
		Selected       []json.RawMessage `json:"selected_repository_ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		unprocessable(w, "Invalid request body")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, org, _ := find(r)
	name := strings.ToUpper(r.PathValue("name"))
	if sc == nil {
		notFound(w)
		return
	}
	if body.KeyID != sc.key.id {
		unprocessable(w, "Invalid request.\n\nkey_id does not match the current public key.")
		return
	}
	sealed, err := base64.StdEncoding.DecodeString(body.EncryptedValue)
	if err != nil {
		unprocessable(w, "encrypted_value is not base64")
		return
	}
	plain, ok := box.OpenAnonymous(nil, sealed, &sc.key.pub, &sc.key.priv)
	if !ok {
		unprocessable(w, "encrypted_value could not be decrypted with the public key")
		return
	}
	var ids []int64
	for _, raw := range body.Selected {
		// Dependabot sends ids as strings, the others as numbers.
		var n int64
		var s string
		if json.Unmarshal(raw, &n) != nil {
			if json.Unmarshal(raw, &s) != nil {
				unprocessable(w, "selected_repository_ids must be integers")
				return
			}
			if n, err = strconv.ParseInt(s, 10, 64); err != nil {
				unprocessable(w, "selected_repository_ids must be integers")
				return
			}
		}
		ids = append(ids, n)
	}
	if org {
		switch body.Visibility {
		case "all", "private", "selected":
		default:
			unprocessable(w, "visibility is required: all, private or selected")
			return
		}
		if body.Visibility != "selected" && len(ids) > 0 {
			unprocessable(w, "selected_repository_ids is only allowed with visibility selected")
			return
		}
	}
	sc.key = f.newKey()
	if f.dropPuts {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	now := f.tick()
	s := sc.secrets[name]
	status := http.StatusNoContent
	if s == nil {
		s = &secret{name: name, created: now}
		sc.secrets[name] = s
		status = http.StatusCreated
	}
	s.value, s.updated = plain, now
	if org {
		// The documented PUT sets access from the request: ids left out of
		// a "selected" write leave the secret shared with no repository.
		s.visibility, s.selected = body.Visibility, ids
	}
	if status == http.StatusCreated {
		writeJSON(w, status, map[string]any{})
		return
	}
	w.WriteHeader(status)
}

func (f *Server) variableRoutes(mux *http.ServeMux, base string, find varsFunc) {
	mux.HandleFunc("GET "+base, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		vars, org := find(r)
		if vars == nil {
			f.mu.Unlock()
			notFound(w)
			return
		}
		all := sortedVars(vars)
		f.mu.Unlock()
		lo, hi := f.page(w, r, len(all), 30)
		items := []map[string]any{}
		for _, v := range all[lo:hi] {
			items = append(items, variableJSON(v, org))
		}
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "variables": items})
	})
	mux.HandleFunc("GET "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		vars, org := find(r)
		v := vars[strings.ToUpper(r.PathValue("name"))]
		if v == nil {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, variableJSON(v, org))
	})
	mux.HandleFunc("PATCH "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name       *string `json:"name"`
			Value      *string `json:"value"`
			Visibility *string `json:"visibility"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			unprocessable(w, "Invalid request body")
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		vars, _ := find(r)
		v := vars[strings.ToUpper(r.PathValue("name"))]
		if v == nil {
			notFound(w)
			return
		}
		if body.Value != nil {
			v.value = *body.Value
		}
		if body.Visibility != nil {
			v.visibility = *body.Visibility
		}
		v.updated = f.tick()
		w.WriteHeader(http.StatusNoContent)
	})
}

func variableJSON(v *variable, org bool) map[string]any {
	m := map[string]any{"name": v.name, "value": v.value, "created_at": ts(v.created), "updated_at": ts(v.updated)}
	if org {
		m["visibility"] = v.visibility
	}
	return m
}
