package gitlab

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// variable is a project or group CI/CD variable, whichever the store
// holds.
type variable struct {
	Key, Value, Scope, Description string
	Type                           gl.VariableTypeValue
	Masked, Hidden, Protected, Raw bool
}

func fromProject(v *gl.ProjectVariable) *variable {
	return &variable{v.Key, v.Value, v.EnvironmentScope, v.Description, v.VariableType, v.Masked, v.Hidden, v.Protected, v.Raw}
}

func fromGroup(v *gl.GroupVariable) *variable {
	return &variable{v.Key, v.Value, v.EnvironmentScope, v.Description, v.VariableType, v.Masked, v.Hidden, v.Protected, v.Raw}
}

// entryName is KEY@SCOPE; keys cannot hold "@", so it splits one way.
func entryName(key, scope string) string {
	if scope == "" {
		scope = "*"
	}
	return key + "@" + scope
}

func parseName(name string) (key, scope string, err error) {
	key, scope, ok := strings.Cut(name, "@")
	if !ok || key == "" || scope == "" {
		return "", "", fmt.Errorf("%q is not a GitLab variable address (want KEY@SCOPE, e.g. PERPLEXITY_API_KEY@production or LLM_KEY@*): %w",
			scanner.Scrub(name), providers.ErrNotFound)
	}
	return key, scope, nil
}

// resolve finds whether the path names a project or a group: a single
// segment is a group; a longer path is a project unless no project has it.
func (s *Store) resolve(ctx context.Context) (bool, error) {
	s.mu.Lock()
	group, known := s.group, s.known
	s.mu.Unlock()
	if known {
		return group, nil
	}
	group = !strings.Contains(s.path, "/")
	if !group {
		_, _, err := s.client.Projects.GetProject(s.path, nil, gl.WithContext(ctx))
		if err != nil {
			err = apiError("find project "+s.path, err)
			if !isNotFound(err) {
				return false, err
			}
			group = true
		}
	}
	if group {
		if _, _, err := s.client.Groups.GetGroup(s.path, nil, gl.WithContext(ctx)); err != nil {
			err = apiError("find group "+s.path, err)
			if isNotFound(err) {
				return false, fmt.Errorf("no GitLab project or group %s (or the token cannot see it): %w", s.path, providers.ErrNotFound)
			}
			return false, err
		}
	}
	s.mu.Lock()
	s.group, s.known = group, true
	s.mu.Unlock()
	return group, nil
}

// List calls fn for every variable of every environment scope.
func (s *Store) List(ctx context.Context, fn func(providers.Entry) error) error {
	group, err := s.resolve(ctx)
	if err != nil {
		return err
	}
	opts := gl.ListOptions{PerPage: perPage, Page: 1}
	for {
		var page []*variable
		var resp *gl.Response
		if group {
			var vs []*gl.GroupVariable
			vs, resp, err = s.client.GroupVariables.ListVariables(s.path, &gl.ListGroupVariablesOptions{ListOptions: opts}, gl.WithContext(ctx))
			for _, v := range vs {
				page = append(page, fromGroup(v))
			}
		} else {
			var vs []*gl.ProjectVariable
			vs, resp, err = s.client.ProjectVariables.ListVariables(s.path, &gl.ListProjectVariablesOptions{ListOptions: opts}, gl.WithContext(ctx))
			for _, v := range vs {
				page = append(page, fromProject(v))
			}
		}
		if err != nil {
			return apiError("list variables of "+s.path, err)
		}
		for _, v := range page {
			if !s.applies(v.Scope) {
				continue
			}
			if err := fn(s.entry(v)); err != nil {
				return err
			}
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

// applies reports whether a variable of scope applies to one of the
// environments to list: GitLab scopes are environment names where "*"
// matches any run of characters.
func (s *Store) applies(scope string) bool {
	if len(s.opts.Environments) == 0 {
		return true
	}
	quoted := strings.Split(scope, "*")
	for i, part := range quoted {
		quoted[i] = regexp.QuoteMeta(part)
	}
	re, err := regexp.Compile("^" + strings.Join(quoted, ".*") + "$")
	if err != nil {
		return true
	}
	return slices.ContainsFunc(s.opts.Environments, re.MatchString)
}

func (s *Store) entry(v *variable) providers.Entry {
	name := entryName(v.Key, v.Scope)
	e := providers.Entry{Name: name, URI: s.uri(name), Kind: scanner.KindGitLabCI}
	if v.Hidden {
		// GitLab never shows a hidden variable's value: like a GitHub
		// secret, it is presumed to hold a key when its name says so.
		if p := match(s.opts.Patterns, v.Key); p != "" {
			e.Presumed = "name contains " + strings.ToUpper(p) + "; hidden variable"
		}
		return e
	}
	e.Value = []byte(v.Value)
	return e
}

func match(patterns []string, name string) string {
	up := strings.ToUpper(name)
	for _, p := range patterns {
		if p != "" && strings.Contains(up, strings.ToUpper(p)) {
			return p
		}
	}
	return ""
}

// Get reads the variable KEY@SCOPE. A hidden variable comes back without a
// value.
func (s *Store) Get(ctx context.Context, name string) (providers.Entry, error) {
	v, err := s.get(ctx, name)
	if err != nil {
		return providers.Entry{}, err
	}
	return s.entry(v), nil
}

func (s *Store) get(ctx context.Context, name string) (*variable, error) {
	key, scope, err := parseName(name)
	if err != nil {
		return nil, err
	}
	group, err := s.resolve(ctx)
	if err != nil {
		return nil, err
	}
	filter := &gl.VariableFilter{EnvironmentScope: scope}
	var v *variable
	if group {
		var gv *gl.GroupVariable
		gv, _, err = s.client.GroupVariables.GetVariable(s.path, key, &gl.GetGroupVariableOptions{Filter: filter}, gl.WithContext(ctx))
		if err == nil {
			v = fromGroup(gv)
		}
	} else {
		var pv *gl.ProjectVariable
		pv, _, err = s.client.ProjectVariables.GetVariable(s.path, key, &gl.GetProjectVariableOptions{Filter: filter}, gl.WithContext(ctx))
		if err == nil {
			v = fromProject(pv)
		}
	}
	if err != nil {
		return nil, apiError("get variable "+scanner.Scrub(name), err)
	}
	// An instance that ignores the filter (before GitLab 16.9, or a tier
	// without scopes) answers with whichever variable has the key.
	if entryName(v.Key, v.Scope) != entryName(key, scope) {
		return nil, fmt.Errorf("get variable %s: GitLab answered with scope %q: %w", scanner.Scrub(name), v.Scope, providers.ErrNotFound)
	}
	return v, nil
}

// Put replaces the value of the existing variable KEY@SCOPE (never creates
// one): the update is filtered by environment scope and restates the
// variable's type, masked, protected, raw and description settings, so
// nothing but the value changes. The write is confirmed by reading the
// variable back, or, for a hidden variable whose value cannot be read, by
// GitLab's answer to the update alone.
func (s *Store) Put(ctx context.Context, name string, value []byte) (providers.Entry, error) {
	cur, err := s.get(ctx, name)
	if err != nil {
		return providers.Entry{}, err
	}
	name = entryName(cur.Key, cur.Scope)
	group, err := s.resolve(ctx)
	if err != nil {
		return providers.Entry{}, err
	}
	val := string(value)
	filter := &gl.VariableFilter{EnvironmentScope: cur.Scope}
	var desc *string
	if cur.Description != "" {
		desc = &cur.Description
	}
	var updated *variable
	if group {
		var gv *gl.GroupVariable
		gv, _, err = s.client.GroupVariables.UpdateVariable(s.path, cur.Key, &gl.UpdateGroupVariableOptions{
			Value: &val, Filter: filter, Description: desc, VariableType: &cur.Type,
			Masked: &cur.Masked, Protected: &cur.Protected, Raw: &cur.Raw,
		}, gl.WithContext(ctx))
		if err == nil {
			updated = fromGroup(gv)
		}
	} else {
		var pv *gl.ProjectVariable
		pv, _, err = s.client.ProjectVariables.UpdateVariable(s.path, cur.Key, &gl.UpdateProjectVariableOptions{
			Value: &val, Filter: filter, Description: desc, VariableType: &cur.Type,
			Masked: &cur.Masked, Protected: &cur.Protected, Raw: &cur.Raw,
		}, gl.WithContext(ctx))
		if err == nil {
			updated = fromProject(pv)
		}
	}
	if err != nil {
		return providers.Entry{}, apiError("update variable "+scanner.Scrub(name), err)
	}
	if updated.Key != cur.Key || entryName(updated.Key, updated.Scope) != name {
		return providers.Entry{}, fmt.Errorf("update variable %s: GitLab answered for %s", name, entryName(updated.Key, updated.Scope))
	}
	after, err := s.get(ctx, name)
	if err != nil {
		return providers.Entry{}, fmt.Errorf("read back %s: %w", name, err)
	}
	if after.Masked != cur.Masked || after.Protected != cur.Protected || after.Raw != cur.Raw || after.Description != cur.Description || after.Type != cur.Type {
		return providers.Entry{}, fmt.Errorf("read back %s: its settings changed with the update", name)
	}
	if !after.Hidden && after.Value != val {
		return providers.Entry{}, fmt.Errorf("read back %s: it does not hold the value written", name)
	}
	return s.entry(after), nil
}

func isNotFound(err error) bool { return errors.Is(err, providers.ErrNotFound) }
