package scanner

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// write creates a file (and its directories) under root.
func write(t *testing.T, root, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func scanTree(t *testing.T, paths ...string) *Report {
	t.Helper()
	s := NewScan("", nil)
	src, err := NewWorkTree(paths, s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// found renders findings as "path:line:col key-id encoding" for comparison.
func found(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		pos := fmt.Sprintf("%d:%d", f.Location.Line, f.Location.Column)
		if f.Location.Offset != nil {
			pos = fmt.Sprintf("@%d", *f.Location.Offset)
		}
		out = append(out, fmt.Sprintf("%s:%s %s %s", f.Location.Path, pos, f.KeyID, f.Location.Encoding))
	}
	return out
}

func TestWorkTreeFindsEveryCopy(t *testing.T) {
	g := testkeys.New(10)
	k1, k2, k3 := g.Mixed(), g.Hex(), g.Mixed()
	root := t.TempDir()
	write(t, root, "app/main.go", []byte("package main\n\nconst key = \""+k1+"\"\n"))
	write(t, root, ".env", []byte("# local\nPERPLEXITY_API_KEY="+k2+"\n"))
	write(t, root, "k8s/secret.yaml", []byte("data:\n  PERPLEXITY_API_KEY: "+base64.StdEncoding.EncodeToString([]byte(k3))+"\n"))
	write(t, root, ".git/config", []byte("url = "+k1+"\n"))               // git internals are skipped
	write(t, root, "sub/.git", []byte("gitdir: ../.git/worktrees/sub\n")) // linked worktree pointer
	write(t, root, "empty", nil)
	write(t, root, "image.bin", append([]byte{0, 1, 2, 3}, []byte(k1)...))

	r := scanTree(t, root)
	rel := func(p string) string { return filepath.ToSlash(filepath.Join(root, p)) }
	want := []string{
		rel(".env") + ":2:20 " + KeyID(k2) + " plain",
		rel("app/main.go") + ":3:14 " + KeyID(k1) + " plain",
		rel("image.bin") + ":@4 " + KeyID(k1) + " plain",
		rel("k8s/secret.yaml") + ":2:23 " + KeyID(k3) + " base64",
	}
	if got := found(r); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Stats.Files != 5 {
		t.Errorf("files = %d, want 5 (the .git directory and pointer file are not scanned)", r.Stats.Files)
	}
	if r.Findings[0].Location.Variable != "PERPLEXITY_API_KEY" || r.Findings[3].Location.Variable != "PERPLEXITY_API_KEY" {
		t.Errorf("variables not attached: %+v", r.Findings)
	}
	if r.Findings[1].Location.Variable != "key" {
		t.Errorf("Go constant name not attached: %q", r.Findings[1].Location.Variable)
	}
	if r.Findings[0].Location.URI != "file:"+rel(".env")+":2" {
		t.Errorf("uri = %q", r.Findings[0].Location.URI)
	}
}

// Keys planted around every chunk boundary of a multi-chunk file are each
// found exactly once, with the right line.
func TestWorkTreeChunkBoundaries(t *testing.T) {
	g := testkeys.New(11)
	var data bytes.Buffer
	type planted struct {
		line int
		key  string
	}
	var want []planted
	line := 1
	filler := strings.Repeat("lorem ipsum dolor sit amet, consectetur adipiscing elit\n", 64)
	for boundary := ChunkSize - MaxContext; boundary < 4*ChunkSize; boundary += ChunkSize - MaxContext {
		for _, delta := range []int{-KeyLen - 1, -KeyLen / 2, -1, 0, 1, MaxContext - KeyLen, MaxContext} {
			for rest := boundary + delta - 2 - data.Len(); rest > 0; rest = boundary + delta - 2 - data.Len() {
				chunk := filler
				if rest < len(filler) {
					chunk = strings.Repeat("a", rest-1) + "\n"
				}
				data.WriteString(chunk)
				line += strings.Count(chunk, "\n")
			}
			key := g.Mixed()
			data.WriteString(" " + key + "\n")
			want = append(want, planted{line, key})
			line++
		}
	}
	root := t.TempDir()
	write(t, root, "big.txt", data.Bytes())
	r := scanTree(t, root)
	if len(r.Findings) != len(want) {
		t.Fatalf("found %d keys, planted %d", len(r.Findings), len(want))
	}
	for i, f := range r.Findings {
		if f.KeyID != KeyID(want[i].key) || f.Location.Line != want[i].line || f.Location.Column != 2 {
			t.Errorf("finding %d at line %d col %d (%s), want line %d (%s)", i, f.Location.Line, f.Location.Column, f.KeyID, want[i].line, KeyID(want[i].key))
		}
	}
	if r.Stats.Bytes != int64(data.Len()) {
		t.Errorf("bytes = %d, want %d", r.Stats.Bytes, data.Len())
	}
}

func TestWorkTreeUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file; the CLI test covers permission denied by running rekey as another user")
	}
	key := testkeys.New(13).Mixed()
	root := t.TempDir()
	write(t, root, "ok.txt", []byte(key))
	p := write(t, root, "secret.txt", []byte(key))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "locked")
	write(t, root, "locked/x.txt", []byte(key))
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	r := scanTree(t, root)
	if len(r.Findings) != 1 || len(r.Stats.Errors) != 2 {
		t.Fatalf("findings %v, errors %v", found(r), r.Stats.Errors)
	}
}

func TestWorkTreeMissingPath(t *testing.T) {
	if _, err := NewWorkTree([]string{filepath.Join(t.TempDir(), "nope")}, NewScan("", nil)); err == nil {
		t.Fatal("a missing path must be an error")
	}
}

func TestDotenvProblems(t *testing.T) {
	g := testkeys.New(14)
	keys := make([]string, 8)
	for i := range keys {
		keys[i] = g.Mixed()
	}
	env := strings.Join([]string{
		"CLEAN=" + keys[0],
		`SPACED=" ` + keys[1] + ` "`,
		"BEARER=Bearer " + keys[2],
		`QUOTED='"` + keys[3] + `"'`,
		"ZW=\u200b" + keys[4],
		"export EXPORTED=" + keys[5] + " # comment",
		"CRLF=" + keys[6] + "\r",
		`SINGLE='` + keys[7] + `'`,
	}, "\n") + "\n"
	root := t.TempDir()
	write(t, root, "config/.env.production", []byte(env))
	r := scanTree(t, root)
	want := map[string]string{
		"CLEAN": "", "SPACED": ProblemWhitespace, "BEARER": ProblemBearerPrefix, "QUOTED": ProblemExtraQuotes,
		"ZW": ProblemInvisible, "EXPORTED": "", "CRLF": ProblemCarriageReturn, "SINGLE": "",
	}
	if len(r.Findings) != len(want) {
		t.Fatalf("found %v", found(r))
	}
	for _, f := range r.Findings {
		w, ok := want[f.Location.Variable]
		if !ok {
			t.Errorf("unexpected variable %q", f.Location.Variable)
			continue
		}
		if got := strings.Join(f.Problems, ","); got != w {
			t.Errorf("%s: problems %q, want %q", f.Location.Variable, got, w)
		}
	}
}

func TestMalformedDotenvStillScanned(t *testing.T) {
	key := testkeys.New(15).Mixed()
	root := t.TempDir()
	write(t, root, ".env", []byte("GOOD=1\nBROKEN=\"unterminated\nKEY="+key+"\nDB_PASSWORD=hunter2\n"))
	r := scanTree(t, root)
	if len(r.Findings) != 1 {
		t.Fatalf("key in a malformed .env not found: %v", found(r))
	}
	if len(r.Stats.Warnings) != 1 || !strings.Contains(r.Stats.Warnings[0].Message, "malformed") {
		t.Errorf("no warning for the malformed file: %v", r.Stats.Warnings)
	}
	if w := fmt.Sprint(r.Stats.Warnings); strings.Contains(w, key) || strings.Contains(w, "hunter2") {
		t.Errorf("warning quotes the file's secrets: %s", Scrub(w))
	}
}

func TestSuppressions(t *testing.T) {
	g := testkeys.New(16)
	k1, k2, k3 := g.Mixed(), g.Mixed(), g.Mixed()
	root := t.TempDir()
	write(t, root, "a.go", []byte("x := \""+k1+"\" // rekey:allow test fixture\ny := \""+k2+"\"\n"))
	write(t, root, "fixtures/b.txt", []byte(k3))
	allow, err := NewAllowlist([]string{strings.TrimPrefix(KeyID(k2), "sha256:")}, []string{"**/fixtures/**"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewScan("", allow)
	src, _ := NewWorkTree([]string{root}, s)
	r, err := s.Run(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || r.Stats.Suppressed != 3 {
		t.Fatalf("findings %v, suppressed %d", found(r), r.Stats.Suppressed)
	}
	if _, err := NewAllowlist(nil, []string{"[broken"}); err == nil {
		t.Error("an invalid glob must be rejected")
	}
}

func TestOnlyKnownKey(t *testing.T) {
	g := testkeys.New(17)
	k1, k2 := g.Mixed(), g.Mixed()
	root := t.TempDir()
	write(t, root, "a.txt", []byte(k1+"\n"+k2+"\n"+base64.StdEncoding.EncodeToString([]byte(k2))+"\n"))
	s := NewScan(Secret(k2), nil)
	src, _ := NewWorkTree([]string{root}, s)
	r, _ := s.Run(context.Background(), src)
	if len(r.Findings) != 2 || r.Findings[0].KeyID != KeyID(k2) || r.Findings[1].Location.Encoding != Base64 {
		t.Fatalf("findings %v", found(r))
	}
}
