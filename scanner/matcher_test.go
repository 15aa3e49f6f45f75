package scanner

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func TestFindKeys(t *testing.T) {
	g := testkeys.New(1)
	mixed, hex := g.Mixed(), g.Hex()
	repeated := Prefix + strings.Repeat("x", BodyLen)
	lowVariety := Prefix + strings.Repeat("abc1", BodyLen/4)
	pattern := Prefix + strings.Repeat("0123456789abcdef", BodyLen/16)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	tests := []struct {
		name  string
		input string
		want  []string // keys found, in order
		enc   Encoding
	}{
		{"mixed case alone", mixed, []string{mixed}, Plain},
		{"lower-case hex", hex, []string{hex}, Plain},
		{"in a .env line", "PERPLEXITY_API_KEY=" + mixed + "\n", []string{mixed}, Plain},
		{"double quotes", `key = "` + mixed + `"`, []string{mixed}, Plain},
		{"single quotes", `'` + mixed + `'`, []string{mixed}, Plain},
		{"backticks", "`" + mixed + "`", []string{mixed}, Plain},
		{"semicolon", "k=" + mixed + ";", []string{mixed}, Plain},
		{"comma", "[" + mixed + "," + hex + "]", []string{mixed, hex}, Plain},
		{"parenthesis", "use(" + mixed + ")", []string{mixed}, Plain},
		{"literal \\n before", `"line\n` + mixed + `"`, []string{mixed}, Plain},
		{"literal \\n after", `"` + mixed + `\nmore"`, []string{mixed}, Plain},
		{"literal \\t before", `\t` + mixed, []string{mixed}, Plain},
		{"end of input", "x " + mixed, []string{mixed}, Plain},
		{"CRLF", "K=" + mixed + "\r\n", []string{mixed}, Plain},
		{"two keys", mixed + " " + hex, []string{mixed, hex}, Plain},
		{"longer run is no key", mixed + "A", nil, Plain},
		{"letter before is no key", "x" + mixed, nil, Plain},
		{"digit before is no key", "7" + mixed, nil, Plain},
		{"too short", mixed[:KeyLen-1], nil, Plain},
		{"too short then space", mixed[:KeyLen-1] + " ", nil, Plain},
		{"symbol inside", mixed[:20] + "_" + mixed[21:], nil, Plain},
		{"placeholder repeated char", repeated, nil, Plain},
		{"placeholder low variety", lowVariety, nil, Plain},
		{"placeholder pattern", pattern, nil, Plain},
		{"prefix only", Prefix, nil, Plain},
		{"upper-case prefix is no key", strings.ToUpper(Prefix) + mixed[len(Prefix):], nil, Plain},
		{"base64 alone", b64(mixed), []string{mixed}, Base64},
		{"base64 in YAML", "data:\n  PERPLEXITY_API_KEY: " + b64(mixed) + "\n", []string{mixed}, Base64},
		{"base64 offset 1", b64("=" + mixed + "\n"), []string{mixed}, Base64},
		{"base64 offset 2", b64("K=" + mixed + "\n"), []string{mixed}, Base64},
		{"base64 of a .env file", b64("A=1\nPERPLEXITY_API_KEY=" + mixed + "\nB=2\n"), []string{mixed}, Base64},
		{"base64 of hex key", b64(hex), []string{hex}, Base64},
		{"base64 of extended run is no key", b64(mixed + "A"), nil, Base64},
		{"base64 of letter-prefixed is no key", b64("x" + mixed), nil, Base64},
		{"base64 of placeholder is no key", b64(repeated), nil, Base64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FindKeys(nil, []byte(tt.input), true)
			if len(got) != len(tt.want) {
				t.Fatalf("found %d keys, want %d: %v", len(got), len(tt.want), got)
			}
			for i, m := range got {
				if m.Secret.Reveal() != tt.want[i] {
					t.Errorf("match %d = %v, want %v", i, m.Secret, Secret(tt.want[i]))
				}
				if m.Encoding != tt.enc {
					t.Errorf("match %d encoding %s, want %s", i, m.Encoding, tt.enc)
				}
				if m.Encoding == Plain && tt.input[m.Start:m.End] != tt.want[i] {
					t.Errorf("match %d span %d:%d does not hold the key", i, m.Start, m.End)
				}
			}
		})
	}
}

// A key touching the end of a chunk that is not the last is left for the
// next chunk, whose boundary check can see the following byte.
func TestFindKeysDefersAtChunkEnd(t *testing.T) {
	key := testkeys.New(2).Mixed()
	if got := FindKeys(nil, []byte("k="+key), false); len(got) != 0 {
		t.Fatalf("decided a key whose next byte is unknown: %v", got)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(key + "\n"))
	if got := FindKeys(nil, []byte(b64[:len(b64)-4]), false); len(got) != 0 {
		t.Fatalf("decided a base64 key whose run may go on: %v", got)
	}
	if got := FindKeys(nil, []byte("k="+key), true); len(got) != 1 {
		t.Fatalf("at end of input the key must be found, got %v", got)
	}
}

func TestSecretNeverPrintsRaw(t *testing.T) {
	key := testkeys.New(3).Mixed()
	s := Secret(key)
	for _, out := range []string{s.String(), s.Redacted(), s.GoString(), s.KeyID(), fmtAll(s)} {
		if strings.Contains(out, key) || strings.Contains(out, key[len(Prefix):len(Prefix)+8]) {
			t.Fatalf("output %q shows the raw key", out)
		}
	}
	if r := s.Redacted(); r != key[:9]+"…"+key[len(key)-3:] {
		t.Fatalf("redacted = %q", r)
	}
	if id := s.KeyID(); !strings.HasPrefix(id, "sha256:") || len(id) != len("sha256:")+12 {
		t.Fatalf("key id = %q", id)
	}
}

func TestScrub(t *testing.T) {
	key := testkeys.New(4).Mixed()
	msg := `401 Unauthorized: {"error":"invalid key ` + key + `"} name=production` + key + `xyz ` + base64.StdEncoding.EncodeToString([]byte(key))
	got := Scrub(msg)
	if strings.Contains(got, key) || strings.Count(got, Secret(key).Redacted()) != 3 || !strings.Contains(got, "name=production"+Secret(key).Redacted()+"xyz") {
		t.Fatalf("Scrub(%q) = %q", Secret(key), got)
	}
}

func TestDiagnose(t *testing.T) {
	key := testkeys.New(5).Mixed()
	tests := []struct {
		value string
		want  string
	}{
		{key, ""},
		{"Bearer " + key, ProblemBearerPrefix},
		{" " + key + " ", ProblemWhitespace},
		{key + "\r", ProblemCarriageReturn},
		{`"` + key + `"`, ProblemExtraQuotes},
		{"'" + key, ProblemExtraQuotes},
		{"\u200b" + key, ProblemInvisible},
		{key + "\ufeff", ProblemInvisible},
		{"sk-ab" + key[len(Prefix):], ProblemWrongPrefix},
		{key[:KeyLen-2], ProblemWrongLength},
		{key[:20] + "-" + key[21:], ProblemInvalidCharacter},
		{` "Bearer ` + key + "\"\r", strings.Join([]string{ProblemCarriageReturn, ProblemWhitespace, ProblemExtraQuotes, ProblemBearerPrefix}, ",")},
	}
	for _, tt := range tests {
		got := strings.Join(Diagnose(tt.value), ",")
		if got != tt.want {
			t.Errorf("Diagnose(%q) = %q, want %q", Scrub(tt.value), got, tt.want)
		}
	}
}

func fmtAll(s Secret) string {
	var b strings.Builder
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s"} {
		b.WriteString(sprintf(verb, s))
	}
	return b.String()
}
