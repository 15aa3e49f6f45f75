package perplexity

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/providers/perplexity/fakeperplexity"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// fakeClock stands in for time in the rate limiter and backoff: sleeping
// advances it and is recorded, so tests measure waits without waiting.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	f.slept = append(f.slept, d)
	return nil
}

func (f *fakeClock) elapsed(since time.Time) time.Duration {
	return f.now().Sub(since)
}

func (f *fakeClock) sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newTestClient returns a client of srv on a fake clock with no jitter.
func newTestClient(srv *fakeperplexity.Server, opts Options) (*Client, *fakeClock) {
	if opts.BaseURL == "" {
		opts.BaseURL = srv.URL
	}
	c := New(opts)
	clk := &fakeClock{t: epoch}
	c.now, c.sleep, c.jitter = clk.now, clk.sleep, func() float64 { return 0 }
	return c, clk
}

func newServer(t *testing.T) *fakeperplexity.Server {
	t.Helper()
	s := fakeperplexity.New()
	t.Cleanup(s.Close)
	return s
}

func TestCheckLiveRevokedAndUnknownKeys(t *testing.T) {
	srv := newServer(t)
	keys := testkeys.New(1)
	live, revoked, stranger := keys.Mixed(), keys.Hex(), keys.Mixed()
	srv.AddKey(live, true)
	srv.AddKey(revoked, false)
	c, _ := newTestClient(srv, Options{})
	ctx := context.Background()

	for _, tc := range []struct {
		key    string
		status Status
		http   int
	}{
		{live, StatusLive, 400},
		{revoked, StatusInvalid, 401},
		{stranger, StatusInvalid, 401},
	} {
		got := c.Check(ctx, scanner.Secret(tc.key))
		if got.Status != tc.status || got.HTTPStatus != tc.http || got.Reason == "" {
			t.Errorf("Check(%s) = %+v, want %s with HTTP %d and a reason", scanner.Secret(tc.key), got, tc.status, tc.http)
		}
	}
	if n := srv.Completions(); n != 0 {
		t.Errorf("the probe was answered %d times with a billed completion", n)
	}
}

func TestCheckStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		fault fakeperplexity.Fault
		want  Status
	}{
		{fakeperplexity.Fault{Status: 200, Body: `{"choices":[]}`}, StatusLive},
		{fakeperplexity.Fault{Status: 400}, StatusLive},
		{fakeperplexity.Fault{Status: 404}, StatusLive},
		{fakeperplexity.Fault{Status: 422}, StatusLive},
		{fakeperplexity.Fault{Status: 401}, StatusInvalid},
		{fakeperplexity.Fault{Status: 403}, StatusInvalid},
		{fakeperplexity.Fault{Status: 403, Header: http.Header{"Cf-Mitigated": {"challenge"}}}, StatusUnknown},
		{fakeperplexity.Fault{Status: 429}, StatusRateLimited},
		{fakeperplexity.Fault{Status: 500}, StatusUnknown},
		{fakeperplexity.Fault{Status: 502, Body: "<html>bad gateway</html>"}, StatusUnknown},
		{fakeperplexity.Fault{Status: 503}, StatusUnknown},
		{fakeperplexity.Fault{Status: 504}, StatusUnknown},
		{fakeperplexity.Fault{Status: 418}, StatusUnknown},
		{fakeperplexity.Fault{Status: 409}, StatusUnknown},
		{fakeperplexity.Fault{Status: 204}, StatusUnknown},
		{fakeperplexity.Fault{Status: 307, Header: http.Header{"Location": {"https://example.invalid/"}}}, StatusUnknown},
	} {
		srv := newServer(t)
		key := testkeys.New(2).Mixed()
		srv.AddKey(key, true)
		srv.Inject(fakeperplexity.PathChat, tc.fault)
		c, _ := newTestClient(srv, Options{MaxAttempts: 1})
		got := c.Check(context.Background(), scanner.Secret(key))
		if got.Status != tc.want || got.HTTPStatus != tc.fault.Status {
			t.Errorf("HTTP %d %v: got %+v, want %s", tc.fault.Status, tc.fault.Header, got, tc.want)
		}
		if got.Reason == "" {
			t.Errorf("HTTP %d: no reason", tc.fault.Status)
		}
	}
}

func TestCheckNoAnswerIsUnknownNotInvalid(t *testing.T) {
	key := scanner.Secret(testkeys.New(3).Mixed())
	t.Run("server gone", func(t *testing.T) {
		srv := fakeperplexity.New()
		srv.Close()
		c, _ := newTestClient(srv, Options{MaxAttempts: 2})
		got := c.Check(context.Background(), key)
		if got.Status != StatusUnknown || got.HTTPStatus != 0 || !strings.Contains(got.Reason, "after 2 attempts") {
			t.Errorf("got %+v, want unknown after 2 attempts", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := newServer(t)
		srv.AddKey(key.Reveal(), true)
		srv.SetDelay(5 * time.Second)
		c, _ := newTestClient(srv, Options{MaxAttempts: 2, Timeout: 50 * time.Millisecond})
		got := c.Check(context.Background(), key)
		if got.Status != StatusUnknown || !strings.Contains(got.Reason, "deadline exceeded") {
			t.Errorf("got %+v, want unknown with the timeout as reason", got)
		}
		if n := srv.Requests(fakeperplexity.PathChat); n != 2 {
			t.Errorf("%d requests, want 2 (timeouts of a probe are retried)", n)
		}
	})
	t.Run("plain http to a remote host", func(t *testing.T) {
		c := New(Options{BaseURL: "http://api.perplexity.ai"})
		got := c.Check(context.Background(), key)
		if got.Status != StatusUnknown || !strings.Contains(got.Reason, "https") {
			t.Errorf("got %+v, want unknown refusing plain http", got)
		}
	})
}

func TestBaseURLFromEnvironment(t *testing.T) {
	srv := newServer(t)
	key := testkeys.New(4).Mixed()
	srv.AddKey(key, true)
	t.Setenv(BaseURLEnv, srv.URL+"/")
	c := New(Options{Rate: 1000})
	if got := c.Check(context.Background(), scanner.Secret(key)); got.Status != StatusLive {
		t.Fatalf("got %+v, want live through $%s", got, BaseURLEnv)
	}
	t.Setenv(BaseURLEnv, "")
	if got := New(Options{}).base; got != DefaultBaseURL {
		t.Errorf("default base %q, want %q", got, DefaultBaseURL)
	}
}

func TestAuthorizationHeaderIsExact(t *testing.T) {
	key := scanner.Secret(testkeys.New(5).Mixed())
	var got []string
	rt := roundTripper(func(r *http.Request) (*http.Response, error) {
		got = r.Header.Values("Authorization")
		return &http.Response{StatusCode: 400, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})
	c := New(Options{BaseURL: "https://api.test", HTTPClient: &http.Client{Transport: rt}})
	c.Check(context.Background(), key)
	if len(got) != 1 || got[0] != "Bearer "+key.Reveal() {
		t.Errorf("Authorization header is not exactly %q", "Bearer <key>")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTLSVerificationStaysOn(t *testing.T) {
	srv := fakeperplexity.NewTLS()
	defer srv.Close()
	key := testkeys.New(6).Mixed()
	srv.AddKey(key, true)
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the point of the test
	for name, hc := range map[string]*http.Client{"default": nil, "insecure given": insecure} {
		c, _ := newTestClient(srv, Options{HTTPClient: hc, MaxAttempts: 1})
		got := c.Check(context.Background(), scanner.Secret(key))
		if got.Status != StatusUnknown || !strings.Contains(got.Reason, "certificate") {
			t.Errorf("%s: got %+v, want unknown for an untrusted certificate", name, got)
		}
	}
	if n := srv.TotalRequests(); n != 0 {
		t.Errorf("%d requests reached a server with an untrusted certificate", n)
	}
	c, _ := newTestClient(srv, Options{HTTPClient: srv.Client()})
	if got := c.Check(context.Background(), scanner.Secret(key)); got.Status != StatusLive {
		t.Errorf("trusted certificate: got %+v, want live", got)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	other := newServer(t)
	srv := newServer(t)
	key := testkeys.New(7).Mixed()
	srv.AddKey(key, true)
	other.AddKey(key, true)
	srv.Inject(fakeperplexity.PathChat, fakeperplexity.Fault{Status: 308,
		Header: http.Header{"Location": {other.URL + fakeperplexity.PathChat}}})
	c, _ := newTestClient(srv, Options{})
	if got := c.Check(context.Background(), scanner.Secret(key)); got.Status != StatusUnknown {
		t.Errorf("got %+v, want unknown", got)
	}
	if n := other.TotalRequests(); n != 0 {
		t.Errorf("the key was sent on to the redirect target (%d requests)", n)
	}
}

func TestRetriesAreBoundedAndBackOff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts int
		status   int
		want     Status
	}{
		{"default bound, 503", 0, 503, StatusUnknown},
		{"bound 2, 500", 2, 500, StatusUnknown},
		{"default bound, 429", 0, 429, StatusRateLimited},
		{"bound 6, 429", 6, 429, StatusRateLimited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			key := testkeys.New(8).Mixed()
			srv.AddKey(key, true)
			for range 10 {
				srv.FailNext(fakeperplexity.PathChat, tc.status, "")
			}
			c, clk := newTestClient(srv, Options{MaxAttempts: tc.attempts, Rate: 1e6})
			got := c.Check(context.Background(), scanner.Secret(key))
			want := tc.attempts
			if want == 0 {
				want = defaultMaxAttempts
			}
			if n := srv.Requests(fakeperplexity.PathChat); n != want {
				t.Errorf("%d requests, want %d", n, want)
			}
			if got.Status != tc.want || got.HTTPStatus != tc.status {
				t.Errorf("got %+v, want %s", got, tc.want)
			}
			// Exponential backoff without jitter: 0.5 s, 1 s, 2 s, 4 s, 8 s (capped).
			var backoffs []time.Duration
			for _, d := range clk.sleeps() {
				if d >= time.Millisecond { // the limiter's microsecond waits aside
					backoffs = append(backoffs, d)
				}
			}
			wantBackoffs := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}[:want-1]
			if !slices.Equal(backoffs, wantBackoffs) {
				t.Errorf("backoffs %v, want %v", backoffs, wantBackoffs)
			}
		})
	}
}

func TestRetryHonoursServerWait(t *testing.T) {
	key := testkeys.New(9).Mixed()
	for _, tc := range []struct {
		name  string
		fault fakeperplexity.Fault
		want  time.Duration
	}{
		{"retry-after-ms", fakeperplexity.Fault{Status: 429, RetryAfterMS: "1500"}, 1500 * time.Millisecond},
		{"retry-after-ms wins", fakeperplexity.Fault{Status: 429, RetryAfterMS: "250", RetryAfter: "9"}, 250 * time.Millisecond},
		{"retry-after seconds", fakeperplexity.Fault{Status: 503, RetryAfter: "3"}, 3 * time.Second},
		{"retry-after date", fakeperplexity.Fault{Status: 429, RetryAfter: epoch.Add(7 * time.Second).Format(http.TimeFormat)}, 7 * time.Second},
		{"garbage falls back to backoff", fakeperplexity.Fault{Status: 429, RetryAfter: "soon"}, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			srv.AddKey(key, true)
			srv.Inject(fakeperplexity.PathChat, tc.fault)
			c, clk := newTestClient(srv, Options{Rate: 1e6})
			got := c.Check(context.Background(), scanner.Secret(key))
			if got.Status != StatusLive {
				t.Fatalf("got %+v, want live after one retry", got)
			}
			if n := srv.Requests(fakeperplexity.PathChat); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
			if s := clk.sleeps(); !slices.Contains(s, tc.want) {
				t.Errorf("slept %v, want a wait of %v", s, tc.want)
			}
		})
	}
}

func TestTooLongServerWaitEndsRetries(t *testing.T) {
	srv := newServer(t)
	key := testkeys.New(10).Mixed()
	srv.AddKey(key, true)
	srv.FailNext(fakeperplexity.PathChat, 429, "3600")
	c, clk := newTestClient(srv, Options{})
	got := c.Check(context.Background(), scanner.Secret(key))
	if got.Status != StatusRateLimited || !strings.Contains(got.Reason, "asked to wait 1h0m0s") {
		t.Errorf("got %+v, want rate-limited saying the wait was too long", got)
	}
	if n := srv.Requests(fakeperplexity.PathChat); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if e := clk.elapsed(epoch); e > 0 {
		t.Errorf("waited %v", e)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	srv := newServer(t)
	keys := testkeys.New(11)
	live, revoked := keys.Mixed(), keys.Mixed()
	srv.AddKey(live, true)
	srv.AddKey(revoked, false)
	c, _ := newTestClient(srv, Options{})
	c.Check(context.Background(), scanner.Secret(live))
	c.Check(context.Background(), scanner.Secret(revoked))
	if n := srv.Requests(fakeperplexity.PathChat); n != 2 {
		t.Errorf("%d requests for 2 keys answering 400 and 401, want 2", n)
	}
}

func TestRateLimitSpacesDistinctKeys(t *testing.T) {
	const n = 6
	for _, r := range []float64{0, 2, 0.5} {
		srv := newServer(t)
		gen := testkeys.New(12)
		var keys []scanner.Secret
		for i := range n {
			k := gen.Mixed()
			srv.AddKey(k, i%2 == 0)
			keys = append(keys, scanner.Secret(k))
		}
		c, clk := newTestClient(srv, Options{Rate: r})
		interval := time.Second
		if r > 0 {
			interval = time.Duration(float64(time.Second) / r)
		}
		for _, k := range keys {
			c.Check(context.Background(), k)
		}
		if got, want := clk.elapsed(epoch), (n-1)*interval; got < want {
			t.Errorf("rate %g: %d keys took %v, want at least %v", r, n, got, want)
		}
		if got := srv.Requests(fakeperplexity.PathChat); got != n {
			t.Errorf("rate %g: %d requests for %d keys", r, got, n)
		}
	}
}

func TestRetriesAreRateLimitedToo(t *testing.T) {
	srv := newServer(t)
	key := testkeys.New(13).Mixed()
	srv.AddKey(key, true)
	for range 3 {
		srv.Inject(fakeperplexity.PathChat, fakeperplexity.Fault{Status: 429, RetryAfterMS: "0"})
	}
	c, clk := newTestClient(srv, Options{Rate: 0.25})
	if got := c.Check(context.Background(), scanner.Secret(key)); got.Status != StatusLive {
		t.Fatalf("got %+v, want live on the fourth attempt", got)
	}
	if got, want := clk.elapsed(epoch), 3*4*time.Second; got < want {
		t.Errorf("4 attempts at 0.25/s took %v, want at least %v", got, want)
	}
}

func TestDuplicatesCostNothing(t *testing.T) {
	srv := newServer(t)
	gen := testkeys.New(14)
	a, b := gen.Mixed(), gen.Hex()
	srv.AddKey(a, true)
	srv.SetDelay(20 * time.Millisecond) // so that concurrent checks overlap
	c, _ := newTestClient(srv, Options{})
	var wg sync.WaitGroup
	results := make([]Result, 20)
	for i := range results {
		wg.Go(func() {
			k := a
			if i%2 == 1 {
				k = b
			}
			results[i] = c.Check(context.Background(), scanner.Secret(k))
		})
	}
	wg.Wait()
	for i, r := range results {
		want := StatusLive
		if i%2 == 1 {
			want = StatusInvalid
		}
		if r.Status != want {
			t.Errorf("check %d: %+v, want %s", i, r, want)
		}
	}
	c.Check(context.Background(), scanner.Secret(a))
	if n := srv.Requests(fakeperplexity.PathChat); n != 2 {
		t.Errorf("%d requests for 2 distinct keys asked 21 times, want 2", n)
	}
}

func TestInterruptedCheckIsNotRemembered(t *testing.T) {
	srv := newServer(t)
	key := scanner.Secret(testkeys.New(15).Mixed())
	srv.AddKey(key.Reveal(), true)
	c, _ := newTestClient(srv, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := c.Check(ctx, key); got.Status != StatusUnknown {
		t.Errorf("cancelled: got %+v, want unknown", got)
	}
	if got := c.Check(context.Background(), key); got.Status != StatusLive {
		t.Errorf("after a cancelled check: got %+v, want live", got)
	}
}

func TestMalformedKeyIsNeverSent(t *testing.T) {
	srv := newServer(t)
	key := testkeys.New(16).Mixed()
	srv.AddKey(key, true)
	c, _ := newTestClient(srv, Options{})
	for _, v := range []string{"Bearer " + key, key + "\r", `"` + key + `"`, "sk-not-a-perplexity-key", ""} {
		got := c.Check(context.Background(), scanner.Secret(v))
		if got.Status != StatusInvalid || strings.Contains(got.Reason, key) {
			t.Errorf("malformed value: got status %s, want invalid without the key in the reason", got.Status)
		}
	}
	if n := srv.TotalRequests(); n != 0 {
		t.Errorf("%d requests for malformed values, want none", n)
	}
}
