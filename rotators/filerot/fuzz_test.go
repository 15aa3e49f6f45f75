package filerot

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// FuzzFileRewrite rewrites real files through the file location: whatever
// the bytes around the key (CRLF, BOM, NUL, invalid UTF-8, base64 at any
// alignment), the file afterwards is the input with exactly the key's
// bytes changed, and its mode is kept.
func FuzzFileRewrite(f *testing.F) {
	f.Add([]byte("\ufeffA=1\r\nK="), []byte("\r\n# end"), uint8(0), false)
	f.Add([]byte{0, 0xff, 0xfe}, []byte{}, uint8(2), true)
	f.Add([]byte("key: "), []byte("\n"), uint8(1), true)
	g := testkeys.New(4242)
	oldKey, newKey := scanner.Secret(g.Mixed()), scanner.Secret(g.Hex())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, before, after []byte, pad uint8, encode bool) {
		form := func(k scanner.Secret) []byte {
			if !encode {
				return []byte(k.Reveal())
			}
			raw := append(bytes.Repeat([]byte{'x'}, int(pad%3)), k.Reveal()...)
			return []byte(base64.StdEncoding.EncodeToString(raw))
		}
		content := bytes.Join([][]byte{before, form(oldKey), after}, nil)
		if bytes.Contains(content, []byte(newKey.Reveal())) {
			t.Skip()
		}
		p := filepath.Join(dir, "fuzz.env")
		if err := os.WriteFile(p, content, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		l, err := New([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		k := rotators.Keys{Old: oldKey, New: newKey}
		found, err := l.Locate(context.Background(), k)
		if err != nil || len(found.Targets) != 1 {
			t.Fatalf("locate: %v, %d targets", err, len(found.Targets))
		}
		tg := found.Targets[0]
		if _, err := tg.Location.Write(context.Background(), rotators.Change{From: oldKey, To: newKey, Expect: tg.State.Hash}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Join([][]byte{before, form(newKey), after}, nil)
		// The planted copy must be replaced; bytes around it that happen
		// to hold more copies are replaced too, so compare outside them.
		if !bytes.Equal(got[:len(before)], before) || !bytes.Equal(got[len(got)-len(after):], after) {
			t.Fatalf("bytes around the key changed:\n got %q\nwant %q", got, want)
		}
		if !bytes.Equal(got[len(before):len(got)-len(after)], form(newKey)) {
			t.Fatalf("the key was not replaced in place:\n got %q\nwant %q", got, want)
		}
		if info, _ := os.Stat(p); info.Mode().Perm() != 0o640 {
			t.Fatalf("mode %v", info.Mode().Perm())
		}
		assertNoTemps(t, dir)
	})
}
