package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/gittest"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// runIn runs a command in dir with git isolated from the machine's config
// and returns its combined output and whether it succeeded.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = gittest.Env(env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), err == nil
}

// dirState records names, modes and contents of a directory's entries.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "missing: " + err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		info, _ := os.Lstat(filepath.Join(dir, e.Name()))
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + " " + info.Mode().String() + "\n" + string(data) + "\n")
	}
	return b.String()
}

// The native hook, through real git commits: a staged key blocks the
// commit with a clear message, `git commit -a` too, a clean commit passes;
// the hook that was there runs first and its failure still blocks; and
// uninstall restores the hooks directory exactly.
func TestHookBlocksCommits(t *testing.T) {
	bin := scanBinary(t)
	key := testkeys.New(31).Mixed()
	r := gittest.Init(t)
	r.Write("README.md", "hello\n")
	r.Commit("init")
	hooks := filepath.Join(r.Dir, ".git", "hooks")
	log := filepath.Join(t.TempDir(), "chained.log")
	existing := filepath.Join(hooks, "pre-commit")
	if err := os.WriteFile(existing, []byte("#!/bin/sh\necho ran >> '"+log+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, hooks)

	out, ok := runIn(t, r.Dir, nil, bin, "hook", "install")
	if !ok || !strings.Contains(out, "kept as") {
		t.Fatalf("install: %s", out)
	}
	if out, ok := runIn(t, r.Dir, nil, bin, "hook", "install"); !ok || !strings.Contains(out, "already installed") {
		t.Fatalf("second install: %s", out)
	}

	r.Write("config/settings.py", "DEBUG = True\nAPI_KEY = \""+key+"\"\n")
	r.Git("add", "config/settings.py")
	out, ok = runIn(t, r.Dir, nil, "git", "commit", "-m", "add settings")
	if ok {
		t.Fatalf("commit with a staged key went through:\n%s", out)
	}
	for _, want := range []string{"config/settings.py:2:", scanner.Secret(key).Redacted(), "commit blocked", "environment variable", "rekey:allow"} {
		if !strings.Contains(out, want) {
			t.Errorf("hook output lacks %q:\n%s", want, out)
		}
	}
	assertNoLeak(t, []string{key}, out)
	if ran, _ := os.ReadFile(log); string(ran) != "ran\n" {
		t.Errorf("chained hook log = %q", ran)
	}

	// Clean: passes.
	r.Write("config/settings.py", "DEBUG = True\nAPI_KEY = os.environ[\"PERPLEXITY_API_KEY\"]\n")
	r.Git("add", "config/settings.py")
	if out, ok := runIn(t, r.Dir, nil, "git", "commit", "-q", "-m", "settings from env"); !ok {
		t.Fatalf("clean commit blocked:\n%s", out)
	}

	// `git commit -a`: the hook sees a temporary index.
	r.Write("README.md", "hello\ntoken "+key+"\n")
	head := r.Head()
	if out, ok := runIn(t, r.Dir, nil, "git", "commit", "-a", "-m", "readme"); ok || !strings.Contains(out, "README.md:2:") {
		t.Fatalf("commit -a went through or said the wrong thing:\n%s", out)
	}
	if r.Head() != head {
		t.Fatal("HEAD moved")
	}
	r.Git("checkout", "--", "README.md")

	// The chained hook's failure still blocks.
	if err := os.WriteFile(filepath.Join(hooks, "pre-commit.rekey-chained"), []byte("#!/bin/sh\necho chained says no >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r.Write("clean.txt", "nothing secret\n")
	r.Git("add", "clean.txt")
	if out, ok := runIn(t, r.Dir, nil, "git", "commit", "-m", "clean"); ok || !strings.Contains(out, "chained says no") {
		t.Fatalf("a failing chained hook did not block:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(hooks, "pre-commit.rekey-chained"), []byte("#!/bin/sh\necho ran >> '"+log+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}

	if out, ok := runIn(t, r.Dir, nil, bin, "hook", "uninstall"); !ok || !strings.Contains(out, "restored") {
		t.Fatalf("uninstall: %s", out)
	}
	if after := dirState(t, hooks); after != before {
		t.Errorf("hooks directory not restored:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// core.hooksPath is respected, and a hooks directory rekey created is
// removed on uninstall.
func TestHookRespectsHooksPath(t *testing.T) {
	bin := scanBinary(t)
	key := testkeys.New(32).Hex()
	r := gittest.Init(t)
	r.Git("config", "core.hooksPath", ".githooks")
	r.Write("a.txt", "a\n")
	r.Commit("init")
	sub := filepath.Join(r.Dir, "deep", "er")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, ok := runIn(t, sub, nil, bin, "hook", "install"); !ok || !strings.Contains(out, filepath.Join(r.Dir, ".githooks", "pre-commit")) {
		t.Fatalf("install: %s", out)
	}
	r.Write("b.env", "K="+key+"\n")
	r.Git("add", "b.env")
	if out, ok := runIn(t, r.Dir, nil, "git", "commit", "-m", "b"); ok || !strings.Contains(out, "b.env:1:") {
		t.Fatalf("not blocked:\n%s", out)
	}
	if out, ok := runIn(t, r.Dir, nil, bin, "hook", "uninstall"); !ok {
		t.Fatalf("uninstall: %s", out)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, ".githooks")); !os.IsNotExist(err) {
		t.Errorf(".githooks left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, ".git", "hooks", "pre-commit")); !os.IsNotExist(err) {
		t.Errorf("a hook was written to .git/hooks: %v", err)
	}
}

func TestHookUsageErrors(t *testing.T) {
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_DIR", "")
	if r := rekey(t, "", "hook", "install", t.TempDir()); r.code != exitUsage || !strings.Contains(r.stderr, "rekey: hint:") {
		t.Errorf("not a repository: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := rekey(t, "", "hook", "install", filepath.Join(t.TempDir(), "missing")); r.code != exitUsage {
		t.Errorf("missing path: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := rekey(t, "", "hook", "frobnicate"); r.code != exitUsage {
		t.Errorf("unknown subcommand: exit %d", r.code)
	}
}

// The real pre-commit framework runs the rekey-system hook of rekey's own
// .pre-commit-hooks.yaml: a staged key blocks the commit, a clean commit
// passes.
func TestPreCommitFramework(t *testing.T) {
	preCommit, err := exec.LookPath("pre-commit")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pre-commit is not installed (apt-get install -y pre-commit); it is required in CI")
		}
		t.Skip("pre-commit is not installed (apt-get install -y pre-commit): framework test skipped")
	}
	bin := scanBinary(t)
	key := testkeys.New(33).Mixed()
	_, self, _, _ := runtime.Caller(0)
	hooksYAML, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", ".pre-commit-hooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// A throwaway hook repository holding rekey's hook definitions, as
	// pre-commit would clone rekey's own.
	hookRepo := gittest.Init(t)
	hookRepo.Write(".pre-commit-hooks.yaml", string(hooksYAML))
	rev := hookRepo.Commit("hooks")

	r := gittest.Init(t)
	r.Write(".pre-commit-config.yaml", "repos:\n  - repo: "+hookRepo.Dir+"\n    rev: "+rev+"\n    hooks:\n      - id: rekey-system\n")
	r.Write("README.md", "hello\n")
	r.Commit("init")
	env := []string{
		"PRE_COMMIT_HOME=" + t.TempDir(),
		"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	if out, ok := runIn(t, r.Dir, env, preCommit, "install"); !ok {
		t.Fatalf("pre-commit install: %s", out)
	}

	r.Write("app/config.env", "PERPLEXITY_API_KEY="+key+"\n")
	r.Git("add", "app/config.env")
	out, ok := runIn(t, r.Dir, env, "git", "commit", "-m", "config")
	if ok {
		t.Fatalf("pre-commit let a staged key through:\n%s", out)
	}
	for _, want := range []string{"rekey (Perplexity API keys, installed rekey)", "Failed", "app/config.env:1:", scanner.Secret(key).Redacted()} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	assertNoLeak(t, []string{key}, out)

	r.Write("app/config.env", "PERPLEXITY_API_KEY=${PERPLEXITY_API_KEY}\n")
	r.Git("add", "app/config.env")
	if out, ok := runIn(t, r.Dir, env, "git", "commit", "-m", "config"); !ok || !strings.Contains(out, "Passed") {
		t.Fatalf("clean commit: ok=%v\n%s", ok, out)
	}
}
