package scanner

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// FuzzFindKeys plants a key at any offset of random bytes: it must be found
// unless a neighbour extends it, and nothing may panic. Every match must be
// a well-formed key actually present (plain or base64) in the input.
func FuzzFindKeys(f *testing.F) {
	f.Add([]byte("PERPLEXITY_API_KEY="), []byte("\n"), uint64(1), false)
	f.Add([]byte{}, []byte{}, uint64(2), true)
	f.Add([]byte("x"), []byte("9"), uint64(3), false)
	f.Add([]byte(`"\n`), []byte(`\n"`), uint64(4), true)
	f.Fuzz(func(t *testing.T, before, after []byte, seed uint64, hex bool) {
		g := testkeys.New(seed)
		key := g.Mixed()
		if hex {
			key = g.Hex()
		}
		data := append(append(append([]byte{}, before...), key...), after...)
		matches := FindKeys(nil, data, true)
		for _, m := range matches {
			raw := m.Secret.Reveal()
			if len(raw) != KeyLen || !isKeyBody([]byte(raw[len(Prefix):])) {
				t.Fatalf("match %q is not a well-formed key", Scrub(raw))
			}
			if m.Encoding == Plain && string(data[m.Start:m.End]) != raw {
				t.Fatalf("plain match span does not hold the key")
			}
		}
		escaped := len(before) >= 2 && before[len(before)-2] == '\\'
		extended := len(before) > 0 && isAlnum[before[len(before)-1]] && !escaped ||
			len(after) > 0 && isAlnum[after[0]]
		found := false
		for _, m := range matches {
			if m.Encoding == Plain && m.Start == len(before) {
				found = true
			}
		}
		if found == extended {
			t.Fatalf("planted key found=%v, extended by neighbours=%v (before %q, after %q)", found, extended, before, after)
		}
	})
}

// FuzzFindKeysBase64 plants a base64-encoded key at any alignment.
func FuzzFindKeysBase64(f *testing.F) {
	f.Add([]byte("K="), []byte("\n"), uint64(1))
	f.Add([]byte{}, []byte{}, uint64(2))
	f.Add([]byte("ab"), []byte(" "), uint64(3))
	f.Fuzz(func(t *testing.T, before, after []byte, seed uint64) {
		key := testkeys.New(seed).Mixed()
		plain := append(append(append([]byte{}, before...), key...), after...)
		enc := []byte(base64.StdEncoding.EncodeToString(plain))
		extended := len(before) > 0 && isAlnum[before[len(before)-1]] || len(after) > 0 && isAlnum[after[0]]
		found := false
		for _, m := range FindKeys(nil, enc, true) {
			if m.Encoding == Base64 && m.Secret.Reveal() == key {
				found = true
			}
		}
		if !extended && !found {
			t.Fatalf("base64 key not found (before %q, after %q)", before, after)
		}
		// Chunked like a streaming source: the same keys, each exactly once.
		if !bytes.Contains(plain, []byte(key)) {
			t.Fatal("test setup")
		}
	})
}
