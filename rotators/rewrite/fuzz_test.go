package rewrite

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// FuzzReplace plants copies of a key, plain and base64 at any alignment,
// into arbitrary bytes and checks what rotation relies on: the length is
// kept, no byte outside a copy changes, no copy of the old key is left, the
// new key appears as often as the old one did, and replacing back restores
// the input exactly.
func FuzzReplace(f *testing.F) {
	f.Add([]byte("A=\r\nB="), []byte{}, []byte{}, uint8(0), uint8(1))
	f.Add([]byte("\ufeffkey: "), []byte("x"), []byte("yz"), uint8(3), uint8(2))
	f.Add([]byte{}, []byte{0, 1}, []byte{255}, uint8(7), uint8(3))
	f.Add([]byte("abc\n"), []byte("ab"), []byte{}, uint8(200), uint8(0))
	oldKey, newKey := keys(42)
	o, n := NewKey(oldKey), NewKey(newKey)
	f.Fuzz(func(t *testing.T, data, pre, post []byte, at, what uint8) {
		content := bytes.Clone(data)
		insert := func(s []byte) {
			i := 0
			if len(content) > 0 {
				i = int(at) % (len(content) + 1)
			}
			content = append(content[:i:i], append(s, content[i:]...)...)
		}
		if what&1 != 0 {
			insert([]byte(oldKey))
		}
		if what&2 != 0 {
			insert([]byte(base64.StdEncoding.EncodeToString(append(append(append([]byte{}, pre...), oldKey...), post...))))
		}
		before := o.Count(content)
		if n.Count(content).Total() != 0 {
			t.Skip("the new key cannot appear by chance")
		}
		spans := o.Spans(content)
		out, replaced := Replace(content, o, n)
		if len(out) != len(content) {
			t.Fatalf("length changed: %d -> %d", len(content), len(out))
		}
		if replaced != before {
			t.Fatalf("replaced %+v, counted %+v", replaced, before)
		}
		last := 0
		for _, s := range spans {
			if !bytes.Equal(out[last:s.Start], content[last:s.Start]) {
				t.Fatalf("bytes outside the copies changed in [%d,%d)", last, s.Start)
			}
			last = s.End
		}
		if !bytes.Equal(out[last:], content[last:]) {
			t.Fatalf("bytes after the last copy changed")
		}
		if c := o.Count(out); c.Total() != 0 {
			t.Fatalf("old key still present after replace: %+v", c)
		}
		if c := n.Count(out); c != before {
			t.Fatalf("new key counted %+v, old key was %+v", c, before)
		}
		back, _ := Replace(out, n, o)
		if !bytes.Equal(back, content) {
			t.Fatalf("replacing back does not restore the input")
		}
	})
}

func TestFuzzSeedsPlantCopies(t *testing.T) {
	// The fuzz body must actually plant keys, or it would test nothing.
	oldKey, _ := keys(42)
	if !NewKey(oldKey).Contains([]byte(base64.StdEncoding.EncodeToString([]byte("x" + oldKey)))) {
		t.Fatal("a planted base64 copy is not found")
	}
}
