package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/gittest"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// gitEnv keeps the machine's git config and a surrounding hook's git
// variables away from in-process scans.
func gitEnv(t *testing.T) {
	t.Setenv("GIT_DIR", "")
	t.Setenv("GIT_INDEX_FILE", "")
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
}

func gitJSONReport(t *testing.T, r cliResult) scanner.Report {
	t.Helper()
	var rep scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return rep
}

func TestScanStaged(t *testing.T) {
	gitEnv(t)
	g := testkeys.New(21)
	old, staged := g.Mixed(), g.Mixed()
	r := gittest.Init(t)
	r.Write("committed.env", "OLD="+old+"\n")
	r.Commit("init")

	res := rekey(t, "", "scan", "--staged", r.Dir)
	if res.code != exitOK || !strings.Contains(res.stderr, "nothing is staged for commit") ||
		!strings.Contains(res.stdout, "0 files, 0 B scanned") {
		t.Fatalf("nothing staged: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	r.Write("src/client.go", "package client\n\nconst key = \""+staged+"\"\n")
	r.Git("add", "src/client.go")
	res = rekey(t, "", "scan", "--staged", r.Dir)
	if res.code != exitFound {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"src/client.go:3:", scanner.Secret(staged).Redacted(), "1 file,"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	for _, want := range []string{"commit blocked", "environment variable", "rekey:allow", ".rekey.yaml"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stdout, "committed.env") {
		t.Error("a committed, unchanged file was reported")
	}
	assertNoLeak(t, []string{old, staged}, res.stdout, res.stderr)

	rep := gitJSONReport(t, rekey(t, "", "scan", "--staged", "--format", "json", r.Dir))
	if len(rep.Findings) != 1 || rep.Findings[0].Location.Kind != scanner.KindStaged ||
		rep.Findings[0].Location.URI != "staged:src/client.go:3" {
		t.Errorf("findings = %+v", rep.Findings)
	}

	// A rekey:allow comment lets it through.
	r.Write("src/client.go", "package client\n\nconst key = \""+staged+"\" // rekey:allow test fixture\n")
	r.Git("add", "src/client.go")
	if res := rekey(t, "", "scan", "--staged", r.Dir); res.code != exitOK {
		t.Errorf("allowed: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func TestScanHistory(t *testing.T) {
	gitEnv(t)
	g := testkeys.New(22)
	gone, legacy, tree := g.Mixed(), g.Mixed(), g.Mixed()
	r := gittest.Init(t)
	r.Write("app.env", "KEY="+gone+"\n")
	first := r.Commit("add")
	r.Write("app.env", "KEY=${FROM_VAULT}\n")
	r.Write("legacy/old.txt", "k="+legacy+"\n")
	second := r.Commit("rotate")
	r.Write("untracked.txt", "t="+tree+"\n") // working tree only

	rep := gitJSONReport(t, rekey(t, "", "scan", "--history", "--format", "json", r.Dir))
	got := map[string]string{}
	for _, f := range rep.Findings {
		got[f.Location.Path+"@"+f.Location.Commit] = string(f.Location.Kind)
	}
	want := map[string]string{
		"app.env@" + first:         "git-history",
		"legacy/old.txt@" + second: "git-history",
		filepath.ToSlash(filepath.Join(r.Dir, "untracked.txt")) + "@":  "file",
		filepath.ToSlash(filepath.Join(r.Dir, "legacy/old.txt")) + "@": "file",
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("finding %s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if rep.Stats.Commits != 2 || rep.Stats.Blobs != 3 {
		t.Errorf("stats = %+v", rep.Stats)
	}

	// Two paths in one repository: one history. A bare repository: no
	// working-tree scan of git's own files.
	two := gitJSONReport(t, rekey(t, "", "scan", "--history", "--format", "json", r.Dir, filepath.Join(r.Dir, "legacy")))
	if n := countKind(two, scanner.KindGitHistory); n != 2 {
		t.Errorf("two paths: %d history findings, want 2", n)
	}
	bare := t.TempDir()
	r.Git("clone", "-q", "--bare", r.Dir, bare)
	rep = gitJSONReport(t, rekey(t, "", "scan", "--history", "--format", "json", bare))
	if n := countKind(rep, scanner.KindGitHistory); n != 2 || len(rep.Findings) != 2 || rep.Stats.Files != 0 {
		t.Errorf("bare: findings %+v, stats %+v", rep.Findings, rep.Stats)
	}

	// --since-commit implies --history and leaves out the first commit.
	rep = gitJSONReport(t, rekey(t, "", "scan", "--since-commit", first, "--format", "json", r.Dir))
	for _, f := range rep.Findings {
		if f.Location.Commit == first {
			t.Errorf("--since-commit kept %+v", f.Location)
		}
	}

	// The allow-list applies to history paths, which are known only after
	// attribution.
	if err := os.WriteFile(filepath.Join(r.Dir, ".rekey.yaml"), []byte("allow:\n  paths: [\"**/legacy/**\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := rekey(t, "", "scan", "--history", "--branch", "main", r.Dir)
	if strings.Contains(res.stdout, "legacy/") || !strings.Contains(res.stdout, first[:12]+":app.env:1") {
		t.Errorf("allow-list on history:\n%s", res.stdout)
	}
	assertNoLeak(t, []string{gone, legacy, tree}, res.stdout, res.stderr)
}

func TestScanGitUsageErrors(t *testing.T) {
	gitEnv(t)
	r := gittest.Init(t)
	r.Commit("empty")
	notRepo := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--history", notRepo}, "not a git repository"},
		{[]string{"scan", "--staged", notRepo}, "not a git repository"},
		{[]string{"scan", "--staged", "--history", r.Dir}, "cannot be combined"},
		{[]string{"scan", "--staged", r.Dir, r.Dir}, "at most one path"},
		{[]string{"scan", "--branch", "no-such-branch", r.Dir}, "unknown revision"},
		{[]string{"scan", "--since-commit", "0123456789abcdef0123456789abcdef01234567", r.Dir}, "unknown revision"},
	} {
		res := rekey(t, "", tc.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) || !strings.Contains(res.stderr, "rekey: hint:") {
			t.Errorf("%v: exit %d, stderr %q", tc.args, res.code, res.stderr)
		}
	}
	// An empty repository is not an error: it says so.
	empty := gittest.Init(t)
	res := rekey(t, "", "scan", "--history", empty.Dir)
	if res.code != exitOK || !strings.Contains(res.stderr, "no commits") {
		t.Errorf("empty repository: exit %d, stderr %q", res.code, res.stderr)
	}
}

func countKind(r scanner.Report, k scanner.Kind) int {
	n := 0
	for _, f := range r.Findings {
		if f.Location.Kind == k {
			n++
		}
	}
	return n
}
