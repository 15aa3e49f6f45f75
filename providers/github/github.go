// Package github is the GitHub store: Actions, environment, Dependabot and
// Codespaces secrets and Actions variables of a repository
// (github://OWNER/REPO) or an organization (github://ORG), through the
// official go-github client.
//
// GitHub never returns a secret's value, so secrets are listed by name and
// updated_at only, and each is judged to hold a Perplexity key by two
// signals: its name (PERPLEXITY or PPLX, configurable) and the repository's
// workflows, parsed for secrets handed to an environment variable, input or
// reusable-workflow secret whose name says Perplexity. Variables are
// readable and scanned by value like any store.
//
// A secret is rotated by sealing the new value for the scope's own public
// key (repository, environment, organization, Dependabot and Codespaces
// each have theirs) and writing it with that key's id; the write is
// confirmed by updated_at advancing, since the value itself can never be
// read back. A variable is confirmed by reading it back.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/internal/safeurl"
)

// Scheme is the store's URI scheme.
const Scheme = "github"

// The environment rekey reads its GitHub settings from: the token as gh and
// GitHub Actions name it, and the API URL Actions sets (on GitHub
// Enterprise Server it is https://HOST/api/v3).
const (
	TokenEnv     = "GITHUB_TOKEN" //nolint:gosec // a variable's name, not a credential
	AltTokenEnv  = "GH_TOKEN"
	APIURLEnv    = "GITHUB_API_URL"
	DefaultAPI   = "https://api.github.com/"
	defaultWait  = 60 * time.Second
	defaultTries = 5
)

// Options configure a Store; the zero value reads the environment.
type Options struct {
	// Token authenticates; "" means $GITHUB_TOKEN, then $GH_TOKEN.
	Token string
	// BaseURL of the REST API; "" means $GITHUB_API_URL or api.github.com.
	// Plain http is accepted for loopback hosts only (test servers).
	BaseURL string
	// HTTPClient carries the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	// Patterns are the name fragments that say Perplexity; nil means
	// DefaultPatterns.
	Patterns []string
	// Environments, when set, limits the environments listed (names
	// compared case-insensitively, as GitHub does); repository and
	// organization scopes are always listed.
	Environments []string
	// MaxAttempts bounds the attempts of one call, retries included; 0
	// means 5.
	MaxAttempts int
	// MaxWait is the longest wait rekey sits out when GitHub asks it to slow
	// down; a longer one fails the call as throttled. 0 means 60 s.
	MaxWait time.Duration

	// sleep waits between attempts; tests replace it to record waits.
	sleep func(ctx context.Context, d time.Duration) error
}

// Store is one repository's or organization's secrets and variables.
type Store struct {
	client *gh.Client
	owner  string // the repository's owner, or the organization
	repo   string // "" for an organization store
	match  Matcher
	opts   Options

	mu       sync.Mutex
	repoID   int64
	workflow map[string][]Use // secret name -> uses; nil until listed
}

var (
	_ providers.Provider  = (*Store)(nil)
	_ providers.WriteOnly = (*Store)(nil)
)

// Open is the providers.Opener for github://OWNER/REPO and github://ORG.
// The query may set name_patterns=A,B (name fragments that say Perplexity,
// besides PERPLEXITY and PPLX), environments=E1,E2 (list only these
// environments' secrets and variables) and concurrency=N (accepted for
// every store; GitHub asks clients to make requests one at a time, so this
// store never makes more than one).
func Open(_ context.Context, u *url.URL) (providers.Provider, error) {
	target := u.Host
	if p := strings.Trim(u.Path, "/"); p != "" {
		target += "/" + p
	}
	var o Options
	for k, v := range u.Query() {
		switch k {
		case "name_patterns":
			// Added to the defaults: configuring one more name must not
			// stop PERPLEXITY and PPLX from counting.
			o.Patterns = append(slices.Clip(DefaultPatterns), splitList(v)...)
		case "environments":
			o.Environments = splitList(v)
		case "concurrency":
			if n, err := strconv.Atoi(v[len(v)-1]); err != nil || n < 1 {
				return nil, fmt.Errorf("concurrency=%q: want a positive number", v[len(v)-1])
			}
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: name_patterns, environments, concurrency)", k)
		}
	}
	return New(target, o)
}

// splitList reads comma-separated query values.
func splitList(values []string) []string {
	var out []string
	for _, part := range strings.Split(strings.Join(values, ","), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// New opens the store for target, "OWNER/REPO" or "ORG".
func New(target string, o Options) (*Store, error) {
	parts := strings.Split(target, "/")
	if len(parts) > 2 || parts[0] == "" || (len(parts) == 2 && parts[1] == "") {
		return nil, fmt.Errorf("want github://OWNER/REPO or github://ORG, not github://%s", target)
	}
	if o.Token == "" {
		o.Token = os.Getenv(TokenEnv)
	}
	if o.Token == "" {
		o.Token = os.Getenv(AltTokenEnv)
	}
	if o.Token == "" {
		return nil, fmt.Errorf("no GitHub token: set %s or %s", TokenEnv, AltTokenEnv)
	}
	if o.BaseURL == "" {
		o.BaseURL = os.Getenv(APIURLEnv)
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultAPI
	}
	base, err := apiURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Patterns == nil {
		o.Patterns = DefaultPatterns
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultTries
	}
	if o.MaxWait <= 0 {
		o.MaxWait = defaultWait
	}
	if o.sleep == nil {
		o.sleep = sleep
	}
	c := gh.NewClient(o.HTTPClient).WithAuthToken(o.Token)
	c.BaseURL = base
	c.UserAgent = "rekey"
	// rekey waits out rate limits itself, within a bound (do); the
	// client's own pre-emptive refusal would only get in the way.
	c.DisableRateLimitCheck = true
	s := &Store{client: c, owner: parts[0], match: Matcher(o.Patterns), opts: o}
	if len(parts) == 2 {
		s.repo = parts[1]
	}
	return s, nil
}

// apiURL checks the API base URL: https, or http to a loopback test
// server; with the trailing slash go-github needs.
func apiURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("GitHub API URL %q is not a URL (want https://api.github.com or https://HOST/api/v3)", raw)
	}
	if !safeurl.Secure(u) {
		return nil, fmt.Errorf("GitHub API URL %q: only https is allowed (plain http only to this machine)", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// Name is the URI scheme.
func (s *Store) Name() string { return Scheme }

// WriteOnly reports that the store's secrets cannot be read back: they are
// verified by updated_at advancing. Its variables (entries with a Value)
// are readable and verified by read-back.
func (s *Store) WriteOnly() bool { return true }

// target is "OWNER/REPO" or "ORG".
func (s *Store) target() string {
	if s.repo == "" {
		return s.owner
	}
	return s.owner + "/" + s.repo
}

func (s *Store) uri(name string) string { return Scheme + "://" + s.target() + "/" + name }

// repositoryID is the numeric id environment secret endpoints want.
func (s *Store) repositoryID(ctx context.Context) (int, error) {
	s.mu.Lock()
	id := s.repoID
	s.mu.Unlock()
	if id != 0 {
		return int(id), nil
	}
	var repo *gh.Repository
	err := s.do(ctx, "get repository "+s.target(), func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		repo, resp, err = s.client.Repositories.Get(ctx, s.owner, s.repo)
		return resp, err
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.repoID = repo.GetID()
	s.mu.Unlock()
	return int(repo.GetID()), nil
}

// presumed says why the secret named by r is believed to hold a key: its
// name, and the workflow uses of its name when they are known.
func (s *Store) presumed(r ref) string {
	if r.isVariable() {
		return ""
	}
	var reasons []string
	if p := s.match.Match(r.name); p != "" {
		reasons = append(reasons, "name contains "+strings.ToUpper(p))
	}
	if r.kind != kindCodespaces {
		s.mu.Lock()
		uses := s.workflow[r.name]
		s.mu.Unlock()
		const most = 3
		for i, u := range uses {
			if i == most {
				reasons = append(reasons, fmt.Sprintf("and %d more workflow uses", len(uses)-most))
				break
			}
			reasons = append(reasons, u.String())
		}
	}
	return strings.Join(reasons, "; ")
}

// isNotFound reports whether err is the store's not-found.
func isNotFound(err error) bool { return errors.Is(err, providers.ErrNotFound) }
