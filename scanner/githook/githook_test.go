package githook

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/gittest"
)

// snapshot records every entry of a directory: name, mode, content or
// link target, to prove a directory is left exactly as it was.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		v := info.Mode().String() + " "
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			v += "-> " + target
		} else {
			data, _ := os.ReadFile(p)
			v += string(data)
		}
		out[e.Name()] = v
	}
	return out
}

func sameSnapshot(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("entries: got %d %v, want %d %v", len(got), keys(got), len(want), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func writeHook(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestInstallUninstallRestoresExactly(t *testing.T) {
	cases := map[string]func(t *testing.T, dir string){
		"empty directory": func(*testing.T, string) {},
		"existing hook": func(t *testing.T, dir string) {
			writeHook(t, filepath.Join(dir, HookName), "#!/bin/sh\necho mine\n", 0o750)
			writeHook(t, filepath.Join(dir, "pre-push"), "#!/bin/sh\n", 0o755)
		},
		"non-executable sample": func(t *testing.T, dir string) {
			writeHook(t, filepath.Join(dir, HookName), "#!/bin/sh\nexit 1\n", 0o644)
		},
		"symbolic link": func(t *testing.T, dir string) {
			if err := os.Symlink("../../tools/lint.sh", filepath.Join(dir, HookName)); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			setup(t, dir)
			before := snapshot(t, dir)

			res, err := Install(dir, "/opt/rekey/bin/rekey")
			if err != nil || !res.Changed {
				t.Fatalf("install: %+v, %v", res, err)
			}
			if _, had := before[HookName]; had != (res.Chained != "") {
				t.Errorf("chained = %q with a previous hook: %v", res.Chained, had)
			}
			installed := snapshot(t, dir)
			if !strings.HasPrefix(installed[HookName], "-rwxr-xr-x #!/bin/sh\n"+marker) {
				t.Errorf("hook = %q", installed[HookName])
			}
			if prev, had := before[HookName]; had && installed[ChainedName] != prev {
				t.Errorf("previous hook not kept intact: %q", installed[ChainedName])
			}

			// Idempotent: a second install changes nothing.
			res, err = Install(dir, "/opt/rekey/bin/rekey")
			if err != nil || res.Changed {
				t.Fatalf("second install: %+v, %v", res, err)
			}
			sameSnapshot(t, snapshot(t, dir), installed)

			if res, err := Uninstall(dir); err != nil || !res.Changed {
				t.Fatalf("uninstall: %+v, %v", res, err)
			}
			sameSnapshot(t, snapshot(t, dir), before)
			if res, err := Uninstall(dir); err != nil || res.Changed {
				t.Fatalf("second uninstall: %+v, %v", res, err)
			}
			sameSnapshot(t, snapshot(t, dir), before)
		})
	}
}

// A hooks directory that did not exist is created, and removed again.
func TestInstallCreatesAndRemovesHooksDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".githooks")
	if _, err := Install(dir, "/usr/bin/rekey"); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(dir, "/usr/local/bin/rekey"); err != nil { // refresh, new path
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, HookName))
	if !strings.Contains(string(data), "'/usr/local/bin/rekey'") || !strings.Contains(string(data), createdDir) {
		t.Errorf("hook = %s", data)
	}
	if _, err := Uninstall(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("hooks directory left behind: %v", err)
	}
}

// rekey never overwrites or deletes a hook it did not write.
func TestConflictsLoseNothing(t *testing.T) {
	dir := t.TempDir()
	writeHook(t, filepath.Join(dir, HookName), "#!/bin/sh\necho theirs\n", 0o755)
	writeHook(t, filepath.Join(dir, ChainedName), "#!/bin/sh\necho older\n", 0o755)
	before := snapshot(t, dir)
	if _, err := Install(dir, "/usr/bin/rekey"); !errors.Is(err, ErrConflict) {
		t.Errorf("install: %v, want ErrConflict", err)
	}
	if _, err := Uninstall(dir); !errors.Is(err, ErrConflict) {
		t.Errorf("uninstall: %v, want ErrConflict", err)
	}
	sameSnapshot(t, snapshot(t, dir), before)

	// Someone else's hook alone: uninstall leaves it.
	other := t.TempDir()
	writeHook(t, filepath.Join(other, HookName), "#!/bin/sh\n", 0o755)
	before = snapshot(t, other)
	if res, err := Uninstall(other); err != nil || res.Changed {
		t.Errorf("uninstall: %+v, %v", res, err)
	}
	sameSnapshot(t, snapshot(t, other), before)
}

// The script quotes the rekey path for the shell and is valid sh.
func TestScriptQuotesPath(t *testing.T) {
	s := Script("/tmp/it's here/rekey", false)
	if !strings.Contains(s, `rekey='/tmp/it'\''s here/rekey'`) {
		t.Errorf("script:\n%s", s)
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v: %s", err, out)
		}
	}
}

func TestHooksDir(t *testing.T) {
	// HooksDir runs git with the caller's environment: keep the machine's
	// config out.
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	r := gittest.Init(t)
	r.Write("sub/deeper/f.txt", "x\n")
	check := func(from, want string) {
		t.Helper()
		got, err := HooksDir(context.Background(), from)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Clean(got) != filepath.Clean(want) {
			t.Errorf("hooks dir from %s = %s, want %s", from, got, want)
		}
	}
	check(r.Dir, filepath.Join(r.Dir, ".git", "hooks"))
	// core.hooksPath, relative: relative to the top of the working tree,
	// wherever rekey runs from.
	r.Git("config", "core.hooksPath", ".githooks")
	check(filepath.Join(r.Dir, "sub", "deeper"), filepath.Join(r.Dir, ".githooks"))
	r.Git("config", "--unset", "core.hooksPath")
	// A linked worktree shares the main repository's hooks.
	wt := filepath.Join(t.TempDir(), "wt")
	r.Commit("init")
	r.Git("worktree", "add", "-q", wt)
	check(wt, filepath.Join(r.Dir, ".git", "hooks"))

	if _, err := HooksDir(context.Background(), t.TempDir()); err == nil {
		t.Error("no error outside a repository")
	}
}
