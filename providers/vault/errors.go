package vault

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// classify turns a Vault client error into rekey's: the providers sentinel
// it stands for, with Vault's own words scrubbed of keys. Other errors
// (network, context) keep their chain but print scrubbed.
func classify(err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return scanner.ScrubError(err)
	}
	// Vault's messages are multi-line lists ("1 error occurred:\n\t* …").
	detail := scanner.Scrub(strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " "))
	var sentinel error
	switch {
	case re.StatusCode == http.StatusForbidden:
		sentinel = providers.ErrAccessDenied
	case re.StatusCode == http.StatusNotFound:
		sentinel = providers.ErrNotFound
	case re.StatusCode == http.StatusTooManyRequests:
		sentinel = providers.ErrThrottled
	case re.StatusCode == http.StatusBadRequest && strings.Contains(detail, "check-and-set"):
		sentinel = providers.ErrConflict
	}
	if sentinel == nil {
		return fmt.Errorf("vault answered %d: %s", re.StatusCode, detail)
	}
	return fmt.Errorf("%w (vault answered %d: %s)", sentinel, re.StatusCode, detail)
}
