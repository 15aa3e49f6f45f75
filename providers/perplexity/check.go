package perplexity

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"

	"github.com/rekeyhq/rekey/scanner"
)

// Status is what the API says about a key. The values are part of the JSON
// contract (DESIGN.md §3).
type Status string

// The four outcomes of a check. Unknown is never reported as invalid: only
// an answer of the API about the key itself makes a key invalid.
const (
	StatusLive        Status = "live"
	StatusInvalid     Status = "invalid"
	StatusRateLimited Status = "rate-limited"
	StatusUnknown     Status = "unknown"
)

// Result of a check. Reason is human text for the report and never holds a
// raw key; HTTPStatus is 0 when no answer came.
type Result struct {
	Status     Status
	HTTPStatus int
	Reason     string
}

// probeModel cannot exist, so a live key gets a cheap 4xx about the model
// instead of a billed answer, while a dead key is refused before the model
// is looked at.
const probeModel = "rekey-liveness-probe-no-such-model"

// probe is the body of the token-free check.
var probe = map[string]any{
	"model":      probeModel,
	"messages":   []map[string]string{{"role": "user", "content": "."}},
	"max_tokens": 1,
}

// checkCall is one check of one key, shared by concurrent callers.
type checkCall struct {
	done      chan struct{}
	res       Result
	cacheable bool
}

// Check asks the API whether key is live without spending tokens. The
// answer is remembered: one request per distinct key per Client, however
// often and however concurrently it is asked (Revoke forgets the revoked
// key). Only a check cut short by ctx is not remembered.
func (c *Client) Check(ctx context.Context, key scanner.Secret) Result {
	if problems := scanner.Diagnose(key.Reveal()); len(problems) > 0 {
		// A value that is not a key is never sent: it may be another
		// service's secret.
		return Result{Status: StatusInvalid, Reason: "not a well-formed Perplexity key (" +
			strings.Join(problems, ", ") + "); not sent to the API"}
	}
	id := cacheKey(key)
	for {
		c.mu.Lock()
		call, ok := c.cache[id]
		if !ok {
			call = &checkCall{done: make(chan struct{})}
			c.cache[id] = call
			c.mu.Unlock()
			call.res, call.cacheable = c.probe(ctx, key)
			if !call.cacheable {
				c.forget(id, call)
			}
			close(call.done)
			return call.res
		}
		c.mu.Unlock()
		select {
		case <-call.done:
			if call.cacheable {
				return call.res
			}
			// The first caller was interrupted; ask again for this one.
		case <-ctx.Done():
			return interrupted(ctx)
		}
	}
}

// cacheKey names a key in the cache by its full hash, so that the cache
// does not hold raw keys and no two keys can share an entry.
func cacheKey(key scanner.Secret) string {
	sum := sha256.Sum256([]byte(key.Reveal()))
	return string(sum[:])
}

// forget drops the cache entry id if it is still call (nil: whatever it is).
func (c *Client) forget(id string, call *checkCall) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if call == nil || c.cache[id] == call {
		delete(c.cache, id)
	}
}

func interrupted(ctx context.Context) Result {
	return Result{Status: StatusUnknown, Reason: "check interrupted: " + ctx.Err().Error()}
}

// probe sends the token-free request and maps the answer to a Result; the
// bool says whether the result may be remembered.
func (c *Client) probe(ctx context.Context, key scanner.Secret) (Result, bool) {
	out := c.send(ctx, pathChat, key, probe, idempotent)
	if ctx.Err() != nil {
		return interrupted(ctx), false
	}
	if out.resp == nil {
		reason := "no answer from the Perplexity API"
		if out.err != nil {
			reason += attemptsText(out.attempts) + ": " + clean(out.err.Error(), key)
		}
		return Result{Status: StatusUnknown, Reason: reason}, true
	}
	return classify(out, key), true
}

// classify maps the API's answer to the probe, per the issue: 401/403
// invalid; 200/400/404/422 live; 429 rate-limited; anything else unknown.
func classify(out outcome, key scanner.Secret) Result {
	s := out.resp.status
	res := Result{HTTPStatus: s}
	detail := func() string {
		var parts []string
		if m := message(out.resp.body, key); m != "" {
			parts = append(parts, fmt.Sprintf("%q", m))
		}
		if out.gaveUp != "" {
			parts = append(parts, out.gaveUp)
		}
		if len(parts) == 0 {
			return ""
		}
		return ": " + strings.Join(parts, "; ")
	}
	switch s {
	case http.StatusUnauthorized, http.StatusForbidden:
		if out.resp.header.Get("Cf-Mitigated") != "" {
			// A Cloudflare challenge page: the request was stopped before
			// the API looked at the key.
			res.Status = StatusUnknown
			res.Reason = describe(s) + " from a Cloudflare challenge, before the API looked at the key"
			return res
		}
		res.Status = StatusInvalid
		res.Reason = "the API refused the key (" + describe(s) + ")"
	case http.StatusOK:
		res.Status = StatusLive
		res.Reason = "the API accepted the key (" + describe(s) + ")"
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity:
		res.Status = StatusLive
		res.Reason = "the API accepted the key and refused only the probe's made-up model (" +
			describe(s) + "), so no tokens were spent"
	case http.StatusTooManyRequests:
		res.Status = StatusRateLimited
		res.Reason = "the API knows the key but throttles the account (" + describe(s) +
			attemptsText(out.attempts) + ")" + detail()
	default:
		res.Status = StatusUnknown
		res.Reason = "unexpected answer " + describe(s) + attemptsText(out.attempts) + detail()
	}
	return res
}
