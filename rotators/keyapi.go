package rotators

import (
	"context"

	"github.com/rekeyhq/rekey/scanner"
)

// KeyStatus is what the API says about a key: live, invalid, rate-limited
// or unknown. Unknown is never taken for invalid.
type KeyStatus string

// The outcomes of a check.
const (
	StatusLive        KeyStatus = "live"
	StatusInvalid     KeyStatus = "invalid"
	StatusRateLimited KeyStatus = "rate-limited"
	StatusUnknown     KeyStatus = "unknown"
)

// KeyAPI is the part of the Perplexity API a rotation uses. The command
// adapts the real client to it; tests use a stub.
type KeyAPI interface {
	// Check says whether key is live; reason explains other answers.
	Check(ctx context.Context, key scanner.Secret) (status KeyStatus, reason string)
	// Generate mints a key named name, authorised by auth.
	Generate(ctx context.Context, auth scanner.Secret, name string) (scanner.Secret, error)
	// Revoke revokes key, authorised by auth.
	Revoke(ctx context.Context, auth, key scanner.Secret) error
}
