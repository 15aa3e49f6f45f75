// Package perplexity talks to the Perplexity API for rekey: a token-free
// check of whether a key is live, and minting and revoking keys through
// generate_auth_token and revoke_auth_token.
//
// The client is polite by construction, because a spike of requests can
// itself get a key revoked: every HTTP attempt waits for a client-side rate
// limiter (default 1 request/second), Check asks once per distinct key,
// throttling and server errors are retried with backoff that honours
// retry-after-ms and retry-after, and the number of attempts is bounded.
//
// No raw key ever leaves through an error, a Result or a log line: response
// bodies are never logged, and the little of them that reaches an error is
// cut short and passed through scanner.Scrub.
package perplexity

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	"github.com/rekeyhq/rekey/providers/internal/safeurl"
	"github.com/rekeyhq/rekey/scanner"
)

// DefaultBaseURL is the Perplexity API; BaseURLEnv overrides it, as in
// Perplexity's own SDKs.
const (
	DefaultBaseURL = "https://api.perplexity.ai"
	BaseURLEnv     = "PERPLEXITY_BASE_URL"
)

// The endpoints rekey uses.
const (
	pathChat     = "/chat/completions"
	pathGenerate = "/generate_auth_token"
	pathRevoke   = "/revoke_auth_token"
)

const (
	defaultRate        = 1.0
	defaultMaxAttempts = 4
	defaultTimeout     = 30 * time.Second
	// Backoff between attempts when the server does not say how long to
	// wait: 0.5 s doubling up to 8 s, less up to a quarter of jitter, as in
	// Perplexity's SDKs.
	initialBackoff = 500 * time.Millisecond
	maxBackoff     = 8 * time.Second
	// maxRetryAfter is the longest server-requested wait rekey sits out; a
	// longer one ends the attempts (a person is waiting, and retrying sooner
	// would be impolite).
	maxRetryAfter = 60 * time.Second
	// maxBody bounds what is read of a response.
	maxBody = 64 << 10
	// maxMessage bounds the server text quoted in an error or reason.
	maxMessage = 200
)

// Options configure a Client. The zero value is the polite default.
type Options struct {
	// BaseURL of the API; "" means $PERPLEXITY_BASE_URL or DefaultBaseURL.
	// Plain http is accepted for loopback hosts only (test servers).
	BaseURL string
	// Rate is the most requests per second, retries included; 0 means 1.
	Rate float64
	// MaxAttempts bounds the attempts of one call, retries included; 0 means 4.
	MaxAttempts int
	// Timeout bounds each attempt; 0 means 30 s.
	Timeout time.Duration
	// HTTPClient, when set, is copied; its transport keeps TLS verification
	// on regardless, and redirects are never followed (they would carry the
	// request elsewhere).
	HTTPClient *http.Client
}

// Client calls the Perplexity API. It is safe for concurrent use; all calls
// share one rate limiter.
type Client struct {
	base     string
	baseErr  error
	http     *http.Client
	limiter  *rate.Limiter
	attempts int
	timeout  time.Duration

	// The clock and randomness, replaced by tests to measure the rate
	// limit and backoff without waiting.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func() float64

	mu    sync.Mutex
	cache map[string]*checkCall
}

// New returns a client. A bad base URL is not reported here but by every
// call, so that callers can build a client unconditionally.
func New(opts Options) *Client {
	r := opts.Rate
	if !(r > 0) { // also catches NaN
		r = defaultRate
	}
	c := &Client{
		http:     httpClient(opts.HTTPClient),
		limiter:  rate.NewLimiter(rate.Limit(r), 1),
		attempts: opts.MaxAttempts,
		timeout:  opts.Timeout,
		now:      time.Now,
		sleep:    sleepCtx,
		jitter:   rand.Float64,
		cache:    map[string]*checkCall{},
	}
	if c.attempts <= 0 {
		c.attempts = defaultMaxAttempts
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	c.base, c.baseErr = baseURL(opts.BaseURL)
	return c
}

// baseURL resolves and checks the API address: https, or http to a loopback
// host, since the key travels in a header.
func baseURL(given string) (string, error) {
	raw := given
	if raw == "" {
		raw = os.Getenv(BaseURLEnv)
	}
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("perplexity base URL %q is not an absolute URL", scanner.Scrub(raw))
	}
	if !safeurl.Secure(u) {
		return "", fmt.Errorf("perplexity base URL %q: keys are only sent over https (plain http only to loopback test servers)",
			scanner.Scrub(raw))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("perplexity base URL %s: no user, query or fragment allowed", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// httpClient copies given (or starts afresh) with TLS verification forced
// on and redirects refused.
func httpClient(given *http.Client) *http.Client {
	var c http.Client
	if given != nil {
		c = *given
	}
	switch t := c.Transport.(type) {
	case nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		c.Transport = tr
	case *http.Transport:
		if t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify {
			t = t.Clone()
			t.TLSClientConfig.InsecureSkipVerify = false
			c.Transport = t
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// response is what was kept of one HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// retryPolicy says which failures of an endpoint may be tried again.
type retryPolicy struct {
	// statuses that are retried: 429 always is safe (the request was
	// refused before it did anything); 5xx only for idempotent calls.
	serverErrors bool
	// network errors and timeouts: only for idempotent calls, since the
	// request may have reached the server.
	network bool
}

var (
	idempotent   = retryPolicy{serverErrors: true, network: true}
	onlyThrottle = retryPolicy{}
)

func (p retryPolicy) retries(resp *response, err error) bool {
	if err != nil {
		return p.network
	}
	switch s := resp.status; {
	case s == http.StatusTooManyRequests:
		return true
	case s == http.StatusRequestTimeout, s >= 500:
		return p.serverErrors
	}
	return false
}

// outcome is the result of one logical call: the last answer or error, how
// many attempts it took, and why retrying stopped early, if it did.
type outcome struct {
	resp     *response
	err      error
	attempts int
	gaveUp   string
}

// send makes one logical call: POST payload to path as authKey, waiting for
// the rate limiter before every attempt and retrying per policy.
func (c *Client) send(ctx context.Context, path string, authKey scanner.Secret, payload any, policy retryPolicy) outcome {
	if c.baseErr != nil {
		return outcome{err: c.baseErr}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return outcome{err: fmt.Errorf("encode request: %w", err)}
	}
	var out outcome
	for {
		if err := c.wait(ctx); err != nil {
			if out.attempts == 0 {
				out.err = err
			}
			return out
		}
		out.attempts++
		out.resp, out.err = c.once(ctx, path, authKey, body)
		if ctx.Err() != nil || !policy.retries(out.resp, out.err) || out.attempts >= c.attempts {
			return out
		}
		var header http.Header
		if out.resp != nil {
			header = out.resp.header
		}
		d, ok := c.backoff(out.attempts, header)
		if !ok {
			out.gaveUp = fmt.Sprintf("the API asked to wait %s, longer than rekey waits", d.Round(time.Second))
			return out
		}
		if err := c.sleep(ctx, d); err != nil {
			return out
		}
	}
}

// wait blocks until the rate limiter allows one more request.
func (c *Client) wait(ctx context.Context) error {
	now := c.now()
	r := c.limiter.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("rate limiter refused a request")
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := c.sleep(ctx, d); err != nil {
			r.CancelAt(c.now())
			return err
		}
	}
	return nil
}

// backoff returns how long to wait before attempt+1, and false when the
// server asked for a longer wait than rekey sits out.
func (c *Client) backoff(attempt int, h http.Header) (time.Duration, bool) {
	if d, ok := retryAfter(h, c.now()); ok {
		return d, d <= maxRetryAfter
	}
	d := min(initialBackoff<<(attempt-1), maxBackoff)
	return time.Duration(float64(d) * (1 - 0.25*c.jitter())), true
}

// retryAfter reads the wait a server asks for: retry-after-ms (milliseconds),
// else retry-after (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return seconds(ms / 1000), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return seconds(s), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// seconds converts a server-given number of seconds, bounded so that a
// huge value cannot overflow (anything that long ends the retries anyway).
func seconds(s float64) time.Duration {
	const limit = 24 * time.Hour
	if s >= limit.Seconds() {
		return limit
	}
	return time.Duration(s * float64(time.Second))
}

// once makes one HTTP attempt.
func (c *Client) once(ctx context.Context, path string, authKey scanner.Secret, body []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+authKey.Reveal())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "rekey")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// message extracts the server's own explanation from an error body (the
// "error.message" of a JSON answer, never an HTML page), short and scrubbed.
func message(body []byte, keys ...scanner.Secret) string {
	var doc struct {
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	text := textOf(doc.Error)
	if text == "" {
		text = textOf(doc.Detail)
	}
	return clean(text, keys...)
}

// textOf reads a JSON string, or an object's "message" string.
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Message
	}
	return ""
}

// clean makes foreign text safe to show: the keys rekey sent and anything
// else key-shaped redacted, control characters dropped, length bounded.
func clean(text string, keys ...scanner.Secret) string {
	for _, k := range keys {
		if k != "" {
			text = strings.ReplaceAll(text, k.Reveal(), k.Redacted())
		}
	}
	// Invisible characters go first, so a key split by one cannot be joined
	// back together after the scrub.
	text = strings.Map(func(r rune) rune {
		switch {
		case r == '\n', r == '\t':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, text)
	text = strings.TrimSpace(scanner.Scrub(text))
	if r := []rune(text); len(r) > maxMessage {
		text = string(r[:maxMessage]) + "…"
	}
	return text
}

// describe renders an HTTP status with its text: "HTTP 429 Too Many Requests".
func describe(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("HTTP %d %s", status, t)
	}
	return fmt.Sprintf("HTTP %d", status)
}

// attemptsText says how many attempts a call took, when more than one.
func attemptsText(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" after %d attempts", n)
}
