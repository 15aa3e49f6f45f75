package perplexity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rekeyhq/rekey/scanner"
)

// Sentinel errors of Generate and Revoke, found with errors.Is.
var (
	// ErrUnauthorized: the API refused the authorising key (401/403); it is
	// revoked, wrong, or not allowed to manage keys.
	ErrUnauthorized = errors.New("the API refused the authorising key")
	// ErrRateLimited: the API kept answering 429 until rekey gave up.
	ErrRateLimited = errors.New("the API is throttling the account")
	// ErrOutcomeUnknown: no clear answer came (a network error, a timeout or
	// a server error after the request was sent), so the call may or may
	// not have taken effect. For Generate that means a key may exist that
	// nobody holds: check the API Keys page and revoke strays there.
	ErrOutcomeUnknown = errors.New("the outcome is unknown: the request may or may not have taken effect")
)

// StatusError is an HTTP answer the call could not use. Message is the
// server's own explanation, short and scrubbed of keys.
type StatusError struct {
	Op         string // "generate key", "revoke key"
	HTTPStatus int
	Message    string
	Attempts   int
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s%s", e.Op, describe(e.HTTPStatus), attemptsText(e.Attempts))
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	return b.String()
}

// Unwrap lets errors.Is find the sentinel that the status means.
func (e *StatusError) Unwrap() error {
	switch s := e.HTTPStatus; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return ErrUnauthorized
	case s == http.StatusTooManyRequests:
		return ErrRateLimited
	case s == http.StatusRequestTimeout || s >= 500:
		return ErrOutcomeUnknown
	}
	return nil
}

// generateRequest and generateResponse are the documented shapes of
// POST /generate_auth_token.
type generateRequest struct {
	TokenName string `json:"token_name,omitempty"`
}

type generateResponse struct {
	AuthToken             string `json:"auth_token"`
	CreatedAtEpochSeconds int64  `json:"created_at_epoch_seconds"`
	TokenName             string `json:"token_name"`
}

// revokeRequest is the documented body of POST /revoke_auth_token.
type revokeRequest struct {
	AuthToken string `json:"auth_token"`
}

// Generate mints a new key, authorised by authKey, named name (may be "").
// The API shows a new key once: the caller must store it before anything
// else. Only 429 is retried, since a retried request that had already
// minted a key would leave a live key nobody holds; a network error or
// server error is reported as ErrOutcomeUnknown.
func (c *Client) Generate(ctx context.Context, authKey scanner.Secret, name string) (scanner.Secret, error) {
	const op = "generate key"
	if err := wellFormed(op, "the authorising key", authKey); err != nil {
		return "", err
	}
	out := c.send(ctx, pathGenerate, authKey, generateRequest{TokenName: name}, onlyThrottle)
	if err := failure(op, out, authKey); err != nil {
		return "", err
	}
	var resp generateResponse
	if err := json.Unmarshal(out.resp.body, &resp); err != nil {
		return "", fmt.Errorf("%s: the API answered %s with an unreadable body; a key may have been created: %w",
			op, describe(out.resp.status), ErrOutcomeUnknown)
	}
	key := scanner.Secret(resp.AuthToken)
	if problems := scanner.Diagnose(resp.AuthToken); len(problems) > 0 {
		return "", fmt.Errorf("%s: the API answered without a well-formed key (%s); a key may have been created: %w",
			op, strings.Join(problems, ", "), ErrOutcomeUnknown)
	}
	return key, nil
}

// Revoke revokes key, authorised by authKey (which may be key itself). The
// client forgets what it knew about key, so a following Check asks again.
func (c *Client) Revoke(ctx context.Context, authKey, key scanner.Secret) error {
	const op = "revoke key"
	if err := wellFormed(op, "the authorising key", authKey); err != nil {
		return err
	}
	if err := wellFormed(op, "the key to revoke", key); err != nil {
		return err
	}
	defer c.forget(cacheKey(key), nil)
	out := c.send(ctx, pathRevoke, authKey, revokeRequest{AuthToken: key.Reveal()}, idempotent)
	return failure(op, out, authKey, key)
}

// failure turns an outcome that is not a 2xx answer into an error.
func failure(op string, out outcome, keys ...scanner.Secret) error {
	switch {
	case out.resp == nil && out.attempts == 0 && out.err != nil:
		// Nothing was sent (bad base URL, cancelled before the first try).
		return fmt.Errorf("%s: %s", op, clean(out.err.Error(), keys...))
	case out.resp == nil:
		return fmt.Errorf("%s: no answer from the Perplexity API%s: %s: %w",
			op, attemptsText(out.attempts), clean(fmt.Sprint(out.err), keys...), ErrOutcomeUnknown)
	case out.resp.status < 200 || out.resp.status > 299:
		msg := message(out.resp.body, keys...)
		if out.gaveUp != "" {
			msg = strings.TrimPrefix(msg+"; "+out.gaveUp, "; ")
		}
		return &StatusError{Op: op, HTTPStatus: out.resp.status, Message: msg, Attempts: out.attempts}
	}
	return nil
}

// wellFormed refuses to send a value that is not a key: it may be some
// other service's secret.
func wellFormed(op, what string, key scanner.Secret) error {
	if problems := scanner.Diagnose(key.Reveal()); len(problems) > 0 {
		return fmt.Errorf("%s: %s is not a well-formed Perplexity key (%s)", op, what, strings.Join(problems, ", "))
	}
	return nil
}
