package scanner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/gittest"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func scanStaged(t *testing.T, dir string, opts StagedOptions) (*Report, StagedStats) {
	t.Helper()
	scan := NewScan("", nil)
	s, err := NewStaged(dir, opts, scan)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	rep, err := scan.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return rep, s.Stats()
}

// stagedKeys lists "path:line key" for each finding, to compare exactly.
func stagedKeys(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s:%d %s", f.Location.Path, f.Location.Line, f.Secret.Reveal()))
	}
	return out
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

// What is staged is scanned, at its staged line numbers; what is only in
// the working tree, or committed and unchanged, is not.
func TestStagedScansTheIndexNotTheWorkTree(t *testing.T) {
	g := testkeys.New(11)
	committed, staged, wtOnly, modified := g.Mixed(), g.Mixed(), g.Mixed(), g.Mixed()
	r := gittest.Init(t)
	r.Write("committed.txt", "old="+committed+"\n")
	r.Write("README.md", "# readme\n")
	r.Write("deep/a/b/keep.txt", "keep\n")
	r.Commit("init")

	r.Write("new.txt", "one\ntwo\nkey="+staged+"\n")
	r.Write("README.md", "# readme\ntoken: "+modified+"\n")
	r.Git("add", "new.txt", "README.md")
	// The working copy moves on: lines above, the key gone.
	r.Write("new.txt", "a\nb\nc\nd\none\ntwo\nkey=from-env\n")
	r.Write("wt-only.txt", "k="+wtOnly+"\n")

	rep, st := scanStaged(t, r.Dir, StagedOptions{})
	equalStrings(t, "findings", stagedKeys(rep), []string{"README.md:2 " + modified, "new.txt:3 " + staged})
	f := rep.Findings[1]
	if f.Location.Kind != KindStaged || f.Location.URI != "staged:new.txt:3" || f.Location.Column != 5 {
		t.Errorf("location = %+v", f.Location)
	}
	if st.Files != 2 || rep.Stats.Files != 2 || rep.Stats.Bytes == 0 {
		t.Errorf("stats = %+v, report stats = %+v", st, rep.Stats)
	}
	pure, _ := scanStaged(t, r.Dir, StagedOptions{NoGitCLI: true})
	equalStrings(t, "go-git only", stagedKeys(pure), stagedKeys(rep))

	// A staged blob that cannot be read is an error, and the scan goes on.
	r.Write("lost.txt", "lost\n")
	r.Git("add", "lost.txt")
	id := r.Git("rev-parse", ":lost.txt")
	if err := os.Remove(filepath.Join(r.Dir, ".git", "objects", id[:2], id[2:])); err != nil {
		t.Fatal(err)
	}
	for _, noCLI := range []bool{false, true} {
		rep, _ := scanStaged(t, r.Dir, StagedOptions{NoGitCLI: noCLI})
		if len(rep.Stats.Errors) != 1 || rep.Stats.Errors[0].Path != "lost.txt" || len(rep.Findings) != 2 {
			t.Errorf("no-git-cli=%v: errors %+v, findings %q", noCLI, rep.Stats.Errors, stagedKeys(rep))
		}
	}
}

func TestStagedBeforeTheFirstCommit(t *testing.T) {
	key := testkeys.New(12).Hex()
	r := gittest.Init(t)
	if _, st := scanStaged(t, r.Dir, StagedOptions{}); st.Files != 0 {
		t.Errorf("empty repository: %+v", st)
	}
	r.Write("src/app.py", "API_KEY = '"+key+"'\n")
	r.Git("add", ".")
	rep, _ := scanStaged(t, r.Dir, StagedOptions{})
	equalStrings(t, "findings", stagedKeys(rep), []string{"src/app.py:1 " + key})
}

// `git commit -a` runs the hook with GIT_INDEX_FILE naming a temporary
// index; that index is what gets committed.
func TestStagedTemporaryIndex(t *testing.T) {
	key := testkeys.New(13).Mixed()
	r := gittest.Init(t)
	r.Write("a.txt", "a\n")
	r.Commit("init")
	r.Write("a.txt", "a="+key+"\n")
	tmp := filepath.Join(t.TempDir(), "index.lock")
	env := []string{"GIT_INDEX_FILE=" + tmp}
	if _, err := r.GitErr(env, "read-tree", "HEAD"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GitErr(env, "add", "a.txt"); err != nil {
		t.Fatal(err)
	}
	if rep, _ := scanStaged(t, r.Dir, StagedOptions{}); len(rep.Findings) != 0 {
		t.Errorf("the real index has nothing staged, got %q", stagedKeys(rep))
	}
	rep, _ := scanStaged(t, r.Dir, StagedOptions{IndexFile: tmp})
	equalStrings(t, "findings", stagedKeys(rep), []string{"a.txt:1 " + key})
}

func TestStagedNothingOrOnlyDeletions(t *testing.T) {
	r := gittest.Init(t)
	r.Write("a.txt", "a\n")
	r.Write("dir/b.txt", "b\n")
	r.Commit("init")
	if rep, st := scanStaged(t, r.Dir, StagedOptions{}); st != (StagedStats{}) || rep.Stats.Files != 0 {
		t.Errorf("nothing staged: %+v %+v", st, rep.Stats)
	}
	r.Git("rm", "-q", "a.txt", "dir/b.txt")
	if _, st := scanStaged(t, r.Dir, StagedOptions{}); st.Files != 0 || st.Deleted != 2 {
		t.Errorf("deletions: %+v", st)
	}
}

// Only the staged blobs and the trees on their paths are read: every other
// object of the repository is deleted and the scan still succeeds. (A
// history scan of the same repository, as a control, does miss them.)
func TestStagedReadsOnlyWhatIsStaged(t *testing.T) {
	key := testkeys.New(14).Mixed()
	r := gittest.Init(t)
	for _, d := range []string{"a", "b/x", "b/y", "c"} {
		for i := range 5 {
			r.Write(fmt.Sprintf("%s/f%d.txt", d, i), fmt.Sprintf("%s %d\n", d, i))
		}
	}
	r.Write("top.txt", "top\n")
	r.Commit("init")
	r.Write("a/f1.txt", "changed "+key+"\n")
	r.Git("add", "a/f1.txt")

	keep := map[string]bool{r.Git("rev-parse", "HEAD"): true, r.Git("rev-parse", "HEAD^{tree}"): true,
		r.Git("rev-parse", "HEAD:a"): true, r.Git("rev-parse", ":a/f1.txt"): true}
	removed := 0
	for _, line := range strings.Split(r.Git("rev-list", "--objects", "HEAD"), "\n") {
		id, _, _ := strings.Cut(line, " ")
		if keep[id] {
			continue
		}
		if err := os.Remove(filepath.Join(r.Dir, ".git", "objects", id[:2], id[2:])); err != nil {
			t.Fatal(err)
		}
		removed++
	}
	if removed < 20 {
		t.Fatalf("only %d objects removed", removed)
	}
	for _, noCLI := range []bool{false, true} {
		rep, st := scanStaged(t, r.Dir, StagedOptions{NoGitCLI: noCLI})
		if len(rep.Stats.Errors) != 0 || st.Files != 1 {
			t.Fatalf("no-git-cli=%v: errors %+v, stats %+v", noCLI, rep.Stats.Errors, st)
		}
		equalStrings(t, "findings", stagedKeys(rep), []string{"a/f1.txt:1 " + key})
	}

	if control := scanHistory(t, r.Dir, HistoryOptions{NoGitCLI: true}); len(control.Stats.Errors) == 0 {
		t.Error("control: a full read of the repository met no missing object")
	}
}

func TestStagedIndexVariants(t *testing.T) {
	g := testkeys.New(15)
	t.Run("index v4, intent-to-add, long paths", func(t *testing.T) {
		k1, k2 := g.Mixed(), g.Mixed()
		r := gittest.Init(t)
		r.Write("a.txt", "a\n")
		r.Commit("init")
		long := strings.Repeat("d", 200) + "/" + strings.Repeat("e", 200) + "/" + strings.Repeat("f", 200) + "/" +
			strings.Repeat("g", 200) + "/" + strings.Repeat("h", 200) + "/" + strings.Repeat("n", 200) + ".txt"
		r.Write(long, "k="+k1+"\n")
		r.Write("shared/prefix-one.txt", "x="+k2+"\n")
		r.Write("later.txt", "not staged yet "+k2+"\n")
		r.Git("add", long, "shared/prefix-one.txt")
		r.Git("add", "-N", "later.txt")
		for _, v := range []string{"4", "3", "2"} {
			if v == "2" {
				r.Git("reset", "-q", "later.txt") // v2 cannot hold intent-to-add
			}
			r.Git("update-index", "--index-version", v)
			rep, st := scanStaged(t, r.Dir, StagedOptions{})
			equalStrings(t, "v"+v, stagedKeys(rep), []string{long + ":1 " + k1, "shared/prefix-one.txt:1 " + k2})
			if v != "2" && st.Skipped != 1 {
				t.Errorf("v%s: intent-to-add not skipped: %+v", v, st)
			}
		}
	})
	t.Run("split index is refused, not half read", func(t *testing.T) {
		r := gittest.Init(t)
		r.Write("a.txt", "a\n")
		r.Commit("init")
		r.Git("update-index", "--split-index")
		s, err := NewStaged(r.Dir, StagedOptions{}, NewScan("", nil))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		err = s.Scan(context.Background(), func(Chunk) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "split index") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("conflict and submodule are reported", func(t *testing.T) {
		r := gittest.Init(t)
		r.Write("c.txt", "base\n")
		base := r.Commit("base")
		r.Git("checkout", "-q", "-b", "other")
		r.Write("c.txt", "other\n")
		r.Commit("other")
		r.Git("checkout", "-q", "main")
		r.Write("c.txt", "main\n")
		r.Commit("main")
		if _, err := r.GitErr(nil, "merge", "-q", "other"); err == nil {
			t.Fatal("merge did not conflict")
		}
		r.Git("update-index", "--add", "--cacheinfo", "160000,"+base+",vendor/lib")
		rep, st := scanStaged(t, r.Dir, StagedOptions{})
		var got []string
		for _, p := range rep.Stats.Skipped {
			got = append(got, p.Path)
		}
		equalStrings(t, "skipped", got, []string{"c.txt", "vendor/lib"})
		if st.Files != 0 || st.Skipped != 2 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("linked worktree has its own index", func(t *testing.T) {
		key := g.Mixed()
		r := gittest.Init(t)
		r.Write("a.txt", "a\n")
		r.Commit("init")
		wt := filepath.Join(t.TempDir(), "wt")
		r.Git("worktree", "add", "-q", "-b", "wt", wt)
		w := gittest.Open(t, wt)
		w.Write("b.txt", "b="+key+"\n")
		w.Git("add", "b.txt")
		rep, _ := scanStaged(t, wt, StagedOptions{})
		equalStrings(t, "worktree", stagedKeys(rep), []string{"b.txt:1 " + key})
		if rep, _ := scanStaged(t, r.Dir, StagedOptions{}); len(rep.Findings) != 0 {
			t.Errorf("main worktree: %q", stagedKeys(rep))
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		if _, err := NewStaged(t.TempDir(), StagedOptions{}, NewScan("", nil)); err == nil {
			t.Error("no error")
		}
	})
}

// The index parser never panics, whatever the bytes.
func FuzzParseIndex(f *testing.F) {
	if _, err := os.Stat("/usr/bin/git"); err == nil {
		r := gittest.Init(f)
		r.Write("a/b.txt", "b\n")
		r.Write("c.txt", "c\n")
		r.Commit("init")
		r.Write("a/d.txt", "d\n")
		r.Git("add", "a/d.txt")
		for _, v := range []string{"2", "3", "4"} {
			r.Git("update-index", "--index-version", v)
			data, err := os.ReadFile(filepath.Join(r.Dir, ".git", "index"))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("DIRC\x00\x00\x00\x02\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := parseIndex(data)
		if err == nil && idx == nil {
			t.Fatal("nil index without an error")
		}
	})
}
