package github

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	gh "github.com/google/go-github/v84/github"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// Page sizes: GitHub serves at most 100 secrets and 30 variables a page.
const (
	secretsPerPage   = 100
	variablesPerPage = 30
)

// workflowDir is where GitHub Actions workflows live.
const workflowDir = ".github/workflows"

// List calls fn for every secret and variable in the store: for a
// repository its Actions, environment, Dependabot and Codespaces secrets
// and its repository and environment variables; for an organization its
// Actions, Dependabot and Codespaces secrets and its variables. Workflows
// are read first so each secret carries its Presumed reasons. A scope that
// cannot be listed is passed as one entry with Err set; only an unreachable
// repository ends the listing.
func (s *Store) List(ctx context.Context, fn func(providers.Entry) error) error {
	if s.repo == "" {
		return s.listOrg(ctx, fn)
	}
	if _, err := s.repositoryID(ctx); err != nil {
		return err
	}
	if err := s.loadWorkflows(ctx, fn); err != nil {
		return err
	}
	scopes := []struct {
		name string
		list func(context.Context, func(providers.Entry) error) error
	}{
		{"actions/", s.listSecrets(kindActions, "", s.client.Actions.ListRepoSecrets)},
		{"env/", s.listEnvironments},
		{"dependabot/", s.listSecrets(kindDependabot, "", s.client.Dependabot.ListRepoSecrets)},
		{"codespaces/", s.listSecrets(kindCodespaces, "", s.client.Codespaces.ListRepoSecrets)},
		{"variables/", s.listVariables(kindVariable, "", s.client.Actions.ListRepoVariables)},
	}
	for _, sc := range scopes {
		if err := s.scope(ctx, sc.name, sc.list, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) listOrg(ctx context.Context, fn func(providers.Entry) error) error {
	org := func(list func(context.Context, string, *gh.ListOptions) (*gh.Secrets, *gh.Response, error)) func(context.Context, string, string, *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
		return func(ctx context.Context, owner, _ string, opts *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
			return list(ctx, owner, opts)
		}
	}
	orgVars := func(ctx context.Context, owner, _ string, opts *gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error) {
		return s.client.Actions.ListOrgVariables(ctx, owner, opts)
	}
	scopes := []struct {
		name string
		list func(context.Context, func(providers.Entry) error) error
	}{
		{"actions/", s.listSecrets(kindActions, "", org(s.client.Actions.ListOrgSecrets))},
		{"dependabot/", s.listSecrets(kindDependabot, "", org(s.client.Dependabot.ListOrgSecrets))},
		{"codespaces/", s.listSecrets(kindCodespaces, "", org(s.client.Codespaces.ListOrgSecrets))},
		{"variables/", s.listVariables(kindVariable, "", orgVars)},
	}
	for _, sc := range scopes {
		if err := s.scope(ctx, sc.name, sc.list, fn); err != nil {
			return err
		}
	}
	return nil
}

// scope runs one scope's listing, turning its failure into an entry with
// Err so the others are still listed. Dependabot and Codespaces answer 404
// where they do not exist (GitHub Enterprise Server without them): nothing
// to list there.
func (s *Store) scope(ctx context.Context, name string, list func(context.Context, func(providers.Entry) error) error, fn func(providers.Entry) error) error {
	var stop error
	err := list(ctx, func(e providers.Entry) error {
		if stop = fn(e); stop != nil {
			return stop
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case stop != nil && errors.Is(err, stop):
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	case isNotFound(err) && (name == "dependabot/" || name == "codespaces/"):
		return nil
	}
	return fn(providers.Entry{Name: name, URI: s.uri(name), Kind: scanner.KindGitHubActions, Err: err})
}

type secretLister func(ctx context.Context, owner, repo string, opts *gh.ListOptions) (*gh.Secrets, *gh.Response, error)

func (s *Store) listSecrets(k kind, env string, list secretLister) func(context.Context, func(providers.Entry) error) error {
	return func(ctx context.Context, fn func(providers.Entry) error) error {
		return s.paginate(ctx, "list "+ref{kind: k, env: env}.scopeName()+" secrets", secretsPerPage, func(ctx context.Context, opts *gh.ListOptions) (*gh.Response, error) {
			got, resp, err := list(ctx, s.owner, s.repo, opts)
			if err != nil {
				return resp, err
			}
			for _, sec := range got.Secrets {
				if err := fn(s.secretEntry(ref{kind: k, env: env, name: strings.ToUpper(sec.Name)}, sec)); err != nil {
					return nil, err
				}
			}
			return resp, nil
		})
	}
}

type variableLister func(ctx context.Context, owner, repo string, opts *gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error)

func (s *Store) listVariables(k kind, env string, list variableLister) func(context.Context, func(providers.Entry) error) error {
	return func(ctx context.Context, fn func(providers.Entry) error) error {
		return s.paginate(ctx, "list "+ref{kind: k, env: env}.scopeName()+" variables", variablesPerPage, func(ctx context.Context, opts *gh.ListOptions) (*gh.Response, error) {
			got, resp, err := list(ctx, s.owner, s.repo, opts)
			if err != nil {
				return resp, err
			}
			for _, v := range got.Variables {
				if err := fn(s.variableEntry(ref{kind: k, env: env, name: strings.ToUpper(v.Name)}, v)); err != nil {
					return nil, err
				}
			}
			return resp, nil
		})
	}
}

// listEnvironments lists every environment's secrets and variables.
func (s *Store) listEnvironments(ctx context.Context, fn func(providers.Entry) error) error {
	var envs []string
	err := s.paginate(ctx, "list environments", secretsPerPage, func(ctx context.Context, opts *gh.ListOptions) (*gh.Response, error) {
		got, resp, err := s.client.Repositories.ListEnvironments(ctx, s.owner, s.repo, &gh.EnvironmentListOptions{ListOptions: *opts})
		if err != nil {
			return resp, err
		}
		for _, e := range got.Environments {
			if s.wantEnv(e.GetName()) {
				envs = append(envs, e.GetName())
			}
		}
		return resp, nil
	})
	if err != nil {
		return err
	}
	id, err := s.repositoryID(ctx)
	if err != nil {
		return err
	}
	for _, env := range envs {
		envSecrets := func(ctx context.Context, _, _ string, opts *gh.ListOptions) (*gh.Secrets, *gh.Response, error) {
			return s.client.Actions.ListEnvSecrets(ctx, id, escapeEnv(env), opts)
		}
		envVars := func(ctx context.Context, owner, repo string, opts *gh.ListOptions) (*gh.ActionsVariables, *gh.Response, error) {
			return s.client.Actions.ListEnvVariables(ctx, owner, repo, escapeEnv(env), opts)
		}
		prefix := "env/" + ref{env: env}.escapedEnv() + "/"
		if err := s.scope(ctx, prefix, s.listSecrets(kindEnv, env, envSecrets), fn); err != nil {
			return err
		}
		if err := s.scope(ctx, prefix+"variables/", s.listVariables(kindEnvVariable, env, envVars), fn); err != nil {
			return err
		}
	}
	return nil
}

// wantEnv reports whether an environment is among those to list.
func (s *Store) wantEnv(name string) bool {
	if len(s.opts.Environments) == 0 {
		return true
	}
	return slices.ContainsFunc(s.opts.Environments, func(e string) bool { return strings.EqualFold(e, name) })
}

func (s *Store) secretEntry(r ref, sec *gh.Secret) providers.Entry {
	return providers.Entry{
		Name:     r.String(),
		URI:      s.uri(r.String()),
		Kind:     scanner.KindGitHubActions,
		Updated:  sec.UpdatedAt.Time,
		Presumed: s.presumed(r),
	}
}

func (s *Store) variableEntry(r ref, v *gh.ActionsVariable) providers.Entry {
	e := providers.Entry{
		Name:  r.String(),
		URI:   s.uri(r.String()),
		Kind:  scanner.KindGitHubActions,
		Value: []byte(v.Value),
	}
	if v.UpdatedAt != nil {
		e.Updated = v.UpdatedAt.Time
	}
	return e
}

// loadWorkflows reads .github/workflows/*.yml|yaml of the default branch
// through the contents API and records which secrets they hand to
// Perplexity. A file that cannot be read or parsed is passed as an entry
// with Err (the scan is then partial: a signal may be missing).
func (s *Store) loadWorkflows(ctx context.Context, fn func(providers.Entry) error) error {
	var dir []*gh.RepositoryContent
	err := s.do(ctx, "list "+workflowDir, func(ctx context.Context) (*gh.Response, error) {
		_, d, resp, err := s.client.Repositories.GetContents(ctx, s.owner, s.repo, workflowDir, nil)
		dir = d
		return resp, err
	})
	if err != nil && !isNotFound(err) {
		return fn(providers.Entry{Name: workflowDir, URI: s.uri(workflowDir), Kind: scanner.KindGitHubActions, Err: err})
	}
	var parsed []*Workflow
	for _, item := range dir {
		name := item.GetName()
		if item.GetType() != "file" || (path.Ext(name) != ".yml" && path.Ext(name) != ".yaml") {
			continue
		}
		w, err := s.readWorkflow(ctx, item.GetPath())
		if err != nil {
			if err := fn(providers.Entry{Name: item.GetPath(), URI: s.uri(item.GetPath()), Kind: scanner.KindGitHubActions, Err: err}); err != nil {
				return err
			}
			continue
		}
		parsed = append(parsed, w)
	}
	uses := map[string][]Use{}
	for _, u := range Resolve(parsed) {
		uses[u.Secret] = append(uses[u.Secret], u)
	}
	s.mu.Lock()
	s.workflow = uses
	s.mu.Unlock()
	return nil
}

func (s *Store) readWorkflow(ctx context.Context, file string) (*Workflow, error) {
	var fc *gh.RepositoryContent
	err := s.do(ctx, "read "+file, func(ctx context.Context) (*gh.Response, error) {
		f, _, resp, err := s.client.Repositories.GetContents(ctx, s.owner, s.repo, file, nil)
		fc = f
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	if fc == nil {
		return nil, fmt.Errorf("read %s: not a file", file)
	}
	text, err := fc.GetContent()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, scanner.ScrubError(err))
	}
	return ParseWorkflow(file, []byte(text), s.match)
}

// scopeName names a scope in messages: "repository Actions", "environment
// production".
func (r ref) scopeName() string {
	switch r.kind {
	case kindEnv, kindEnvVariable:
		return "environment " + r.env
	case kindDependabot:
		return "Dependabot"
	case kindCodespaces:
		return "Codespaces"
	default:
		return "Actions"
	}
}

func (r ref) escapedEnv() string { return escapeEnv(r.env) }
