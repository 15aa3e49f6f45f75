// Package githook installs and removes rekey's native git pre-commit hook.
//
// The hook runs `rekey scan --staged`, which blocks the commit when a key is
// staged. An existing pre-commit hook is kept: it is moved aside, runs first,
// and its failure still blocks the commit. Uninstalling moves it back, so the
// hooks directory is left exactly as it was found.
package githook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	// HookName is the hook rekey manages.
	HookName = "pre-commit"
	// ChainedName is where an existing pre-commit hook is kept while
	// rekey's hook is installed.
	ChainedName = HookName + ".rekey-chained"

	// marker identifies a hook file written by rekey.
	marker = "# rekey-managed pre-commit hook"
	// createdDir is in the hook when rekey created the hooks directory, so
	// that uninstall removes it again.
	createdDir = "# rekey: created the hooks directory"
)

// ErrConflict is returned when the hooks directory is in a state rekey
// did not leave it in and changing it could lose someone's hook.
var ErrConflict = errors.New("hooks directory in an unexpected state")

// Result says what Install or Uninstall did.
type Result struct {
	Hook    string // the pre-commit hook's path
	Chained string // where the previous hook is kept (install) or was restored from (uninstall); "" if none
	Changed bool   // false when there was nothing to do
}

// HooksDir returns the hooks directory of the repository holding dir as git
// resolves it: core.hooksPath when set (relative to the top of the working
// tree), else the common git directory's hooks, shared by linked worktrees.
func HooksDir(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--git-path", "hooks")
	cmd.Dir = dir
	cmd.Env = repoEnv(os.Environ())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", fmt.Errorf("find hooks directory: %s", strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("find hooks directory: %w", err)
	}
	hooks := strings.TrimSpace(stdout.String())
	if !filepath.IsAbs(hooks) {
		hooks = filepath.Join(dir, hooks)
	}
	abs, err := filepath.Abs(hooks)
	if err != nil {
		return "", fmt.Errorf("find hooks directory: %w", err)
	}
	return abs, nil
}

// repoEnv drops the variables that would point git at another repository
// than the one holding dir (set, or set empty, by a calling hook or shell).
func repoEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Script returns the hook that runs rekey at path command: the chained
// hook first, then `rekey scan --staged`. When command no longer exists
// (rekey was upgraded or moved), rekey is looked up on PATH.
func Script(command string, madeDir bool) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n" + marker + ": blocks commits that add a Perplexity API key.\n")
	b.WriteString("# Installed by 'rekey hook install'; 'rekey hook uninstall' restores what was here.\n")
	if madeDir {
		b.WriteString(createdDir + "\n")
	}
	b.WriteString(`chained="$(dirname "$0")/` + ChainedName + `"
# The hook that was here before runs first; its failure still blocks the commit.
if [ -x "$chained" ]; then
	"$chained" "$@" || exit $?
fi
rekey=` + shellQuote(command) + `
if [ ! -x "$rekey" ]; then
	rekey=rekey
fi
if ! command -v "$rekey" >/dev/null 2>&1; then
	echo "rekey pre-commit hook: rekey is not installed, so staged files were not checked for keys." >&2
	echo "Install rekey, or remove this hook with 'rekey hook uninstall'." >&2
	exit 1
fi
exec "$rekey" scan --staged
`)
	return b.String()
}

// Install writes rekey's pre-commit hook into hooksDir, keeping an existing
// hook as ChainedName. Installing again only refreshes rekey's own hook.
func Install(hooksDir, command string) (Result, error) {
	hook, chained := filepath.Join(hooksDir, HookName), filepath.Join(hooksDir, ChainedName)
	res := Result{Hook: hook}
	madeDir := false
	if _, err := os.Stat(hooksDir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(hooksDir, 0o755); err != nil { //nolint:gosec // hooks directories are world-readable, as git makes them
			return res, fmt.Errorf("create hooks directory: %w", err)
		}
		madeDir = true
	}
	current, ours, err := readHook(hook)
	if err != nil {
		return res, err
	}
	if ours {
		// Keep the record of who created the directory across reinstalls.
		madeDir = strings.Contains(current, createdDir)
	}
	if lexists(chained) {
		res.Chained = chained
	}
	switch {
	case ours:
	case lexists(chained):
		return res, fmt.Errorf("%w: both %s and %s exist and the first is not rekey's; move one away and retry",
			ErrConflict, hook, chained)
	case lexists(hook):
		// Rename keeps the hook's bytes, mode and even symbolic-link nature,
		// so uninstall can put back exactly what was here.
		if err := os.Rename(hook, chained); err != nil {
			return res, fmt.Errorf("keep existing hook: %w", err)
		}
		res.Chained = chained
	}
	script := Script(command, madeDir)
	if ours && current == script {
		return res, nil
	}
	if err := writeExecutable(hook, script); err != nil {
		if res.Chained != "" && !ours {
			_ = os.Rename(chained, hook) // put the user's hook back
		}
		return res, err
	}
	res.Changed = true
	return res, nil
}

// Uninstall removes rekey's hook and puts back the hook it chained, if
// any. It changes nothing when rekey's hook is not installed.
func Uninstall(hooksDir string) (Result, error) {
	hook, chained := filepath.Join(hooksDir, HookName), filepath.Join(hooksDir, ChainedName)
	res := Result{Hook: hook}
	current, ours, err := readHook(hook)
	if err != nil {
		return res, err
	}
	switch {
	case ours:
		if err := os.Remove(hook); err != nil {
			return res, fmt.Errorf("remove hook: %w", err)
		}
		res.Changed = true
	case lexists(hook):
		if lexists(chained) {
			return res, fmt.Errorf("%w: %s is not rekey's hook, yet %s exists; sort them out by hand",
				ErrConflict, hook, chained)
		}
		return res, nil // someone else's hook: not ours to touch
	}
	if lexists(chained) {
		if err := os.Rename(chained, hook); err != nil {
			return res, fmt.Errorf("restore chained hook: %w", err)
		}
		res.Chained, res.Changed = chained, true
	}
	if strings.Contains(current, createdDir) {
		_ = os.Remove(hooksDir) // only succeeds when empty, as it was created
	}
	return res, nil
}

// readHook returns the hook's content and whether rekey wrote it. A
// missing hook is "", false; a symbolic link is never rekey's.
func readHook(path string) (string, bool, error) {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read hook: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("read hook: %w", err)
	}
	s := string(data)
	return s, strings.Contains(s, marker), nil
}

// writeExecutable replaces path atomically with an executable file.
func writeExecutable(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".rekey-hook-*")
	if err != nil {
		return fmt.Errorf("write hook: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Chmod(0o755) //nolint:gosec // git runs only executable hooks
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write hook: %w", err)
	}
	return nil
}

func lexists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
