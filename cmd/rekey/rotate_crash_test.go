//go:build unix

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// crashTemp matches the temporary files rekey writes beside a file.
var crashTemp = regexp.MustCompile(`^\..+\.rekey-[0-9a-z]{8}\.tmp$`)

// crashTree writes a tree of n files holding key in many shapes and
// returns, per relative path, a function giving the content for a key.
func crashTree(t *testing.T, root string, n int, key string, r *rand.Rand) map[string]func(string) string {
	t.Helper()
	shapes := []func(k string, r *rand.Rand) func(string) string{
		func(string, *rand.Rand) func(string) string {
			return func(k string) string { return "A=1\r\nPERPLEXITY_API_KEY=" + k + "\r\n" }
		},
		func(string, *rand.Rand) func(string) string {
			return func(k string) string { return "\ufeffkey: \"" + k + "\"" } // BOM, no final newline
		},
		func(_ string, r *rand.Rand) func(string) string {
			pre := strings.Repeat("x", r.IntN(3)) // every base64 alignment
			return func(k string) string {
				return "data:\n  auth: " + base64.StdEncoding.EncodeToString([]byte(pre+k)) + "\n"
			}
		},
		func(_ string, r *rand.Rand) func(string) string {
			filler := strings.Repeat("# padding line\n", r.IntN(400))
			return func(k string) string { return filler + "export K='" + k + "' # again: " + k + "\n" + filler }
		},
		func(string, *rand.Rand) func(string) string {
			return func(string) string { return "no key in this file\n" }
		},
	}
	files := map[string]func(string) string{}
	for i := range n {
		rel := filepath.Join(fmt.Sprintf("dir%02d", i%40), fmt.Sprintf("file %04d.env", i))
		content := shapes[r.IntN(len(shapes))](key, r)
		files[rel] = content
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content(key)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// checkCrashInvariant: every file is byte for byte its version for one of
// the two keys, never anything else; no file is missing or added. It
// returns how many files holding a key hold each version, and how many
// temporary files exist.
func checkCrashInvariant(t *testing.T, root string, files map[string]func(string) string, a, b string) (na, nb, temps int) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if crashTemp.MatchString(d.Name()) {
			temps++
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		content, ok := files[rel]
		if !ok {
			return fmt.Errorf("unexpected file %q", rel)
		}
		seen++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case content(a) == content(b): // holds no key
			if string(data) != content(a) {
				return fmt.Errorf("%s holds no key but changed", rel)
			}
		case string(data) == content(a):
			na++
		case string(data) == content(b):
			nb++
		default:
			return fmt.Errorf("%s is torn: neither version", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(files) {
		t.Fatalf("%d files, want %d", seen, len(files))
	}
	return na, nb, temps
}

// TestRotateSurvivesKill9 rotates a 2,000-file tree while killing rekey
// with SIGKILL at random moments, 20 times (the seed is logged). After each kill every file is
// wholly its original or wholly rotated; the next run removes the
// temporary files the killed one left and carries on; a final run
// completes and verifies everything. Runs alternate direction in pairs,
// so that runs keep having work to do, and the second run of a pair
// resumes the journal of the first.
func TestRotateSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rekey and rotates a large tree")
	}
	bin := scanBinary(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	g := testkeys.New(seed)
	oldKey, newKey := g.Mixed(), g.Hex()
	root, state := t.TempDir(), t.TempDir()
	files := crashTree(t, root, 2000, oldKey, r)
	withKey := 0
	for _, content := range files {
		if content(oldKey) != content(newKey) {
			withKey++
		}
	}

	run := func(from, to string) *exec.Cmd {
		cmd := exec.Command(bin, "rotate", "--old-env", "FROM", "--new-env", "TO", "--offline", "--yes",
			"--no-history", "--format", "json", root)
		cmd.Env = append(os.Environ(), "FROM="+from, "TO="+to, "XDG_STATE_HOME="+state)
		return cmd
	}
	// One uninterrupted run gives the scale of the kill delays.
	start := time.Now()
	if out, err := run(oldKey, newKey).CombinedOutput(); err != nil {
		t.Fatalf("calibration run: %v\n%s", err, out)
	}
	full := time.Since(start)
	if out, err := run(newKey, oldKey).CombinedOutput(); err != nil {
		t.Fatalf("reverse run: %v\n%s", err, out)
	}
	if na, _, _ := checkCrashInvariant(t, root, files, oldKey, newKey); na != withKey {
		t.Fatalf("after rotating there and back, %d of %d files are original", na, withKey)
	}

	// Rounds go on until 20 runs were killed; a run that finishes before
	// its kill is checked too and does not count.
	killed := 0
	for round := 0; killed < 20; round++ {
		if round == 60 {
			t.Fatalf("only %d of 60 runs were killed before they finished: the test is not testing", killed)
		}
		from, to := oldKey, newKey
		if round/2%2 == 1 {
			from, to = newKey, oldKey
		}
		cmd := run(from, to)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(r.Int64N(int64(full) * 4 / 5)))
		_ = cmd.Process.Kill()
		err := cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == -1 {
			killed++
		} else if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, out.String())
		}
		na, nb, temps := checkCrashInvariant(t, root, files, oldKey, newKey)
		t.Logf("round %d: %d original, %d rotated, %d temporary files", round, na, nb, temps)
	}

	var out bytes.Buffer
	final := run(oldKey, newKey)
	final.Stdout = &out
	if err := final.Run(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out.String())
	}
	var rep rotators.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Locations {
		if !l.Verified || (l.Action != rotators.ActionReplaced && l.Action != rotators.ActionAlreadyNew) {
			t.Errorf("final run: %+v", l)
		}
	}
	_, nb, temps := checkCrashInvariant(t, root, files, oldKey, newKey)
	if nb != withKey || temps != 0 {
		t.Fatalf("after the final run %d of %d files are rotated and %d temporary files remain", nb, withKey, temps)
	}
	journals, _ := filepath.Glob(filepath.Join(state, "rekey", "*.jsonl"))
	var all []string
	for _, j := range journals {
		data, _ := os.ReadFile(j)
		all = append(all, string(data))
	}
	assertNoLeak(t, []string{oldKey, newKey}, all...)
}
