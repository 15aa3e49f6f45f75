package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// maxMessage bounds the server text quoted in an error.
const maxMessage = 200

// do runs one API call, retrying what GitHub asks to be retried: primary
// rate limits (until x-ratelimit-reset), secondary rate limits (403/429
// with retry-after, else x-ratelimit-reset, else a minute, as GitHub
// documents) and 5xx answers (exponential backoff). A wait longer than
// MaxWait, or more than MaxAttempts attempts, ends in ErrThrottled. Errors
// come back wrapping the providers sentinels, their text scrubbed.
func (s *Store) do(ctx context.Context, what string, call func(ctx context.Context) (*gh.Response, error)) error {
	backoff := time.Second
	var last error
	for attempt := 1; ; attempt++ {
		resp, err := call(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		wait, retry, mapped := classify(resp, err, backoff)
		if !retry {
			return fmt.Errorf("%s: %w", what, mapped)
		}
		last = mapped
		if attempt >= s.opts.MaxAttempts {
			break
		}
		if wait > s.opts.MaxWait {
			return fmt.Errorf("%s: %w: GitHub asks to wait %s, longer than rekey waits (%s); try again later",
				what, providers.ErrThrottled, wait.Round(time.Second), s.opts.MaxWait)
		}
		if err := s.opts.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		backoff *= 2
	}
	if errors.Is(last, providers.ErrThrottled) {
		return fmt.Errorf("%s: %w after %d attempts", what, last, s.opts.MaxAttempts)
	}
	return fmt.Errorf("%s: %w (after %d attempts)", what, last, s.opts.MaxAttempts)
}

// classify says whether a failed call is worth retrying, after how long,
// and what error it stands for.
func classify(resp *gh.Response, err error, backoff time.Duration) (time.Duration, bool, error) {
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		wait := time.Until(rl.Rate.Reset.Time) + time.Second
		return max(wait, time.Second), true, fmt.Errorf("%w: primary rate limit exhausted until %s",
			providers.ErrThrottled, rl.Rate.Reset.UTC().Format(time.RFC3339))
	case errors.As(err, &abuse):
		wait := time.Minute
		if abuse.RetryAfter != nil {
			wait = max(*abuse.RetryAfter, 0)
		}
		return wait, true, fmt.Errorf("%w: secondary rate limit", providers.ErrThrottled)
	}
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	msg := message(err)
	switch {
	case status == http.StatusTooManyRequests,
		// A 403 with retry-after is a rate limit, whatever its body says
		// (older Enterprise Server versions word it differently).
		status == http.StatusForbidden && resp.Header.Get("Retry-After") != "":
		return serverWait(resp.Response, time.Minute), true, fmt.Errorf("%w: %s", providers.ErrThrottled, msg)
	case status >= 500 && status != http.StatusNotImplemented:
		return backoff, true, fmt.Errorf("GitHub answered %d: %s", status, msg)
	case status == http.StatusNotFound:
		return 0, false, fmt.Errorf("%w (GitHub answered 404: %s; it also does when the token may not see it)", providers.ErrNotFound, msg)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return 0, false, fmt.Errorf("%w (GitHub answered %d: %s; the token needs the repo or admin:org scope, or the secrets/variables permission)",
			providers.ErrAccessDenied, status, msg)
	case status != 0:
		return 0, false, fmt.Errorf("GitHub answered %d: %s", status, msg)
	}
	return 0, false, scanner.ScrubError(err)
}

// serverWait reads retry-after (seconds) or x-ratelimit-reset (epoch
// seconds) from a throttling answer; fallback when neither is there.
func serverWait(r *http.Response, fallback time.Duration) time.Duration {
	if v, err := strconv.ParseInt(r.Header.Get("Retry-After"), 10, 64); err == nil && v >= 0 {
		return time.Duration(v) * time.Second
	}
	if v, err := strconv.ParseInt(r.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
		return max(time.Until(time.Unix(v, 0)), 0) + time.Second
	}
	return fallback
}

// message is GitHub's own text of an error answer, cut short and scrubbed.
func message(err error) string {
	var er *gh.ErrorResponse
	msg := err.Error()
	if errors.As(err, &er) && er.Message != "" {
		msg = er.Message
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	return scanner.Scrub(msg)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// paginate calls list for every page, following the Link header.
func (s *Store) paginate(ctx context.Context, what string, perPage int, list func(ctx context.Context, opts *gh.ListOptions) (*gh.Response, error)) error {
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		var resp *gh.Response
		err := s.do(ctx, what, func(ctx context.Context) (*gh.Response, error) {
			var err error
			resp, err = list(ctx, opts)
			return resp, err
		})
		if err != nil {
			return err
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}
