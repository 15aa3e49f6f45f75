package scanner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// Secret holds a raw key value. Every way of printing it (String, Format with
// any verb, MarshalJSON, slog) shows the redacted form; reading the raw value
// takes an explicit call to Reveal.
type Secret string

// Reveal returns the raw key. Call it only to compare, hash or write the key
// to the place it belongs, never to print it.
func (s Secret) Reveal() string { return string(s) }

// KeyID names a key without holding it: "sha256:" and the first 12 hex
// digits of the SHA-256 of the whole key.
func (s Secret) KeyID() string { return KeyID(string(s)) }

// Redacted shows at most the prefix, four characters, an ellipsis and the
// last three characters: "pplx-d7m9…2eT".
func (s Secret) Redacted() string {
	const shown = len(Prefix) + 4
	if len(s) < shown+3+4 {
		return "[redacted]"
	}
	return string(s[:shown]) + "…" + string(s[len(s)-3:])
}

// String implements fmt.Stringer with the redacted form.
func (s Secret) String() string { return s.Redacted() }

// GoString keeps %#v redacted too.
func (s Secret) GoString() string { return s.Redacted() }

// Format prints the redacted form whatever the verb, so %s, %v, %q and %x
// cannot leak the raw value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.Redacted()) }

// MarshalJSON encodes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.Redacted()) }

// LogValue keeps slog attributes redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.Redacted()) }

// KeyID returns the key id of a raw key value (see Secret.KeyID).
func KeyID(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return "sha256:" + hex.EncodeToString(sum[:6])
}
