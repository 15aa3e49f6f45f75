// Package gitlab is the GitLab store: the CI/CD variables of a project
// (gitlab://GROUP/PROJECT, nested groups allowed) or a group
// (gitlab://GROUP), every environment scope, through GitLab's official Go
// client.
//
// Variable values are readable and scanned like any store, masked ones
// included. Hidden variables ("masked and hidden") never return their
// value: like GitHub secrets they are reported by name, when the name says
// Perplexity. Entries are named KEY@SCOPE (PERPLEXITY_API_KEY@production,
// LLM_KEY@*), since one key can hold a different value per environment.
//
// A variable is rotated by an update filtered by its environment scope
// that restates its masked, protected, raw, type and description settings,
// and confirmed by reading it back. A hidden variable cannot be read back
// and GitLab keeps no update time for variables, so its write is confirmed
// only by GitLab's answer to the update.
package gitlab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/internal/safeurl"
	"github.com/rekeyhq/rekey/scanner"
)

// Scheme is the store's URI scheme.
const Scheme = "gitlab"

// The environment rekey reads its GitLab settings from: the token, and the
// API URL GitLab CI sets for its jobs (https://HOST/api/v4).
const (
	TokenEnv   = "GITLAB_TOKEN" //nolint:gosec // a variable's name, not a credential
	APIURLEnv  = "CI_API_V4_URL"
	DefaultAPI = "https://gitlab.com/api/v4"

	defaultWait  = 60 * time.Second
	defaultTries = 5
	perPage      = 100
	maxMessage   = 200
)

// DefaultPatterns are the name fragments that say Perplexity.
var DefaultPatterns = []string{"PERPLEXITY", "PPLX"}

// Options configure a Store; the zero value reads the environment.
type Options struct {
	// Token authenticates (a personal, project or group access token); ""
	// means $GITLAB_TOKEN.
	Token string
	// BaseURL of the REST API; "" means $CI_API_V4_URL or gitlab.com.
	// Plain http is accepted for loopback hosts only (test servers).
	BaseURL string
	// HTTPClient carries the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	// Patterns are the name fragments that say Perplexity, for hidden
	// variables; nil means DefaultPatterns.
	Patterns []string
	// Environments, when set, limits the listing to variables whose
	// environment scope applies to one of them ("*" and wildcard scopes
	// like review/* included, as GitLab matches them).
	Environments []string
	// MaxAttempts bounds the attempts of one call, retries included; 0
	// means 5.
	MaxAttempts int
	// MaxWait is the longest wait rekey sits out when GitLab answers 429; a
	// longer one fails the call as throttled. 0 means 60 s.
	MaxWait time.Duration

	// wait turns a wait rekey decided on into the one it sleeps; tests
	// record and shorten waits with it.
	wait func(time.Duration) time.Duration
}

// Store is one project's or group's CI/CD variables.
type Store struct {
	client *gl.Client
	path   string // "group/sub/project" or "group"
	opts   Options

	mu    sync.Mutex
	group bool // resolved: the path names a group
	known bool // resolved at all
}

var _ providers.Provider = (*Store)(nil)

// Open is the providers.Opener for gitlab://GROUP/PROJECT and
// gitlab://GROUP. The query may set name_patterns=A,B (name fragments that
// say Perplexity, besides PERPLEXITY and PPLX), environments=E1,E2 (list
// only variables that apply to these environments), api=URL (a
// self-managed instance's API URL) and concurrency=N (accepted for every
// store; this one makes requests one at a time).
func Open(_ context.Context, u *url.URL) (providers.Provider, error) {
	target := u.Host
	if p := strings.Trim(u.Path, "/"); p != "" {
		target += "/" + p
	}
	var o Options
	for k, v := range u.Query() {
		last := v[len(v)-1]
		switch k {
		case "name_patterns":
			// Added to the defaults: configuring one more name must not
			// stop PERPLEXITY and PPLX from counting.
			o.Patterns = append(slices.Clip(DefaultPatterns), splitList(v)...)
		case "environments":
			o.Environments = splitList(v)
		case "api":
			o.BaseURL = last
		case "concurrency":
			if n, err := strconv.Atoi(last); err != nil || n < 1 {
				return nil, fmt.Errorf("concurrency=%q: want a positive number", last)
			}
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: name_patterns, environments, api, concurrency)", k)
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

// New opens the store for path, "GROUP/PROJECT" (any depth) or "GROUP".
func New(path string, o Options) (*Store, error) {
	if path == "" || strings.Contains(path, "//") {
		return nil, fmt.Errorf("want gitlab://GROUP/PROJECT or gitlab://GROUP, not gitlab://%s", path)
	}
	if o.Token == "" {
		o.Token = os.Getenv(TokenEnv)
	}
	if o.Token == "" {
		return nil, fmt.Errorf("no GitLab token: set %s", TokenEnv)
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
	if o.wait == nil {
		o.wait = func(d time.Duration) time.Duration { return d }
	}
	s := &Store{path: path, opts: o}
	c, err := gl.NewClient(o.Token,
		gl.WithBaseURL(base),
		gl.WithHTTPClient(o.HTTPClient),
		gl.WithCustomRetryMax(o.MaxAttempts-1),
		gl.WithCustomRetry(s.checkRetry),
		gl.WithCustomBackoff(s.backoff),
		gl.WithUserAgent("rekey"),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", scanner.ScrubError(err))
	}
	s.client = c
	return s, nil
}

func apiURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("GitLab API URL %q is not a URL (want https://HOST/api/v4)", raw)
	}
	if !safeurl.Secure(u) {
		return "", fmt.Errorf("GitLab API URL %q: only https is allowed (plain http only to this machine)", raw)
	}
	return u.String(), nil
}

// Name is the URI scheme.
func (s *Store) Name() string { return Scheme }

func (s *Store) uri(name string) string { return Scheme + "://" + s.path + "/" + name }

// checkRetry retries what GitLab asks to be retried: 429 (unless it asks
// for a wait longer than MaxWait), 5xx other than 501, and connection
// failures other than certificate errors.
func (s *Store) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var cert *tls.CertificateVerificationError
		return !errors.As(err, &cert), nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait, told := serverWait(resp)
		return !told || wait <= s.opts.MaxWait, nil
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// backoff waits as long as a 429 says (Retry-After, else RateLimit-Reset),
// else exponentially from a second.
func (s *Store) backoff(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		if wait, told := serverWait(resp); told {
			return s.opts.wait(min(wait, s.opts.MaxWait))
		}
	}
	return s.opts.wait(min(time.Duration(math.Pow(2, float64(attempt)))*time.Second, s.opts.MaxWait))
}

// serverWait reads how long a throttling answer asks to wait.
func serverWait(r *http.Response) (time.Duration, bool) {
	if v, err := strconv.ParseInt(r.Header.Get("Retry-After"), 10, 64); err == nil && v >= 0 {
		return time.Duration(v) * time.Second, true
	}
	if v, err := strconv.ParseInt(r.Header.Get("RateLimit-Reset"), 10, 64); err == nil && v > 0 {
		return max(time.Until(time.Unix(v, 0)), 0), true
	}
	return 0, false
}

// apiError maps a client error to the providers sentinels, with GitLab's
// own message cut short and scrubbed.
func apiError(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gl.ErrNotFound) {
		return fmt.Errorf("%s: %w (GitLab answered 404)", what, providers.ErrNotFound)
	}
	var er *gl.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		msg := er.Message
		if len(msg) > maxMessage {
			msg = msg[:maxMessage] + "…"
		}
		msg = scanner.Scrub(msg)
		switch er.Response.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: %w (GitLab answered %d: %s; the token needs the api scope and the Maintainer role)",
				what, providers.ErrAccessDenied, er.Response.StatusCode, msg)
		case http.StatusTooManyRequests:
			return fmt.Errorf("%s: %w (GitLab answered 429: %s)", what, providers.ErrThrottled, msg)
		}
		return fmt.Errorf("%s: GitLab answered %d: %s", what, er.Response.StatusCode, msg)
	}
	return fmt.Errorf("%s: %w", what, scanner.ScrubError(err))
}
