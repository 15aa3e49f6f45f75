package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/gittest"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// Every command, run on a repository holding known keys (in files, in
// history, base64-encoded), writes no raw key to stdout, stderr, a report
// file or the rotation journal: the one test that sees them all together.
func TestEveryCommandKeepsKeysSecret(t *testing.T) {
	gitEnv(t)
	api := fakeAPI(t)
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	g := testkeys.New(777)
	oldKey, newKey, other := g.Mixed(), g.Mixed(), g.Hex()
	api.AddKey(oldKey, false)
	api.AddKey(newKey, true)
	api.AddKey(other, true)
	repo := gittest.Init(t)
	repo.Write("src/app.py", "KEY = '"+other+"'\n")
	repo.Commit("first")
	repo.Write("src/app.py", "KEY = os.environ['K']\n")
	repo.Commit("second")
	repo.Write(".env", "PERPLEXITY_API_KEY=\"Bearer "+oldKey+"\"\n")
	repo.Write("k8s/secret.yaml", "data:\n  KEY: "+base64.StdEncoding.EncodeToString([]byte(oldKey))+"\n")
	reports := t.TempDir()
	keys := []string{oldKey, newKey, other}

	var outputs []string
	run := func(stdin string, args ...string) {
		t.Helper()
		r := rekey(t, stdin, args...)
		if r.code == exitUsage {
			t.Errorf("%v: usage error: %s", args, r.stderr)
		}
		outputs = append(outputs, r.stdout, r.stderr)
	}
	for _, format := range []string{"text", "json", "sarif", "markdown"} {
		run("", "scan", "--history", "--verify", "--format", format, repo.Dir)
		run("", "audit", "--verify", "--output", filepath.Join(reports, "audit."+format), "--format", format, repo.Dir)
	}
	run(oldKey+"\n", "scan", "--key-stdin", repo.Dir)
	run("", "merge", filepath.Join(reports, "audit.json"))
	run("Bearer "+oldKey+"\r\n", "check")
	run(oldKey+"\n", "check", "--format", "json")
	run(oldKey+"\n"+newKey+"\n", "rotate", "--old-stdin", "--new-stdin", "--dry-run", repo.Dir)
	run(oldKey+"\n"+newKey+"\n", "rotate", "--old-stdin", "--new-stdin", "--yes", "--format", "json", repo.Dir)
	run(oldKey+"\n"+newKey+"\n", "scan", "--key-stdin", repo.Dir) // what is left: nothing
	run("", "hook", "install", repo.Dir)
	repo.Git("add", "-A")
	run("", "scan", "--staged", repo.Dir)

	_ = filepath.WalkDir(reports, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			outputs = append(outputs, string(b))
		}
		return nil
	})
	_ = filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			outputs = append(outputs, string(b))
		}
		return nil
	})
	for _, k := range keys {
		b64 := base64.StdEncoding.EncodeToString([]byte(k))
		for i, out := range outputs {
			if strings.Contains(out, b64) {
				t.Fatalf("output %d holds a key's base64 form", i)
			}
		}
	}
	assertNoLeak(t, keys, outputs...)
	if len(outputs) < 30 {
		t.Fatalf("only %d outputs collected", len(outputs))
	}
}
