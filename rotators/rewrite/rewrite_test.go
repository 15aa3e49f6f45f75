package rewrite

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func keys(seed uint64) (oldKey, newKey string) {
	g := testkeys.New(seed)
	return g.Mixed(), g.Hex()
}

func TestReplacePlainKeepsEveryOtherByte(t *testing.T) {
	oldKey, newKey := keys(1)
	cases := map[string]string{
		"dotenv crlf and bom": "\ufeffA=1\r\nPERPLEXITY_API_KEY={K}\r\nB=2\r\n",
		"no final newline":    "key: '{K}'",
		"quoted json":         `{"k":"{K}","n":1}`,
		"twice":               "{K} {K}",
		"glued to text":       "url?key%3D{K}X", // not a key to the scanner, still a copy
		"comment and export":  "# prod\nexport KEY=\"{K}\" # rotated by hand\n",
	}
	for name, tmpl := range cases {
		t.Run(name, func(t *testing.T) {
			n := strings.Count(tmpl, "{K}")
			data := []byte(strings.ReplaceAll(tmpl, "{K}", oldKey))
			want := []byte(strings.ReplaceAll(tmpl, "{K}", newKey))
			got, c := Replace(data, NewKey(oldKey), NewKey(newKey))
			if !bytes.Equal(got, want) {
				t.Fatalf("Replace:\n got %q\nwant %q", got, want)
			}
			if c != (Counts{Plain: n}) {
				t.Errorf("counts = %+v, want %d plain", c, n)
			}
			back, _ := Replace(got, NewKey(newKey), NewKey(oldKey))
			if !bytes.Equal(back, data) {
				t.Errorf("replacing back does not restore the original")
			}
		})
	}
}

// TestReplaceBase64EveryAlignment encodes the key with 0 to 5 bytes before
// and after it, replaces, and decodes with the standard library: the result
// must be exactly the same bytes around the new key.
func TestReplaceBase64EveryAlignment(t *testing.T) {
	oldKey, newKey := keys(2)
	r := testkeys.New(3).Rand()
	for before := range 6 {
		for after := range 6 {
			pre, post := make([]byte, before), make([]byte, after)
			for i := range pre {
				pre[i] = byte(r.IntN(256))
			}
			for i := range post {
				post[i] = byte(r.IntN(256))
			}
			enc := func(key string) string {
				return base64.StdEncoding.EncodeToString(append(append(append([]byte{}, pre...), key...), post...))
			}
			data := []byte("data:\n  key: " + enc(oldKey) + "\n")
			got, c := Replace(data, NewKey(oldKey), NewKey(newKey))
			if want := []byte("data:\n  key: " + enc(newKey) + "\n"); !bytes.Equal(got, want) {
				t.Fatalf("before=%d after=%d:\n got %q\nwant %q", before, after, got, want)
			}
			if c != (Counts{Base64: 1}) {
				t.Errorf("before=%d after=%d: counts = %+v, want 1 base64", before, after, c)
			}
		}
	}
}

func TestCountAndContains(t *testing.T) {
	oldKey, newKey := keys(4)
	data := []byte(oldKey + "\n" + base64.StdEncoding.EncodeToString([]byte("x"+oldKey)) + "\n" + newKey)
	o, n := NewKey(oldKey), NewKey(newKey)
	if c := o.Count(data); c != (Counts{Plain: 1, Base64: 1}) {
		t.Errorf("old counts = %+v", c)
	}
	if c := n.Count(data); c != (Counts{Plain: 1}) {
		t.Errorf("new counts = %+v", c)
	}
	if !o.Contains(data) || NewKey(testkeys.New(5).Mixed()).Contains(data) {
		t.Errorf("Contains is wrong")
	}
	// A truncated copy is not a copy.
	if o.Contains([]byte(oldKey[:len(oldKey)-1])) {
		t.Errorf("a truncated key counted as a copy")
	}
	// Base64 text whose edge character carries other bits of the key is not a copy.
	enc := []byte(base64.StdEncoding.EncodeToString([]byte("ab" + oldKey)))
	lead := bytes.Index(enc, o.forms[3].core) - 1
	enc[lead] = alphabet[(value[enc[lead]]+1)%64]
	if o.Contains(enc) {
		t.Errorf("base64 with a wrong edge character counted as a copy")
	}
}

func TestReplaceNothingReturnsInput(t *testing.T) {
	oldKey, newKey := keys(6)
	data := []byte("nothing here")
	got, c := Replace(data, NewKey(oldKey), NewKey(newKey))
	if &got[0] != &data[0] || c.Total() != 0 {
		t.Errorf("Replace with no copies should return its input untouched")
	}
}
