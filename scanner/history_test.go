package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/scanner/gittest"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// triple is the ground truth of one history finding: which key, at which
// path (or "commit-message" / "tag-message"), introduced by which commit
// (or, for a tag message, which tag object).
type triple struct{ key, path, commit string }

func (t triple) String() string {
	return fmt.Sprintf("(%s, %s, %s)", KeyID(t.key), t.path, t.commit[:min(12, len(t.commit))])
}

// zoo is a repository holding a key in every place history can hide one,
// with the exact findings a history scan must report.
type zoo struct {
	r      *gittest.Repo
	keys   []string
	want   []triple
	commit map[string]string // names used in the test -> commit ids
}

// commitTree writes a commit with the given files (and nothing else) and
// parents, without touching HEAD, the index or the working tree.
func commitTree(r *gittest.Repo, msg string, files map[string]string, parents ...string) string {
	r.T.Helper()
	index := filepath.Join(r.T.TempDir(), "index")
	env := []string{"GIT_INDEX_FILE=" + index}
	for name, content := range files {
		f := filepath.Join(r.T.TempDir(), "blob")
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			r.T.Fatal(err)
		}
		blob := r.Git("hash-object", "-w", f)
		if _, err := r.GitErr(env, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+name); err != nil {
			r.T.Fatal(err)
		}
	}
	tree, err := r.GitErr(env, "write-tree")
	if err != nil {
		r.T.Fatal(err)
	}
	args := []string{"commit-tree", tree, "-m", msg}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	return r.Git(args...)
}

func buildZoo(t *testing.T) *zoo {
	t.Helper()
	r := gittest.Init(t)
	g := testkeys.New(7)
	k := make([]string, 16)
	for i := range k {
		k[i] = g.Mixed()
	}
	z := &zoo{r: r, keys: k, commit: map[string]string{}}
	want := func(key, path, commit string) { z.want = append(z.want, triple{key, path, commit}) }

	r.Write("README.md", "hello\n")
	base := r.Commit("base")

	// Added, then deleted.
	r.Write("config/.env", "PERPLEXITY_API_KEY="+k[1]+"\n")
	want(k[1], "config/.env", r.Commit("add env"))
	r.Git("rm", "-q", "config/.env")
	r.Commit("remove env")

	// Kept through later commits: one finding; the same content at a new
	// path is a new introduction.
	r.Write("persist.txt", "line\nkey: "+k[15]+"\n")
	want(k[15], "persist.txt", r.Commit("persist"))
	r.Write("other.txt", "x\n")
	r.Commit("unrelated 1")
	r.Write("other.txt", "y\n")
	r.Commit("unrelated 2")
	r.Write("copy/persist.txt", "line\nkey: "+k[15]+"\n")
	want(k[15], "copy/persist.txt", r.Commit("copy"))

	// Renamed: the old path and the new one.
	r.Write("old.txt", "token="+k[2]+"\n")
	want(k[2], "old.txt", r.Commit("add old"))
	if err := os.Mkdir(filepath.Join(r.Dir, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.Git("mv", "old.txt", "new/name.txt")
	want(k[2], "new/name.txt", r.Commit("rename"))

	// Commit and annotated tag messages.
	msgCommit := r.Commit("oops, pasted " + k[13] + " here")
	want(k[13], "commit-message", msgCommit)
	r.Git("tag", "-a", "v1", "-m", "release notes\nkey "+k[14])
	want(k[14], "tag-message", r.Git("rev-parse", "v1"))

	// A branch never merged.
	r.Git("checkout", "-q", "-b", "feature")
	r.Write("feat.go", "const key = \""+k[3]+"\"\n")
	z.commit["feature"] = r.Commit("feature work")
	want(k[3], "feat.go", z.commit["feature"])
	r.Git("checkout", "-q", "main")

	// Merged from a side branch (the side commit introduced it), and added
	// by the merge commit itself while resolving.
	r.Git("checkout", "-q", "-b", "side")
	r.Write("side.txt", "k="+k[6]+"\n")
	want(k[6], "side.txt", r.Commit("side"))
	r.Git("checkout", "-q", "main")
	r.Write("main2.txt", "m\n")
	r.Commit("main moves")
	r.Git("merge", "-q", "--no-ff", "--no-commit", "side")
	r.Write("merged.txt", "resolved with "+k[5]+"\n")
	r.Git("add", "merged.txt")
	r.Git("commit", "-q", "-m", "merge side")
	z.commit["merge"] = r.Head()
	want(k[5], "merged.txt", z.commit["merge"])

	// Reachable only from a lightweight tag.
	hidden := commitTree(r, "tag only", map[string]string{"tagonly.txt": "t=" + k[4] + "\n"})
	r.Git("tag", "hidden", hidden)
	want(k[4], "tagonly.txt", hidden)

	// A replaced commit, on its own branch: git log would show the
	// replacement and hide the original; both must be scanned.
	r.Git("checkout", "-q", "-b", "replaced")
	r.Write("replaced.txt", "secret "+k[11]+"\n")
	original := r.Commit("to be replaced")
	want(k[11], "replaced.txt", original)
	replacement := commitTree(r, "replacement", map[string]string{"README.md": "hello\n", "shadow.txt": "s " + k[12] + "\n"}, r.Git("rev-parse", "HEAD^"))
	r.Git("replace", original, replacement)
	want(k[12], "shadow.txt", replacement)
	z.commit["original"], z.commit["replacement"] = original, replacement
	r.Git("checkout", "-q", "-f", "main")

	// A submodule, on its own branch: reported, not descended.
	r.Git("checkout", "-q", "-b", "withsub")
	r.Git("update-index", "--add", "--cacheinfo", "160000,"+base+",vendor/sub")
	r.Git("commit", "-q", "-m", "add submodule")
	r.Git("checkout", "-q", "-f", "main")

	// Three stash entries: an unstaged change, an untracked file (-u), a
	// staged new file. Only the newest is refs/stash.
	r.Write("other.txt", "z "+k[7]+"\n")
	r.Git("stash", "push", "-q", "-m", "s1")
	r.Write("untracked.txt", "u="+k[8]+"\n")
	r.Git("stash", "push", "-q", "-u", "-m", "s2")
	r.Write("staged.txt", "s="+k[9]+"\n")
	r.Git("add", "staged.txt")
	r.Git("stash", "push", "-q", "-m", "s3")
	want(k[7], "other.txt", r.Git("rev-parse", "stash@{2}"))
	want(k[8], "untracked.txt", r.Git("rev-parse", "stash@{1}^3"))
	want(k[9], "staged.txt", r.Git("rev-parse", "stash@{0}^2"))

	// Work left on a detached HEAD.
	r.Git("checkout", "-q", "--detach", "main")
	r.Write("detached.txt", "d="+k[10]+"\n")
	z.commit["detached"] = r.Commit("detached work")
	want(k[10], "detached.txt", z.commit["detached"])
	return z
}

// scanHistory runs a history scan of dir and returns the report.
func scanHistory(t *testing.T, dir string, opts HistoryOptions) *Report {
	t.Helper()
	scan := NewScan("", nil)
	h, err := NewHistory(dir, opts, scan)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	rep, err := scan.Run(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// triples reduces findings to their ground-truth form.
func triples(t *testing.T, r *Report) []triple {
	t.Helper()
	var out []triple
	for _, f := range r.Findings {
		l := f.Location
		switch {
		case l.Path != "":
			out = append(out, triple{f.Secret.Reveal(), l.Path, l.Commit})
		case strings.Contains(l.URI, ":commit-message:"):
			out = append(out, triple{f.Secret.Reveal(), "commit-message", l.Commit})
		case strings.Contains(l.URI, ":tag-message:"):
			out = append(out, triple{f.Secret.Reveal(), "tag-message", strings.Split(l.URI, ":")[1]})
		default:
			t.Errorf("unexpected finding location %+v", l)
		}
	}
	return out
}

func sameTriples(t *testing.T, got, want []triple) {
	t.Helper()
	sortT := func(s []triple) {
		slices.SortFunc(s, func(a, b triple) int { return strings.Compare(a.key+a.path+a.commit, b.key+b.path+b.commit) })
	}
	got, want = slices.Clone(got), slices.Clone(want)
	sortT(got)
	sortT(want)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing finding %v", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("unexpected finding %v", g)
		}
	}
}

func findingOf(t *testing.T, r *Report, key, path string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Secret.Reveal() == key && (f.Location.Path == path || path == "") {
			return f
		}
	}
	t.Fatalf("no finding of %s at %q", KeyID(key), path)
	return Finding{}
}

// Every place a key can hide in history is found, each attributed to the
// exact commit that introduced that content at that path, through both the
// git CLI and the pure go-git object readers.
func TestHistoryGroundTruth(t *testing.T) {
	z := buildZoo(t)
	for _, noCLI := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-git-cli=%v", noCLI), func(t *testing.T) {
			rep := scanHistory(t, z.r.Dir, HistoryOptions{NoGitCLI: noCLI})
			sameTriples(t, triples(t, rep), z.want)
			if len(rep.Stats.Errors) > 0 {
				t.Errorf("errors: %+v", rep.Stats.Errors)
			}

			refs := func(key, path string) []string { return findingOf(t, rep, key, path).Location.Refs }
			if got := refs(z.keys[3], "feat.go"); !slices.Equal(got, []string{"refs/heads/feature"}) {
				t.Errorf("never-merged branch refs = %v", got)
			}
			if got := refs(z.keys[4], "tagonly.txt"); !slices.Equal(got, []string{"refs/tags/hidden"}) {
				t.Errorf("tag-only refs = %v", got)
			}
			if got := refs(z.keys[10], "detached.txt"); !slices.Equal(got, []string{"HEAD"}) {
				t.Errorf("detached HEAD refs = %v", got)
			}
			if got := refs(z.keys[12], "shadow.txt"); !slices.Equal(got, []string{"refs/replace/" + z.commit["original"]}) {
				t.Errorf("replacement refs = %v", got)
			}
			if got := refs(z.keys[7], "other.txt"); !slices.Equal(got, []string{"stash@{2}"}) {
				t.Errorf("oldest stash entry refs = %v", got)
			}
			if got := refs(z.keys[9], "staged.txt"); !slices.Equal(got, []string{"refs/stash"}) {
				t.Errorf("newest stash entry refs = %v", got)
			}
			if got := refs(z.keys[14], ""); !slices.Equal(got, []string{"refs/tags/v1"}) {
				t.Errorf("tag message refs = %v", got)
			}
			if got := refs(z.keys[1], "config/.env"); !slices.Contains(got, "refs/heads/main") || !slices.Contains(got, "refs/heads/feature") {
				t.Errorf("deleted key refs = %v, want main and feature among them", got)
			}

			f := findingOf(t, rep, z.keys[15], "persist.txt")
			l := f.Location
			if l.Kind != KindGitHistory || l.Line != 2 || l.Column != 6 || l.URI != "git:"+l.Commit+":persist.txt:2" {
				t.Errorf("location = %+v", l)
			}
			if l.Author != "Test Author <author@example.com>" {
				t.Errorf("author = %q", l.Author)
			}
			if _, err := time.Parse(time.RFC3339, l.Date); err != nil {
				t.Errorf("date %q: %v", l.Date, err)
			}
			env := findingOf(t, rep, z.keys[1], "config/.env")
			if env.Location.Variable != "PERPLEXITY_API_KEY" {
				t.Errorf(".env variable = %q", env.Location.Variable)
			}
			msg := findingOf(t, rep, z.keys[13], "")
			if msg.Location.URI != "git:"+msg.Location.Commit+":commit-message:1" || msg.Location.Refs == nil {
				t.Errorf("commit message location = %+v", msg.Location)
			}

			var sub bool
			for _, p := range rep.Stats.Skipped {
				sub = sub || p.Path == "vendor/sub" && strings.Contains(p.Message, "submodule")
			}
			if !sub {
				t.Errorf("submodule not reported: %+v", rep.Stats.Skipped)
			}
			wantCommits, err := z.r.GitErr(nil, "--no-replace-objects", "rev-list", "--count", "--all", "stash@{1}", "stash@{2}")
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(rep.Stats.Commits); got != wantCommits {
				t.Errorf("commits = %s, git rev-list counts %s", got, wantCommits)
			}
		})
	}
}

// The git CLI accelerator and pure go-git give the same report, statistics
// included, over the zoo, a shallow clone and a repository with a missing
// object.
func TestHistoryCLIMatchesGoGit(t *testing.T) {
	z := buildZoo(t)
	shallow := t.TempDir()
	z.r.Git("clone", "-q", "--depth=2", "--no-local", "file://"+z.r.Dir, shallow)
	broken := gittest.Init(t)
	broken.Write("a.txt", "a="+z.keys[1]+"\n")
	broken.Write("b.txt", "b="+z.keys[2]+"\n")
	broken.Commit("two files")
	blob := broken.Git("rev-parse", "HEAD:b.txt")
	if err := os.Remove(filepath.Join(broken.Dir, ".git", "objects", blob[:2], blob[2:])); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		opts      HistoryOptions
	}{
		{"zoo", z.r.Dir, HistoryOptions{}},
		{"zoo since", z.r.Dir, HistoryOptions{SinceCommit: z.commit["feature"]}},
		{"zoo branch", z.r.Dir, HistoryOptions{Branch: "main"}},
		{"shallow", shallow, HistoryOptions{}},
		{"missing-object", broken.Dir, HistoryOptions{}},
		{"missing-object branch", broken.Dir, HistoryOptions{Branch: "HEAD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli := scanHistory(t, tc.dir, tc.opts)
			tc.opts.NoGitCLI = true
			pure := scanHistory(t, tc.dir, tc.opts)
			cli.Stats.DurationMS, pure.Stats.DurationMS = 0, 0
			a, _ := json.MarshalIndent(cli, "", " ")
			b, _ := json.MarshalIndent(pure, "", " ")
			if string(a) != string(b) {
				t.Errorf("reports differ:\ngit CLI: %s\ngo-git: %s", a, b)
			}
			if len(cli.Findings) == 0 {
				t.Error("no findings")
			}
		})
	}
}

// The CLI accelerator is really used when git is installed (the
// comparison above would be vacuous otherwise).
func TestHistoryUsesGitCLI(t *testing.T) {
	z := buildZoo(t)
	scan := NewScan("", nil)
	h, err := NewHistory(z.r.Dir, HistoryOptions{}, scan)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	store := h.openStore(context.Background())
	if _, ok := store.(*gitCLIStore); !ok {
		t.Fatalf("store is %T, want the git CLI", store)
	}
	_ = store.close()
}

func TestHistorySinceCommitAndBranch(t *testing.T) {
	z := buildZoo(t)
	t.Run("branch", func(t *testing.T) {
		rep := scanHistory(t, z.r.Dir, HistoryOptions{Branch: "feature"})
		var want []triple
		for _, w := range z.want {
			if slices.Contains([]string{z.keys[1], z.keys[15], z.keys[2], z.keys[13], z.keys[3]}, w.key) {
				want = append(want, w)
			}
		}
		sameTriples(t, triples(t, rep), want)
		for _, f := range rep.Findings {
			if !slices.Equal(f.Location.Refs, []string{"refs/heads/feature"}) {
				t.Errorf("refs = %v, want only the branch", f.Location.Refs)
			}
		}
	})
	t.Run("tag with message", func(t *testing.T) {
		rep := scanHistory(t, z.r.Dir, HistoryOptions{Branch: "v1"})
		found := false
		for _, tr := range triples(t, rep) {
			found = found || tr.path == "tag-message"
		}
		if !found {
			t.Error("--branch on an annotated tag skipped its message")
		}
	})
	t.Run("since", func(t *testing.T) {
		// Everything reachable from the feature commit is old.
		rep := scanHistory(t, z.r.Dir, HistoryOptions{SinceCommit: z.commit["feature"]})
		var want []triple
		for _, w := range z.want {
			if !slices.Contains([]string{z.keys[1], z.keys[15], z.keys[2], z.keys[13], z.keys[14], z.keys[3]}, w.key) {
				want = append(want, w)
			}
		}
		sameTriples(t, triples(t, rep), want)
	})
	t.Run("unknown revision", func(t *testing.T) {
		if _, err := NewHistory(z.r.Dir, HistoryOptions{Branch: "no-such-branch"}, NewScan("", nil)); err == nil {
			t.Error("no error for an unknown branch")
		}
		if _, err := NewHistory(z.r.Dir, HistoryOptions{SinceCommit: "deadbeef"}, NewScan("", nil)); err == nil {
			t.Error("no error for an unknown commit")
		}
	})
}

func TestHistoryRepositoryShapes(t *testing.T) {
	z := buildZoo(t)
	mainOnly := func(rep *Report) []triple {
		var out []triple
		for _, tr := range triples(t, rep) {
			if tr.key == z.keys[1] || tr.key == z.keys[2] || tr.key == z.keys[5] {
				out = append(out, tr)
			}
		}
		return out
	}
	var want []triple
	for _, w := range z.want {
		if w.key == z.keys[1] || w.key == z.keys[2] || w.key == z.keys[5] {
			want = append(want, w)
		}
	}

	t.Run("bare", func(t *testing.T) {
		bare := t.TempDir()
		z.r.Git("clone", "-q", "--bare", z.r.Dir, bare)
		rep := scanHistory(t, bare, HistoryOptions{})
		sameTriples(t, mainOnly(rep), want)
	})
	t.Run("linked worktree", func(t *testing.T) {
		wt := filepath.Join(t.TempDir(), "wt")
		z.r.Git("worktree", "add", "-q", "--detach", wt, "main")
		rep := scanHistory(t, wt, HistoryOptions{})
		sameTriples(t, triples(t, rep), z.want)
		// From a subdirectory too.
		rep = scanHistory(t, filepath.Join(z.r.Dir, "new"), HistoryOptions{})
		sameTriples(t, triples(t, rep), z.want)
	})
	t.Run("shallow", func(t *testing.T) {
		dir := t.TempDir()
		z.r.Git("clone", "-q", "--depth=1", "--no-local", "--no-tags", "--branch=main", "file://"+z.r.Dir, dir)
		rep := scanHistory(t, dir, HistoryOptions{})
		if len(rep.Stats.Warnings) == 0 || !strings.Contains(rep.Stats.Warnings[0].Message, "shallow clone") {
			t.Errorf("no shallow warning: %+v", rep.Stats.Warnings)
		}
		// Only the tip commit exists; everything in its tree counts as
		// introduced there.
		tip := strings.TrimSpace(gittest.Open(t, dir).Git("rev-parse", "HEAD"))
		for _, tr := range triples(t, rep) {
			if tr.commit != tip {
				t.Errorf("finding %v not at the shallow tip", tr)
			}
		}
		if rep.Stats.Commits != 1 || len(rep.Stats.Errors) != 0 {
			t.Errorf("commits = %d, errors = %+v", rep.Stats.Commits, rep.Stats.Errors)
		}
	})
	t.Run("empty", func(t *testing.T) {
		rep := scanHistory(t, gittest.Init(t).Dir, HistoryOptions{})
		if len(rep.Stats.Warnings) != 1 || !strings.Contains(rep.Stats.Warnings[0].Message, "no commits") {
			t.Errorf("warnings = %+v", rep.Stats.Warnings)
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		_, err := NewHistory(t.TempDir(), HistoryOptions{}, NewScan("", nil))
		if !errors.Is(err, ErrNotRepository) {
			t.Errorf("err = %v, want ErrNotRepository", err)
		}
	})
}

// Missing and corrupt objects are listed in stats.errors and the scan goes
// on; a partial clone is read with go-git only and its missing blobs are
// listed (capped), never fetched.
func TestHistoryDamagedRepositories(t *testing.T) {
	g := testkeys.New(3)
	good, lost, bad := g.Mixed(), g.Mixed(), g.Mixed()
	r := gittest.Init(t)
	r.Write("good.txt", "g="+good+"\n")
	r.Write("lost.txt", "l="+lost+"\n")
	r.Write("bad.txt", "b="+bad+"\n")
	r.Commit("three")
	objFile := func(rev string) string {
		id := r.Git("rev-parse", rev)
		return filepath.Join(r.Dir, ".git", "objects", id[:2], id[2:])
	}
	if err := os.Remove(objFile("HEAD:lost.txt")); err != nil {
		t.Fatal(err)
	}
	corrupt := objFile("HEAD:bad.txt")
	_ = os.Chmod(corrupt, 0o644)
	if err := os.WriteFile(corrupt, []byte("not zlib at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, noCLI := range []bool{false, true} {
		rep := scanHistory(t, r.Dir, HistoryOptions{NoGitCLI: noCLI})
		sameTriples(t, triples(t, rep), []triple{{good, "good.txt", r.Head()}})
		var paths []string
		for _, e := range rep.Stats.Errors {
			paths = append(paths, e.Path)
		}
		if len(paths) != 2 || !strings.HasSuffix(paths[0], ":bad.txt") || !strings.HasSuffix(paths[1], ":lost.txt") {
			t.Errorf("no-git-cli=%v: errors = %+v", noCLI, rep.Stats.Errors)
		}
	}

	t.Run("partial clone", func(t *testing.T) {
		src := gittest.Init(t)
		src.Git("config", "uploadpack.allowFilter", "true")
		for i := range 60 {
			src.Write(fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("v%d\n", i))
			src.Commit(fmt.Sprintf("c%d", i))
		}
		src.Write("key.txt", "k="+good+"\n")
		src.Commit("key")
		dir := t.TempDir()
		src.Git("clone", "-q", "--no-local", "--filter=blob:none", "--no-checkout", "file://"+src.Dir, dir)
		// Make any fetch fail loudly: the source is gone.
		if err := os.RemoveAll(src.Dir); err != nil {
			t.Fatal(err)
		}
		rep := scanHistory(t, dir, HistoryOptions{})
		if len(rep.Stats.Warnings) == 0 || !strings.Contains(rep.Stats.Warnings[0].Message, "partial clone") {
			t.Errorf("warnings = %+v", rep.Stats.Warnings)
		}
		if n := len(rep.Stats.Errors); n != maxMissingReported {
			t.Errorf("%d errors, want %d (capped, with a summary)", n, maxMissingReported)
		}
		if rep.Stats.Commits != 61 {
			t.Errorf("commits = %d", rep.Stats.Commits)
		}
	})
}

// A repository whose config would run commands (fsmonitor, filters,
// textconv, pager, hooks, ssh) executes nothing when rekey scans it, through
// the git CLI accelerator and the staged scan. The last step proves the
// trap is live: plain git does trigger it.
func TestScanningUntrustedRepositoryExecutesNothing(t *testing.T) {
	key := testkeys.New(9).Mixed()
	r := gittest.Init(t)
	r.Write(".gitattributes", "* filter=evil diff=evil\n")
	r.Write("app.env", "KEY="+key+"\n")
	r.Commit("init")
	r.Write("new.txt", "n="+key+"\n")
	r.Git("add", "new.txt")

	marks := t.TempDir()
	trap := func(name string) string { return "touch " + filepath.Join(marks, name) }
	hooks := filepath.Join(r.Dir, "evil-hooks")
	for _, h := range []string{"pre-commit", "post-checkout", "reference-transaction", "pre-auto-gc"} {
		r.Write("evil-hooks/"+h, "#!/bin/sh\n"+trap("hook-"+h)+"\n")
		if err := os.Chmod(filepath.Join(hooks, h), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"core.fsmonitor":             trap("fsmonitor"),
		"core.hooksPath":             hooks,
		"core.pager":                 trap("pager"),
		"core.sshCommand":            trap("ssh"),
		"core.askPass":               trap("askpass"),
		"core.editor":                trap("editor"),
		"core.alternateRefsCommand":  trap("alternate-refs"),
		"filter.evil.clean":          trap("clean"),
		"filter.evil.smudge":         trap("smudge"),
		"filter.evil.process":        trap("process"),
		"filter.evil.required":       "true",
		"diff.evil.textconv":         trap("textconv"),
		"diff.external":              trap("diff-external"),
		"pager.cat-file":             trap("pager-cat-file"),
		"uploadpack.packObjectsHook": trap("pack-objects-hook"),
		"credential.helper":          "!" + trap("credential"),
		"gc.auto":                    "1",
		"alias.cat-file":             "!" + trap("alias"),
		"remote.origin.url":          "ext::" + trap("ext-remote"),
		"protocol.ext.allow":         "always",
	} {
		r.Git("config", k, v)
	}

	for _, opts := range []HistoryOptions{{}, {Branch: "main"}, {NoGitCLI: true}} {
		rep := scanHistory(t, r.Dir, opts)
		if len(rep.Findings) != 1 || len(rep.Stats.Warnings) != 0 {
			t.Errorf("history %+v: findings %d, warnings %+v", opts, len(rep.Findings), rep.Stats.Warnings)
		}
	}
	scan := NewScan("", nil)
	s, err := NewStaged(r.Dir, StagedOptions{}, scan)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(context.Background(), s)
	if err != nil || len(rep.Findings) != 1 {
		t.Fatalf("staged: %v, %d findings", err, len(rep.Findings))
	}
	if ran, _ := os.ReadDir(marks); len(ran) > 0 {
		t.Fatalf("scanning executed repository config: %v", ran)
	}

	// The trap is live: an ordinary git command runs the fsmonitor hook.
	_, _ = r.GitErr(nil, "status")
	if _, err := os.Stat(filepath.Join(marks, "fsmonitor")); err != nil {
		t.Fatalf("git status did not trigger core.fsmonitor, so this test proves nothing: %v", err)
	}
}
