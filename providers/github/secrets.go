package github

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	gh "github.com/google/go-github/v84/github"
	"golang.org/x/crypto/nacl/box"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// Get reads one entry: a secret's metadata (Value nil, Updated set) or a
// variable's value. ErrNotFound when absent.
func (s *Store) Get(ctx context.Context, name string) (providers.Entry, error) {
	r, err := parseRef(name, s.repo == "")
	if err != nil {
		return providers.Entry{}, err
	}
	if r.isVariable() {
		v, err := s.getVariable(ctx, r)
		if err != nil {
			return providers.Entry{}, err
		}
		return s.variableEntry(r, v), nil
	}
	sec, err := s.getSecret(ctx, r)
	if err != nil {
		return providers.Entry{}, err
	}
	return s.secretEntry(r, sec), nil
}

// Put replaces an existing entry's value; it never creates one (ErrNotFound
// when absent), so a mistyped name cannot plant a key somewhere new.
//
// A secret is sealed for its scope's current public key and written with
// that key's id, and the write is confirmed by updated_at advancing (the
// value cannot be read back). Organization secrets keep their visibility
// and selected repositories. A variable is confirmed by reading it back.
func (s *Store) Put(ctx context.Context, name string, value []byte) (providers.Entry, error) {
	r, err := parseRef(name, s.repo == "")
	if err != nil {
		return providers.Entry{}, err
	}
	if r.isVariable() {
		return s.putVariable(ctx, r, value)
	}
	before, err := s.getSecret(ctx, r)
	if err != nil {
		return providers.Entry{}, err
	}
	enc := &gh.EncryptedSecret{Name: r.name}
	if s.repo == "" {
		enc.Visibility = before.Visibility
		if before.Visibility == "selected" {
			if enc.SelectedRepositoryIDs, err = s.selectedRepos(ctx, r); err != nil {
				return providers.Entry{}, err
			}
		}
	}
	key, err := s.publicKey(ctx, r)
	if err != nil {
		return providers.Entry{}, err
	}
	if enc.EncryptedValue, err = seal(value, key.GetKey()); err != nil {
		return providers.Entry{}, fmt.Errorf("seal %s: %w", r, err)
	}
	enc.KeyID = key.GetKeyID()
	if err := s.putSecret(ctx, r, enc); err != nil {
		return providers.Entry{}, err
	}
	after, err := s.getSecret(ctx, r)
	if err != nil {
		return providers.Entry{}, fmt.Errorf("confirm the write of %s: %w", r, err)
	}
	if !after.UpdatedAt.After(before.UpdatedAt.Time) {
		return providers.Entry{}, fmt.Errorf("wrote %s but its updated_at did not advance past %s: the write is not confirmed (GitHub never returns the value itself)",
			r, before.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return s.secretEntry(r, after), nil
}

// seal encrypts value for GitHub: an anonymous sealed box (libsodium's
// crypto_box_seal) for the scope's Curve25519 public key, base64-encoded.
func seal(value []byte, publicKey string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("GitHub's public key is not 32 base64-encoded bytes")
	}
	var pk [32]byte
	copy(pk[:], raw)
	sealed, err := box.SealAnonymous(nil, value, &pk, rand.Reader)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sealed), nil
}

// apiCall adapts a go-github call returning a value to do.
func apiCall[T any](ctx context.Context, s *Store, what string, f func(ctx context.Context) (T, *gh.Response, error)) (T, error) {
	var out T
	err := s.do(ctx, what, func(ctx context.Context) (*gh.Response, error) {
		v, resp, err := f(ctx)
		out = v
		return resp, err
	})
	return out, err
}

func (s *Store) getSecret(ctx context.Context, r ref) (*gh.Secret, error) {
	org := s.repo == ""
	what := "get secret " + scanner.Scrub(r.String())
	switch {
	case r.kind == kindEnv:
		id, err := s.repositoryID(ctx)
		if err != nil {
			return nil, err
		}
		return apiCall(ctx, s, what, func(ctx context.Context) (*gh.Secret, *gh.Response, error) {
			return s.client.Actions.GetEnvSecret(ctx, id, escapeEnv(r.env), r.name)
		})
	case r.kind == kindDependabot && org:
		return apiCall(ctx, s, what, func(ctx context.Context) (*gh.Secret, *gh.Response, error) {
			return s.client.Dependabot.GetOrgSecret(ctx, s.owner, r.name)
		})
	case r.kind == kindDependabot:
		return apiCall(ctx, s, what, func(ctx context.Context) (*gh.Secret, *gh.Response, error) {
			return s.client.Dependabot.GetRepoSecret(ctx, s.owner, s.repo, r.name)
		})
	case r.kind == kindCodespaces && org:
		return apiCall(ctx, s, what, func(ctx context.Context) (*gh.Secret, *gh.Response, error) {
			return s.client.Codespaces.GetOrgSecret(ctx, s.owner, r.name)
		})
	case r.kind == kindCodespaces:
		return apiCall(ctx, s, what, func(ctx context.Context) (*gh.Secret, *gh.Response, error) {
			return s.client.Codespaces.GetRepoSecret(ctx, s.owner, s.repo, r.name)
		})
	case org:
		return apiCall(ctx, s, what, func(ctx context.Context) (*gh.Secret, *gh.Response, error) {
			return s.client.Actions.GetOrgSecret(ctx, s.owner, r.name)
		})
	default:
		return apiCall(ctx, s, what, func(ctx context.Context) (*gh.Secret, *gh.Response, error) {
			return s.client.Actions.GetRepoSecret(ctx, s.owner, s.repo, r.name)
		})
	}
}

// publicKey fetches the public key of r's scope, fresh for every write:
// GitHub may rotate it, and each scope has its own.
func (s *Store) publicKey(ctx context.Context, r ref) (*gh.PublicKey, error) {
	org := s.repo == ""
	what := "get the " + r.scopeName() + " public key"
	get := func(f func(ctx context.Context) (*gh.PublicKey, *gh.Response, error)) (*gh.PublicKey, error) {
		return apiCall(ctx, s, what, f)
	}
	switch {
	case r.kind == kindEnv:
		id, err := s.repositoryID(ctx)
		if err != nil {
			return nil, err
		}
		return get(func(ctx context.Context) (*gh.PublicKey, *gh.Response, error) {
			return s.client.Actions.GetEnvPublicKey(ctx, id, escapeEnv(r.env))
		})
	case r.kind == kindDependabot && org:
		return get(func(ctx context.Context) (*gh.PublicKey, *gh.Response, error) {
			return s.client.Dependabot.GetOrgPublicKey(ctx, s.owner)
		})
	case r.kind == kindDependabot:
		return get(func(ctx context.Context) (*gh.PublicKey, *gh.Response, error) {
			return s.client.Dependabot.GetRepoPublicKey(ctx, s.owner, s.repo)
		})
	case r.kind == kindCodespaces && org:
		return get(func(ctx context.Context) (*gh.PublicKey, *gh.Response, error) {
			return s.client.Codespaces.GetOrgPublicKey(ctx, s.owner)
		})
	case r.kind == kindCodespaces:
		return get(func(ctx context.Context) (*gh.PublicKey, *gh.Response, error) {
			return s.client.Codespaces.GetRepoPublicKey(ctx, s.owner, s.repo)
		})
	case org:
		return get(func(ctx context.Context) (*gh.PublicKey, *gh.Response, error) {
			return s.client.Actions.GetOrgPublicKey(ctx, s.owner)
		})
	default:
		return get(func(ctx context.Context) (*gh.PublicKey, *gh.Response, error) {
			return s.client.Actions.GetRepoPublicKey(ctx, s.owner, s.repo)
		})
	}
}

func (s *Store) putSecret(ctx context.Context, r ref, enc *gh.EncryptedSecret) error {
	org := s.repo == ""
	return s.do(ctx, "write secret "+r.String(), func(ctx context.Context) (*gh.Response, error) {
		switch {
		case r.kind == kindEnv:
			id, err := s.repositoryID(ctx)
			if err != nil {
				return nil, err
			}
			return s.client.Actions.CreateOrUpdateEnvSecret(ctx, id, escapeEnv(r.env), enc)
		case r.kind == kindDependabot:
			d := &gh.DependabotEncryptedSecret{
				Name: enc.Name, KeyID: enc.KeyID, EncryptedValue: enc.EncryptedValue,
				Visibility: enc.Visibility, SelectedRepositoryIDs: gh.DependabotSecretsSelectedRepoIDs(enc.SelectedRepositoryIDs),
			}
			if org {
				return s.client.Dependabot.CreateOrUpdateOrgSecret(ctx, s.owner, d)
			}
			return s.client.Dependabot.CreateOrUpdateRepoSecret(ctx, s.owner, s.repo, d)
		case r.kind == kindCodespaces && org:
			return s.client.Codespaces.CreateOrUpdateOrgSecret(ctx, s.owner, enc)
		case r.kind == kindCodespaces:
			return s.client.Codespaces.CreateOrUpdateRepoSecret(ctx, s.owner, s.repo, enc)
		case org:
			return s.client.Actions.CreateOrUpdateOrgSecret(ctx, s.owner, enc)
		default:
			return s.client.Actions.CreateOrUpdateRepoSecret(ctx, s.owner, s.repo, enc)
		}
	})
}

// selectedRepos lists the repositories an organization secret with
// visibility "selected" is shared with, so the write keeps them.
func (s *Store) selectedRepos(ctx context.Context, r ref) (gh.SelectedRepoIDs, error) {
	var ids gh.SelectedRepoIDs
	err := s.paginate(ctx, "list the repositories of "+r.String(), secretsPerPage, func(ctx context.Context, opts *gh.ListOptions) (*gh.Response, error) {
		var list *gh.SelectedReposList
		var resp *gh.Response
		var err error
		switch r.kind {
		case kindDependabot:
			list, resp, err = s.client.Dependabot.ListSelectedReposForOrgSecret(ctx, s.owner, r.name, opts)
		case kindCodespaces:
			list, resp, err = s.client.Codespaces.ListSelectedReposForOrgSecret(ctx, s.owner, r.name, opts)
		default:
			list, resp, err = s.client.Actions.ListSelectedReposForOrgSecret(ctx, s.owner, r.name, opts)
		}
		if err != nil {
			return resp, err
		}
		for _, repo := range list.Repositories {
			ids = append(ids, repo.GetID())
		}
		return resp, nil
	})
	return ids, err
}

func (s *Store) getVariable(ctx context.Context, r ref) (*gh.ActionsVariable, error) {
	what := "get variable " + scanner.Scrub(r.String())
	return apiCall(ctx, s, what, func(ctx context.Context) (*gh.ActionsVariable, *gh.Response, error) {
		switch {
		case r.kind == kindEnvVariable:
			return s.client.Actions.GetEnvVariable(ctx, s.owner, s.repo, escapeEnv(r.env), r.name)
		case s.repo == "":
			return s.client.Actions.GetOrgVariable(ctx, s.owner, r.name)
		default:
			return s.client.Actions.GetRepoVariable(ctx, s.owner, s.repo, r.name)
		}
	})
}

// putVariable updates an existing variable (PATCH: visibility and selected
// repositories of an organization variable stay as they are) and reads it
// back.
func (s *Store) putVariable(ctx context.Context, r ref, value []byte) (providers.Entry, error) {
	if _, err := s.getVariable(ctx, r); err != nil {
		return providers.Entry{}, err
	}
	v := &gh.ActionsVariable{Name: r.name, Value: string(value)}
	err := s.do(ctx, "write variable "+r.String(), func(ctx context.Context) (*gh.Response, error) {
		switch {
		case r.kind == kindEnvVariable:
			return s.client.Actions.UpdateEnvVariable(ctx, s.owner, s.repo, escapeEnv(r.env), v)
		case s.repo == "":
			return s.client.Actions.UpdateOrgVariable(ctx, s.owner, v)
		default:
			return s.client.Actions.UpdateRepoVariable(ctx, s.owner, s.repo, v)
		}
	})
	if err != nil {
		return providers.Entry{}, err
	}
	after, err := s.getVariable(ctx, r)
	if err != nil {
		return providers.Entry{}, fmt.Errorf("read back %s: %w", r, err)
	}
	if !bytes.Equal([]byte(after.Value), value) {
		return providers.Entry{}, fmt.Errorf("read back %s: it does not hold the value written", r)
	}
	return s.variableEntry(r, after), nil
}
