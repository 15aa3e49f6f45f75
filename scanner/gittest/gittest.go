// Package gittest builds real git repositories for tests with the git CLI,
// isolated from the machine's git configuration: no system or global config
// is read, and each repository sets its own user.name and user.email.
package gittest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a repository (or linked worktree) directory.
type Repo struct {
	T   testing.TB
	Dir string
}

// Env is the environment git runs with in tests: the process environment
// without GIT_* variables, plus settings that keep the machine's git
// config (hooks, signing, aliases, templates) out.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ADVICE=0",
	), extra...)
}

// Available skips the test when git is not installed.
func Available(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
}

// Init creates a repository with a main branch in a new temporary
// directory; args are extra `git init` arguments (such as --bare).
func Init(t testing.TB, args ...string) *Repo {
	t.Helper()
	Available(t)
	r := &Repo{T: t, Dir: t.TempDir()}
	r.Git(append([]string{"init", "-q", "-b", "main"}, args...)...)
	r.Identity()
	return r
}

// Open wraps an existing directory (a clone, a linked worktree) and sets
// its identity.
func Open(t testing.TB, dir string) *Repo {
	r := &Repo{T: t, Dir: dir}
	r.Identity()
	return r
}

// Identity sets user.name and user.email in the repository's own config.
func (r *Repo) Identity() {
	r.Git("config", "user.name", "Test Author")
	r.Git("config", "user.email", "author@example.com")
	r.Git("config", "commit.gpgsign", "false")
}

// Git runs git in the repository and returns its trimmed stdout; a failure
// fails the test.
func (r *Repo) Git(args ...string) string {
	r.T.Helper()
	out, err := r.GitErr(nil, args...)
	if err != nil {
		r.T.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// GitErr runs git with extra environment variables and returns its trimmed
// stdout, or an error holding its stderr.
func (r *Repo) GitErr(env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(r.T.Context(), "git", args...)
	cmd.Dir = r.Dir
	cmd.Env = Env(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &gitError{err: err, stderr: stderr.String()}
	}
	return strings.TrimSpace(stdout.String()), nil
}

type gitError struct {
	err    error
	stderr string
}

func (e *gitError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

// Write creates or replaces a file under the repository.
func (r *Repo) Write(path, content string) {
	r.T.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		r.T.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.T.Fatal(err)
	}
}

// Commit stages everything and commits it, returning the new commit's id.
func (r *Repo) Commit(msg string) string {
	r.T.Helper()
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Head()
}

// Head returns the id of the commit HEAD points to.
func (r *Repo) Head() string {
	r.T.Helper()
	return r.Git("rev-parse", "HEAD")
}
