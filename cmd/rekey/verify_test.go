package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/perplexity/fakeperplexity"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// verifyFixture writes a tree where the first finding (a.env) holds key 0,
// and keys 0 and 1 appear twice each, so de-duplication shows.
func verifyFixture(t *testing.T) (string, []string) {
	t.Helper()
	g := testkeys.New(201)
	keys := []string{g.Mixed(), g.Hex(), g.Mixed()}
	root := t.TempDir()
	for name, content := range map[string]string{
		"a.env":          "PERPLEXITY_API_KEY=" + keys[0] + "\n",
		"b/config.yaml":  "key: " + keys[1] + "\nagain: " + keys[0] + "\n",
		"c/client.py":    "KEY = '" + keys[2] + "'\n",
		"d/k8s.yaml":     "token: " + keys[1] + "\n",
		"e/notes/readme": "no keys here\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, keys
}

func TestScanVerifyFillsStatusOncePerKey(t *testing.T) {
	srv := fakeAPI(t)
	root, keys := verifyFixture(t)
	srv.AddKey(keys[0], true)
	srv.AddKey(keys[1], false)
	// keys[2] is unknown to the API: 401, invalid.
	r := rekey(t, "", "scan", "--verify", "--format", "json", root)
	if r.code != exitFound {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	var rep scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{scanner.KeyID(keys[0]): "live", scanner.KeyID(keys[1]): "invalid", scanner.KeyID(keys[2]): "invalid"}
	if len(rep.Findings) != 5 {
		t.Fatalf("%d findings, want 5", len(rep.Findings))
	}
	for _, f := range rep.Findings {
		if f.Status != want[f.KeyID] {
			t.Errorf("%s: status %q, want %q", f.Location.URI, f.Status, want[f.KeyID])
		}
	}
	if n := srv.Requests(fakeperplexity.PathChat); n != 3 {
		t.Errorf("%d requests for 3 distinct keys in 5 places, want 3", n)
	}
	if srv.Completions() != 0 {
		t.Error("verification spent tokens")
	}
	assertNoLeak(t, keys, r.stdout, r.stderr)
}

func TestScanVerifyAllFormats(t *testing.T) {
	root, keys := verifyFixture(t)
	for _, format := range []string{"text", "json", "sarif"} {
		srv := fakeAPI(t)
		srv.AddKey(keys[0], true)
		srv.AddKey(keys[1], true)
		r := rekey(t, "", "scan", "--verify", "--format", format, root)
		if r.code != exitFound {
			t.Fatalf("%s: exit %d, stderr %s", format, r.code, r.stderr)
		}
		var marker string
		switch format {
		case "text":
			marker = "  live"
		case "json":
			marker = `"status": "live"`
		case "sarif":
			marker = `"status": "live"`
		}
		if !strings.Contains(r.stdout, marker) || !strings.Contains(r.stdout, "invalid") {
			t.Errorf("%s report lacks the statuses:\n%s", format, r.stdout)
		}
		if format == "sarif" {
			validateSARIF(t, []byte(r.stdout))
		}
		assertNoLeak(t, keys, r.stdout, r.stderr)
	}
}

func TestScanWithoutVerifyAsksNothing(t *testing.T) {
	srv := fakeAPI(t)
	root, keys := verifyFixture(t)
	srv.AddKey(keys[0], true)
	r := rekey(t, "", "scan", "--format", "json", root)
	if r.code != exitFound || strings.Contains(r.stdout, `"status"`) {
		t.Errorf("exit %d, output has statuses:\n%s", r.code, r.stdout)
	}
	if n := srv.TotalRequests(); n != 0 {
		t.Errorf("%d API requests without --verify", n)
	}
}

func TestScanVerifyUnknownIsWarnedNotInvalid(t *testing.T) {
	srv := fakeAPI(t)
	srv.SetEcho(true) // error answers carry the key back: it must not reach the output
	root, keys := verifyFixture(t)
	for _, k := range keys {
		srv.AddKey(k, true)
	}
	// keys[0] is asked first (a.env sorts first): every attempt fails.
	srv.Inject(fakeperplexity.PathChat, slices.Repeat([]fakeperplexity.Fault{{Status: 503, RetryAfterMS: "0"}}, 4)...)
	r := rekey(t, "", "scan", "--verify", "--format", "json", root)
	var rep scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	for _, f := range rep.Findings {
		want := "live"
		if f.KeyID == scanner.KeyID(keys[0]) {
			want = "unknown"
		}
		if f.Status != want {
			t.Errorf("%s: %q, want %q", f.Location.URI, f.Status, want)
		}
	}
	redacted := scanner.Secret(keys[0]).Redacted()
	if !strings.Contains(r.stderr, "rekey: warning: "+redacted) || !strings.Contains(r.stderr, "is unknown") ||
		!strings.Contains(r.stderr, "HTTP 503") {
		t.Errorf("stderr does not name the unknown key and why:\n%s", r.stderr)
	}
	if n := srv.Requests(fakeperplexity.PathChat); n != 4+2 {
		t.Errorf("%d requests, want 6 (4 bounded attempts for one key, 1 each for two more)", n)
	}
	assertNoLeak(t, keys, r.stdout, r.stderr)

	quiet := rekey(t, "", "scan", "--verify", "--quiet", root)
	if quiet.stderr != "" {
		t.Errorf("--quiet printed on stderr: %s", quiet.stderr)
	}
}

func TestScanVerifyRateFlag(t *testing.T) {
	srv := fakeAPI(t)
	root, _ := verifyFixture(t)
	r := rekey(t, "", "scan", "--verify", "--rate", "nope", root)
	if r.code != exitUsage || !strings.Contains(r.stderr, "not a positive number") || r.stdout != "" {
		t.Errorf("exit %d, stderr %q; want a usage error before scanning", r.code, r.stderr)
	}
	if srv.TotalRequests() != 0 {
		t.Error("requests despite a usage error")
	}
}
