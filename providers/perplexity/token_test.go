package perplexity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/perplexity/fakeperplexity"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func TestGenerateMintsALiveKey(t *testing.T) {
	srv := newServer(t)
	admin := testkeys.New(20).Mixed()
	srv.AddKey(admin, true)
	c, _ := newTestClient(srv, Options{})
	ctx := context.Background()
	key, err := c.Generate(ctx, scanner.Secret(admin), "rekey 2026-01-02")
	if err != nil {
		t.Fatal(err)
	}
	if problems := scanner.Diagnose(key.Reveal()); len(problems) > 0 {
		t.Fatalf("minted key is malformed: %v", problems)
	}
	if !srv.Live(key.Reveal()) || len(srv.Minted()) != 1 || srv.Minted()[0] != key.Reveal() {
		t.Errorf("the fake does not know the minted key as live")
	}
	if got := c.Check(ctx, key); got.Status != StatusLive {
		t.Errorf("minted key: %+v, want live", got)
	}
	// An unnamed key is fine too: the body is optional.
	if _, err := c.Generate(ctx, scanner.Secret(admin), ""); err != nil {
		t.Errorf("unnamed: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	gen := testkeys.New(21)
	admin, revoked := gen.Mixed(), gen.Mixed()
	ctx := context.Background()

	t.Run("refused authorising key", func(t *testing.T) {
		srv := newServer(t)
		srv.AddKey(revoked, false)
		c, _ := newTestClient(srv, Options{})
		_, err := c.Generate(ctx, scanner.Secret(revoked), "x")
		var se *StatusError
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &se) || se.HTTPStatus != 401 {
			t.Errorf("got %v, want ErrUnauthorized with HTTP 401", err)
		}
	})
	t.Run("server error is not retried", func(t *testing.T) {
		srv := newServer(t)
		srv.AddKey(admin, true)
		srv.FailNext(fakeperplexity.PathGenerate, 502, "")
		c, _ := newTestClient(srv, Options{})
		_, err := c.Generate(ctx, scanner.Secret(admin), "x")
		if !errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("got %v, want ErrOutcomeUnknown", err)
		}
		if n := srv.Requests(fakeperplexity.PathGenerate); n != 1 {
			t.Errorf("%d requests, want 1: a retried mint could leave a key nobody holds", n)
		}
	})
	t.Run("throttled is retried", func(t *testing.T) {
		srv := newServer(t)
		srv.AddKey(admin, true)
		srv.Inject(fakeperplexity.PathGenerate, fakeperplexity.Fault{Status: 429, RetryAfterMS: "10"})
		c, _ := newTestClient(srv, Options{})
		key, err := c.Generate(ctx, scanner.Secret(admin), "x")
		if err != nil || !srv.Live(key.Reveal()) {
			t.Fatalf("got %v, want a live key after one retry", err)
		}
		if n, m := srv.Requests(fakeperplexity.PathGenerate), len(srv.Minted()); n != 2 || m != 1 {
			t.Errorf("%d requests and %d keys minted, want 2 and 1", n, m)
		}
	})
	t.Run("throttled to the end", func(t *testing.T) {
		srv := newServer(t)
		srv.AddKey(admin, true)
		for range 5 {
			srv.FailNext(fakeperplexity.PathGenerate, 429, "1")
		}
		c, _ := newTestClient(srv, Options{MaxAttempts: 3})
		_, err := c.Generate(ctx, scanner.Secret(admin), "x")
		if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "after 3 attempts") {
			t.Errorf("got %v, want ErrRateLimited after 3 attempts", err)
		}
	})
	t.Run("answer without a key", func(t *testing.T) {
		srv := newServer(t)
		srv.AddKey(admin, true)
		srv.Inject(fakeperplexity.PathGenerate, fakeperplexity.Fault{Status: 200, Body: `{"auth_token":"pplx-short"}`})
		c, _ := newTestClient(srv, Options{})
		if _, err := c.Generate(ctx, scanner.Secret(admin), "x"); !errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("got %v, want ErrOutcomeUnknown", err)
		}
	})
	t.Run("malformed authorising key is not sent", func(t *testing.T) {
		srv := newServer(t)
		c, _ := newTestClient(srv, Options{})
		if _, err := c.Generate(ctx, scanner.Secret(" "+admin), "x"); err == nil || srv.TotalRequests() != 0 {
			t.Errorf("got %v and %d requests, want an error and none", err, srv.TotalRequests())
		}
	})
}

func TestRevokeThenCheckAsksAgain(t *testing.T) {
	srv := newServer(t)
	gen := testkeys.New(22)
	admin, old := gen.Mixed(), gen.Mixed()
	srv.AddKey(admin, true)
	srv.AddKey(old, true)
	c, _ := newTestClient(srv, Options{})
	ctx := context.Background()
	if got := c.Check(ctx, scanner.Secret(old)); got.Status != StatusLive {
		t.Fatalf("before: %+v", got)
	}
	if err := c.Revoke(ctx, scanner.Secret(admin), scanner.Secret(old)); err != nil {
		t.Fatal(err)
	}
	if srv.Live(old) {
		t.Error("the fake still holds the key as live")
	}
	if got := c.Check(ctx, scanner.Secret(old)); got.Status != StatusInvalid {
		t.Errorf("after revoking: %+v, want invalid", got)
	}
	if n := srv.Requests(fakeperplexity.PathChat); n != 2 {
		t.Errorf("%d checks sent, want 2 (revoking forgets the cached answer)", n)
	}
	// A key may revoke itself; once revoked it authorises nothing.
	self := gen.Mixed()
	srv.AddKey(self, true)
	if err := c.Revoke(ctx, scanner.Secret(self), scanner.Secret(self)); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx, scanner.Secret(self), scanner.Secret(admin)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("revoked authorising key: %v, want ErrUnauthorized", err)
	}
	if !srv.Live(admin) {
		t.Error("a refused revoke changed state")
	}
}

func TestRevokeRetriesServerErrors(t *testing.T) {
	srv := newServer(t)
	gen := testkeys.New(23)
	admin, old := gen.Mixed(), gen.Mixed()
	srv.AddKey(admin, true)
	srv.AddKey(old, true)
	srv.FailNext(fakeperplexity.PathRevoke, 503, "")
	srv.FailNext(fakeperplexity.PathRevoke, 429, "0")
	c, _ := newTestClient(srv, Options{})
	if err := c.Revoke(context.Background(), scanner.Secret(admin), scanner.Secret(old)); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(fakeperplexity.PathRevoke); n != 3 || srv.Live(old) {
		t.Errorf("%d requests, live %v; want 3 and revoked", n, srv.Live(old))
	}
	for range 4 {
		srv.FailNext(fakeperplexity.PathRevoke, 500, "")
	}
	err := c.Revoke(context.Background(), scanner.Secret(admin), scanner.Secret(old))
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Errorf("got %v, want ErrOutcomeUnknown after 4 attempts", err)
	}
}

// TestNothingLeaksWhenTheServerEchoesKeys drives every error path against a
// server that echoes the Authorization header and request body back, and
// checks that no raw key reaches a Result or an error.
func TestNothingLeaksWhenTheServerEchoesKeys(t *testing.T) {
	srv := newServer(t)
	srv.SetEcho(true)
	gen := testkeys.New(24)
	admin, live, revoked := gen.Mixed(), gen.Hex(), gen.Mixed()
	srv.AddKey(admin, true)
	srv.AddKey(live, true)
	srv.AddKey(revoked, false)
	raw := []string{admin, live, revoked}
	ctx := context.Background()
	var texts []string
	c, _ := newTestClient(srv, Options{MaxAttempts: 2})

	for _, f := range []fakeperplexity.Fault{
		{Status: 500}, {Status: 429}, {Status: 418}, {Status: 503, Body: "upstream said: "},
	} {
		srv.Inject(fakeperplexity.PathChat, f, f)
		c, _ := newTestClient(srv, Options{MaxAttempts: 2})
		res := c.Check(ctx, scanner.Secret(live))
		texts = append(texts, res.Reason)
		if !strings.Contains(res.Reason, "received Authorization") {
			t.Errorf("HTTP %d: the echo did not reach the reason, so the test proves nothing: %q", f.Status, res.Reason)
		}
		srv.Inject(fakeperplexity.PathGenerate, f, f)
		_, err := c.Generate(ctx, scanner.Secret(admin), "x")
		texts = append(texts, fmt.Sprint(err))
		srv.Inject(fakeperplexity.PathRevoke, f, f)
		texts = append(texts, fmt.Sprint(c.Revoke(ctx, scanner.Secret(admin), scanner.Secret(live))))
	}
	texts = append(texts, c.Check(ctx, scanner.Secret(revoked)).Reason)
	_, err := c.Generate(ctx, scanner.Secret(revoked), "x")
	texts = append(texts, fmt.Sprint(err))
	texts = append(texts, fmt.Sprint(c.Revoke(ctx, scanner.Secret(revoked), scanner.Secret(live))))
	// A bad revoke body is echoed back in a 400 answer.
	srv.Inject(fakeperplexity.PathRevoke, fakeperplexity.Fault{Status: 400})
	texts = append(texts, fmt.Sprint(c.Revoke(ctx, scanner.Secret(admin), scanner.Secret(live))))
	srv.Close()
	texts = append(texts, c.Check(ctx, scanner.Secret(gen.Mixed())).Reason)
	_, err = c.Generate(ctx, scanner.Secret(admin), "x")
	texts = append(texts, fmt.Sprint(err))

	for _, text := range texts {
		for _, k := range raw {
			if strings.Contains(text, k) {
				t.Errorf("raw key in %q", text)
			}
		}
		if strings.Contains(text, "\n") {
			t.Errorf("multi-line server text in %q", text)
		}
	}
}
