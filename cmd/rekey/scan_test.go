package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cliResult is what one rekey invocation printed and returned.
type cliResult struct {
	code           int
	stdout, stderr string
}

// rekey runs the CLI in-process with the given stdin.
func rekey(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return cliResult{code, out.String(), errOut.String()}
}

// scanFixture builds a tree with keys in the usual places and returns its
// root and the keys, in a fixed order.
func scanFixture(t *testing.T) (string, []string) {
	t.Helper()
	g := testkeys.New(42)
	keys := []string{g.Mixed(), g.Hex(), g.Mixed()}
	root := t.TempDir()
	files := map[string]string{
		"config/.env":      "# production\nPERPLEXITY_API_KEY=\"Bearer " + keys[0] + "\"\n",
		"src/client.py":    "API_KEY = '" + keys[1] + "'\n",
		"deploy/app.yaml":  "token: " + keys[0] + "\n",
		"README.md":        "Set PERPLEXITY_API_KEY in your environment.\n",
		"notes/allowed.md": "example: " + keys[2] + " rekey:allow\n",
	}
	for name, content := range files {
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

// assertNoLeak fails if any raw key appears in any of the texts.
func assertNoLeak(t *testing.T, keys []string, texts ...string) {
	t.Helper()
	for _, k := range keys {
		for i, text := range texts {
			if strings.Contains(text, k) || strings.Contains(text, k[len(scanner.Prefix):]) {
				t.Fatalf("output %d leaks a raw key:\n%s", i, text)
			}
		}
	}
}

func TestScanText(t *testing.T) {
	root, keys := scanFixture(t)
	t.Chdir(root)
	r := rekey(t, "", "scan")
	if r.code != exitFound {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitFound, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 3 findings and a summary, got:\n%s", r.stdout)
	}
	wantFirst := "config/.env:2:28  PERPLEXITY_API_KEY  " + scanner.Secret(keys[0]).Redacted() + "  " + scanner.KeyID(keys[0]) + "  [bearer-prefix]"
	if lines[0] != wantFirst {
		t.Errorf("first line\n got %q\nwant %q", lines[0], wantFirst)
	}
	if !regexp.MustCompile(`^3 findings \(2 distinct keys\) in 5 files, \d+ B scanned in \S+; 1 suppressed$`).MatchString(lines[3]) {
		t.Errorf("summary %q", lines[3])
	}
	assertNoLeak(t, keys, r.stdout, r.stderr)
}

func TestScanCleanTree(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("nothing here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rekey(t, "", "scan", root)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "0 findings (0 distinct keys) in 1 file,") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// normalize removes what varies between runs from a JSON report.
func normalize(t *testing.T, data []byte) []byte {
	t.Helper()
	return regexp.MustCompile(`"duration_ms": \d+`).ReplaceAll(data, []byte(`"duration_ms": 0`))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

func TestScanJSONGolden(t *testing.T) {
	root, keys := scanFixture(t)
	wd, _ := os.Getwd()
	t.Chdir(root)
	r := rekey(t, "", "scan", "--format", "json")
	t.Chdir(wd)
	if r.code != exitFound {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var report scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	if report.Schema != "rekey.report/v1" || len(report.Findings) != 3 {
		t.Fatalf("report %+v", report)
	}
	golden(t, "scan.golden.json", normalize(t, []byte(r.stdout)))
	assertNoLeak(t, keys, r.stdout)
}

func TestScanSARIFValidatesAgainstSchema(t *testing.T) {
	root, keys := scanFixture(t)
	wd, _ := os.Getwd()
	t.Chdir(root)
	r := rekey(t, "", "scan", "--output", "report.sarif")
	sarif, err := os.ReadFile(filepath.Join(root, "report.sarif"))
	t.Chdir(wd)
	if err != nil || r.code != exitFound {
		t.Fatalf("exit %d, %v: %s", r.code, err, r.stderr)
	}
	if !strings.Contains(r.stdout, "report written to report.sarif") {
		t.Errorf("stdout %q does not say where the report went", r.stdout)
	}
	info, err := os.Stat(filepath.Join(root, "report.sarif"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("report mode %v, want 0600", info.Mode())
	}
	golden(t, "scan.golden.sarif", sarif)
	assertNoLeak(t, keys, string(sarif), r.stdout, r.stderr)
	validateSARIF(t, sarif)
}

// validateSARIF checks a report against the official SARIF 2.1.0 schema,
// which lives outside the repository (shared/data). CI sets
// REKEY_SARIF_SCHEMA; without the schema the test fails in CI and skips
// elsewhere.
func validateSARIF(t *testing.T, sarif []byte) {
	t.Helper()
	schemaPath := os.Getenv("REKEY_SARIF_SCHEMA")
	if schemaPath == "" {
		schemaPath = filepath.Join("..", "..", "..", "shared", "data", "sarif-schema-2.1.0.json")
	}
	if _, err := os.Stat(schemaPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SARIF schema not found at %s (set REKEY_SARIF_SCHEMA): %v", schemaPath, err)
		}
		t.Skipf("SARIF schema not found at %s; set REKEY_SARIF_SCHEMA to validate", schemaPath)
	}
	c := jsonschema.NewCompiler()
	schema, err := c.Compile(schemaPath)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sarif))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("SARIF report does not validate: %v", err)
	}
}

func TestScanBaseline(t *testing.T) {
	root, _ := scanFixture(t)
	baseline := filepath.Join(t.TempDir(), "baseline.json")
	if r := rekey(t, "", "scan", "--output", baseline, root); r.code != exitFound {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// Lines move: the baseline still matches by key id and path.
	env := filepath.Join(root, "config", ".env")
	old, _ := os.ReadFile(env)
	if err := os.WriteFile(env, append([]byte("# moved\n\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := rekey(t, "", "scan", "--baseline", baseline, root); r.code != exitOK {
		t.Fatalf("with baseline: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := rekey(t, "", "scan", "--baseline", filepath.Join(root, "README.md"), root); r.code != exitUsage || !strings.Contains(r.stderr, "not a rekey JSON report") {
		t.Fatalf("bad baseline: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestScanConfigAllowList(t *testing.T) {
	root, keys := scanFixture(t)
	cfg := "allow:\n  key_ids:\n    - " + scanner.KeyID(keys[1]) + "\n  paths:\n    - \"**/deploy/**\"\n"
	if err := os.WriteFile(filepath.Join(root, ".rekey.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rekey(t, "", "scan", "--format", "json", root)
	var report scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err, r.stderr)
	}
	if len(report.Findings) != 1 || report.Findings[0].Location.Path != filepath.ToSlash(filepath.Join(root, "config/.env")) {
		t.Fatalf("allow-list not applied: %+v", report.Findings)
	}
	if report.Stats.Suppressed != 3 {
		t.Errorf("suppressed = %d, want 3", report.Stats.Suppressed)
	}
}

func TestScanMalformedConfig(t *testing.T) {
	root, _ := scanFixture(t)
	if err := os.WriteFile(filepath.Join(root, ".rekey.yaml"), []byte("allow:\n  key_ids: [a]\n  pathz: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rekey(t, "", "scan", root)
	if r.code != exitUsage || !strings.Contains(r.stderr, "rekey: error: config") || !strings.Contains(r.stderr, "[3:") || !strings.Contains(r.stderr, "rekey: hint:") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestScanUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"scan", filepath.Join(t.TempDir(), "missing")},
		{"scan", "--format", "xml", "."},
		{"scan", "--no-such-flag"},
		{"frobnicate"},
		{"scan", "--key-env", "REKEY_TEST_UNSET_VARIABLE"},
	} {
		r := rekey(t, "", args...)
		if r.code != exitUsage || !strings.HasPrefix(r.stderr, "rekey: error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestScanKnownKey(t *testing.T) {
	root, keys := scanFixture(t)
	r := rekey(t, keys[1]+"\n", "scan", "--key-stdin", "--format", "json", root)
	var report scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err, r.stderr)
	}
	if len(report.Findings) != 1 || report.Findings[0].KeyID != scanner.KeyID(keys[1]) {
		t.Fatalf("findings %+v", report.Findings)
	}
	// A malformed key is refused without echoing it.
	r = rekey(t, "Bearer "+keys[1]+"\n", "scan", "--key-stdin", root)
	if r.code != exitUsage || !strings.Contains(r.stderr, "bearer-prefix") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	assertNoLeak(t, keys, r.stdout, r.stderr)
}

func TestVersion(t *testing.T) {
	r := rekey(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "rekey ") {
		t.Fatalf("exit %d, %q", r.code, r.stdout)
	}
}

var (
	scanBinaryOnce sync.Once
	scanBinaryPath string
	scanBinaryErr  error
)

// scanBinary builds the rekey binary once, for tests that need a separate
// process (another user, signals).
func scanBinary(t *testing.T) string {
	t.Helper()
	scanBinaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rekey-bin-")
		if err != nil {
			scanBinaryErr = err
			return
		}
		scanBinaryPath = filepath.Join(dir, "rekey")
		out, err := exec.Command("go", "build", "-o", scanBinaryPath, ".").CombinedOutput()
		if err != nil {
			scanBinaryErr = err
			t.Logf("%s", out)
		}
		_ = os.Chmod(dir, 0o755)
	})
	if scanBinaryErr != nil {
		t.Fatalf("build rekey: %v", scanBinaryErr)
	}
	return scanBinaryPath
}

// Unreadable files are listed and the scan goes on: exit 3 when nothing is
// found, exit 1 (found beats partial) when keys are found too. Root reads
// everything, so as root the scan runs as user nobody.
func TestScanPermissionDenied(t *testing.T) {
	root, keys := scanFixture(t)
	secret := filepath.Join(root, "private.env")
	if err := os.WriteFile(secret, []byte("K="+keys[2]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(scanBinary(t), "scan", "--format", "json", root)
	if os.Geteuid() == 0 {
		if err := os.Chmod(filepath.Dir(root), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(root, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != exitFound {
		t.Fatalf("exit %d, want %d (found beats partial); stderr %s", code, exitFound, stderr.String())
	}
	var report scanner.Report
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Stats.Errors) != 1 || !strings.Contains(report.Stats.Errors[0].Message, "permission denied") {
		t.Fatalf("errors %+v", report.Stats.Errors)
	}
	if !strings.Contains(stderr.String(), "rekey: warning: could not read") {
		t.Errorf("stderr does not list the error: %q", stderr.String())
	}
	assertNoLeak(t, keys, stdout.String(), stderr.String())

	// Without keys elsewhere, the same error makes the scan partial: exit 3.
	only := exec.Command(scanBinary(t), "scan", secret)
	only.SysProcAttr = cmd.SysProcAttr
	err = only.Run()
	if !errors.As(err, &exit) || exit.ExitCode() != exitPartial {
		t.Fatalf("scan of only the unreadable file: %v, want exit %d", err, exitPartial)
	}
}

func TestConfigStoreErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown scheme":  {"allow: {}\nstores:\n  - nope://somewhere/x\n", ".rekey.yaml:3: store \"nope://somewhere/x\": unknown scheme"},
		"unknown option":  {"stores:\n  - uri: vault://secret/app\n    regoin: x\n", "unknown field \"regoin\""},
		"not a URI":       {"stores:\n  - just-a-name\n", ".rekey.yaml:2: store \"just-a-name\" is not a URI"},
		"wrong type":      {"concurrency: lots\n", "[1:14]"},
		"negative rate":   {"verify:\n  rate: -1\n", "must not be negative"},
		"unknown section": {"allow: {}\nstorez: []\n", "[2:1] unknown field \"storez\""},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, ".rekey.yaml"), []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := rekey(t, "", "scan", root)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q, want it to contain %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// Keys that sit in addresses or in quoted input never reach any output:
// a directory named after a key, and a malformed config holding a key.
func TestNoLeakFromPathsOrConfig(t *testing.T) {
	g := testkeys.New(43)
	inName, inFile, inConfig := g.Mixed(), g.Mixed(), g.Mixed()
	root := t.TempDir()
	dir := filepath.Join(root, inName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("token: "+inFile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	keys := []string{inName, inFile, inConfig}
	var outputs []string
	for _, format := range []string{"text", "json", "sarif", "markdown"} {
		r := rekey(t, "", "scan", "--format", format, root)
		if r.code != exitFound {
			t.Fatalf("%s: exit %d: %s", format, r.code, r.stderr)
		}
		outputs = append(outputs, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(root, ".rekey.yaml"), []byte("stores: [\n  "+inConfig+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rekey(t, "", "scan", root)
	if r.code != exitUsage {
		t.Fatalf("malformed config: exit %d", r.code)
	}
	outputs = append(outputs, r.stdout, r.stderr)
	assertNoLeak(t, keys, outputs...)
}
