package filerot

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

type tree struct {
	t        *testing.T
	root     string
	old, new scanner.Secret
}

func newTree(t *testing.T) *tree {
	t.Helper()
	g := testkeys.New(uint64(len(t.Name())) + 1000)
	return &tree{t: t, root: t.TempDir(), old: scanner.Secret(g.Mixed()), new: scanner.Secret(g.Mixed())}
}

// write creates rel with content, where {OLD} and {NEW} stand for the keys.
func (tr *tree) write(rel, content string, mode os.FileMode) string {
	tr.t.Helper()
	p := filepath.Join(tr.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(tr.expand(content, tr.old)), mode); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		tr.t.Fatal(err)
	}
	return p
}

func (tr *tree) expand(content string, key scanner.Secret) string {
	content = strings.ReplaceAll(content, "{B64}", base64.StdEncoding.EncodeToString([]byte("u:"+key.Reveal())))
	content = strings.ReplaceAll(content, "{OLD}", key.Reveal())
	return strings.ReplaceAll(content, "{NEW}", tr.new.Reveal())
}

func (tr *tree) read(rel string) string {
	tr.t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.root, rel))
	if err != nil {
		tr.t.Fatal(err)
	}
	return string(b)
}

func (tr *tree) engine(paths ...string) (*rotators.Engine, *Locator) {
	tr.t.Helper()
	if len(paths) == 0 {
		paths = []string{tr.root}
	}
	l, err := New(paths)
	if err != nil {
		tr.t.Fatal(err)
	}
	return &rotators.Engine{Locators: []rotators.Locator{l}, StateDir: filepath.Join(tr.t.TempDir(), "state")}, l
}

func (tr *tree) keys() rotators.Keys { return rotators.Keys{Old: tr.old, New: tr.new} }

func (tr *tree) rotate(paths ...string) *rotators.Report {
	tr.t.Helper()
	e, _ := tr.engine(paths...)
	p, err := e.Plan(context.Background(), tr.keys())
	if err != nil {
		tr.t.Fatal(err)
	}
	r, err := e.Rotate(context.Background(), p, rotators.RotateOptions{})
	if err != nil {
		tr.t.Fatal(err)
	}
	return r
}

func byPath(r *rotators.Report) map[string]rotators.LocationResult {
	m := map[string]rotators.LocationResult{}
	for _, l := range r.Locations {
		m[filepath.Base(l.Path)] = l
	}
	return m
}

func TestRotateChangesOnlyTheKeyBytes(t *testing.T) {
	tr := newTree(t)
	files := map[string]string{
		".env":             "\ufeff# comment\r\nexport PERPLEXITY_API_KEY=\"{OLD}\"\r\nOTHER=1\r\n",
		"config/app.yaml":  "key: '{OLD}' # twice: {OLD}",
		"k8s/secret.yaml":  "data:\n  auth: {B64}\n",
		"bin/blob.bin":     "\x00\x01{OLD}\xff",
		"already/new.env":  "KEY={NEW}\n",
		"unrelated/a.txt":  "nothing to see",
		"sub/.env.local":   "A={OLD}",
		"deep/x/y/z/.envr": "{OLD}\n",
	}
	for rel, c := range files {
		tr.write(rel, c, 0o640)
	}
	r := tr.rotate()
	got := byPath(r)
	for rel, c := range files {
		base := filepath.Base(rel)
		want := tr.expand(c, tr.new)
		if tr.read(rel) != want {
			t.Errorf("%s:\n got %q\nwant %q", rel, tr.read(rel), want)
		}
		switch {
		case strings.Contains(c, "{OLD}") || strings.Contains(c, "{B64}"):
			if got[base].Action != rotators.ActionReplaced || !got[base].Verified {
				t.Errorf("%s: %+v", rel, got[base])
			}
		case strings.Contains(c, "{NEW}"):
			if got[base].Action != rotators.ActionAlreadyNew {
				t.Errorf("%s: %+v", rel, got[base])
			}
		default:
			if _, listed := got[base]; listed {
				t.Errorf("%s holds no key but is listed", rel)
			}
		}
		info, _ := os.Stat(filepath.Join(tr.root, rel))
		if info.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", rel, info.Mode().Perm())
		}
	}
	if !strings.Contains(got["app.yaml"].Detail, "2 copies") || !strings.Contains(got["secret.yaml"].Detail, "base64") {
		t.Errorf("details: %q, %q", got["app.yaml"].Detail, got["secret.yaml"].Detail)
	}
	assertNoTemps(t, tr.root)
}

func assertNoTemps(t *testing.T, root string) {
	t.Helper()
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && isTemp(d.Name()) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestOwnerAndSpecialModeBitsAreKept(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another owner needs root")
	}
	tr := newTree(t)
	p := tr.write("owned.env", "K={OLD}\n", 0o640)
	if err := os.Chown(p, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	tr.rotate()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1234 || st.Gid != 5678 || st.Mode&0o7777 != 0o2640 {
		t.Errorf("owner %d:%d mode %o, want 1234:5678 2640", st.Uid, st.Gid, st.Mode&0o7777)
	}
}

func TestHardLinkedFileKeepsItsLinks(t *testing.T) {
	tr := newTree(t)
	a := tr.write("a.env", "K={OLD}\n", 0o600)
	b := filepath.Join(tr.root, "sub", "b.env")
	_ = os.MkdirAll(filepath.Dir(b), 0o755)
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "c.env") // a link outside the scanned root
	if err := os.Link(a, outside); err != nil {
		t.Skipf("no hard links across these directories: %v", err)
	}
	r := tr.rotate()
	if len(r.Locations) != 1 || !strings.Contains(r.Locations[0].Detail, "also linked as") {
		t.Fatalf("one location for one file, got %+v", r.Locations)
	}
	for _, p := range []string{a, b, outside} {
		data, _ := os.ReadFile(p)
		if string(data) != "K="+tr.new.Reveal()+"\n" {
			t.Errorf("%s = %q", p, data)
		}
	}
	ia, _ := os.Stat(a)
	ib, _ := os.Stat(b)
	if !os.SameFile(ia, ib) {
		t.Error("the hard link was broken")
	}
}

func TestSymbolicLinks(t *testing.T) {
	tr := newTree(t)
	target := tr.write("real/.env", "K={OLD}\n", 0o600)
	if err := os.Symlink(target, filepath.Join(tr.root, "link.env")); err != nil {
		t.Fatal(err)
	}
	outsideDir := t.TempDir()
	outside := filepath.Join(outsideDir, "outside.env")
	if err := os.WriteFile(outside, []byte("K="+tr.old.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(tr.root, "out.env")); err != nil {
		t.Fatal(err)
	}
	r := tr.rotate()
	got := byPath(r)
	if got[".env"].Action != rotators.ActionReplaced {
		t.Errorf("target inside the root: %+v", got[".env"])
	}
	if got["out.env"].Action != rotators.ActionSkipped || !strings.Contains(got["out.env"].Detail, "outside") {
		t.Errorf("link to a file outside the root: %+v", got["out.env"])
	}
	if data, _ := os.ReadFile(outside); string(data) != "K="+tr.old.Reveal() {
		t.Error("a file outside the scanned root was written")
	}
	if info, _ := os.Lstat(filepath.Join(tr.root, "link.env")); info.Mode()&os.ModeSymlink == 0 {
		t.Error("the link inside the root was replaced by a file")
	}
	if !r.Incomplete() {
		t.Error("a skipped location holding the old key makes the run incomplete")
	}

	// A link named on the command line: its target is rewritten, the link stays.
	named := filepath.Join(tr.root, "named.env")
	if err := os.Symlink(outside, named); err != nil {
		t.Fatal(err)
	}
	r = tr.rotate(named)
	if len(r.Locations) != 1 || r.Locations[0].Action != rotators.ActionReplaced {
		t.Fatalf("named link: %+v", r.Locations)
	}
	if data, _ := os.ReadFile(outside); string(data) != "K="+tr.new.Reveal() {
		t.Errorf("the named link's target = %q", data)
	}
	if info, _ := os.Lstat(named); info.Mode()&os.ModeSymlink == 0 {
		t.Error("the named link was replaced by a file")
	}
}

func TestReadOnlyFileFailsAndOthersGoOn(t *testing.T) {
	tr := newTree(t)
	tr.write("ro.env", "K={OLD}\n", 0o444)
	tr.write("rw.env", "K={OLD}\n", 0o644)
	r := tr.rotate()
	got := byPath(r)
	if got["ro.env"].Action != rotators.ActionFailed || !strings.Contains(got["ro.env"].Detail, "read-only") {
		t.Errorf("read-only file: %+v", got["ro.env"])
	}
	if got["rw.env"].Action != rotators.ActionReplaced {
		t.Errorf("writable file: %+v", got["rw.env"])
	}
	if tr.read("ro.env") != "K="+tr.old.Reveal()+"\n" {
		t.Error("the read-only file was written")
	}
}

func TestLockedFileFails(t *testing.T) {
	tr := newTree(t)
	p := tr.write("locked.env", "K={OLD}\n", 0o644)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Skipf("flock: %v", err)
	}
	r := tr.rotate()
	if r.Locations[0].Action != rotators.ActionFailed || !strings.Contains(r.Locations[0].Detail, "locked") {
		t.Errorf("locked file: %+v", r.Locations[0])
	}
	if tr.read("locked.env") != "K="+tr.old.Reveal()+"\n" {
		t.Error("the locked file was written")
	}
}

func TestFileChangedBetweenPlanAndApplyIsNotClobbered(t *testing.T) {
	tr := newTree(t)
	p := tr.write("a.env", "K={OLD}\n", 0o644)
	tr.write("b.env", "K={OLD}\n", 0o644)
	e, _ := tr.engine()
	plan, err := e.Plan(context.Background(), tr.keys())
	if err != nil {
		t.Fatal(err)
	}
	edited := "K=" + tr.old.Reveal() + "\nADDED=by someone else\n"
	if err := os.WriteFile(p, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := e.Rotate(context.Background(), plan, rotators.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := byPath(r)
	if got["a.env"].Action != rotators.ActionFailed || !strings.Contains(got["a.env"].Detail, "not what the plan read") {
		t.Errorf("changed file: %+v", got["a.env"])
	}
	if got["b.env"].Action != rotators.ActionReplaced {
		t.Errorf("unchanged file: %+v", got["b.env"])
	}
	if tr.read("a.env") != edited {
		t.Error("the edit was clobbered")
	}
}

func TestWriteErrorLeavesTheOriginal(t *testing.T) {
	tr := newTree(t)
	big := strings.Repeat("filler line\n", 8192) + "K={OLD}\n" // about 100 KB
	tr.write("big.env", big, 0o644)
	tr.write("small.env", "K={OLD}\n", 0o644)
	e, _ := tr.engine()
	plan, err := e.Plan(context.Background(), tr.keys())
	if err != nil {
		t.Fatal(err)
	}
	// A file size limit makes every write past 32 KB fail with EFBIG, as a
	// full disk would fail it with ENOSPC.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	small := lim
	small.Cur = 32 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	r, err := e.Rotate(context.Background(), plan, rotators.RotateOptions{})
	if lerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); lerr != nil {
		t.Fatal(lerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	got := byPath(r)
	if got["big.env"].Action != rotators.ActionFailed || !strings.Contains(got["big.env"].Detail, "unchanged") {
		t.Errorf("big file: %+v", got["big.env"])
	}
	if got["small.env"].Action != rotators.ActionReplaced {
		t.Errorf("small file: %+v", got["small.env"])
	}
	if tr.read("big.env") != tr.expand(big, tr.old) {
		t.Error("the original was damaged by the failed write")
	}
	assertNoTemps(t, tr.root)
}

func TestStaleTemporaryFilesAreRemovedAndNeverPlanned(t *testing.T) {
	tr := newTree(t)
	tr.write("a.env", "K={OLD}\n", 0o644)
	stale := tr.write(".a.env.rekey-abcd2345.tmp", "K={NEW}\n", 0o600)
	lookalike := tr.write(".a.env.rekey-notours.tmp.bak", "K={OLD}\n", 0o600)
	e, _ := tr.engine()
	plan, err := e.Plan(context.Background(), tr.keys())
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range plan.Targets {
		if isTemp(filepath.Base(tg.Location.Address().Path)) {
			t.Errorf("a temporary file was planned: %s", tg.Location.Address().URI)
		}
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatal("planning must not remove anything")
	}
	if _, err := e.Rotate(context.Background(), plan, rotators.RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("the stale temporary file was not removed")
	}
	if data, _ := os.ReadFile(lookalike); !bytes.Contains(data, []byte(tr.new.Reveal())) {
		t.Error("a file that only looks like a temporary file must be rotated like any other")
	}
}

func TestPathsWithSpacesAndNewlines(t *testing.T) {
	tr := newTree(t)
	names := []string{"with space.env", "new\nline.env", "tab\there.env"}
	for _, n := range names {
		tr.write(filepath.Join("odd dir", n), "K={OLD}\n", 0o644)
	}
	r := tr.rotate()
	if len(r.Locations) != len(names) {
		t.Fatalf("locations: %+v", r.Locations)
	}
	for _, n := range names {
		if tr.read(filepath.Join("odd dir", n)) != "K="+tr.new.Reveal()+"\n" {
			t.Errorf("%q not rotated", n)
		}
	}
	var text bytes.Buffer
	if err := rotators.WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(text.String(), "\n"); lines != len(names)+2 {
		t.Errorf("a newline in a name must not break the table (%d lines):\n%s", lines, text.String())
	}
}

func TestRollbackRestoresFilesByteForByte(t *testing.T) {
	tr := newTree(t)
	orig := map[string]string{"a.env": "\ufeffK={OLD}\r\n", "b.yaml": "x: {B64}", "c.env": "K={OLD}"}
	for rel, c := range orig {
		tr.write(rel, c, 0o600)
	}
	e, l := tr.engine()
	plan, _ := e.Plan(context.Background(), tr.keys())
	r, err := e.Rotate(context.Background(), plan, rotators.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr.write("c.env", "K={NEW}\n# edited since", 0o600)
	rb, err := e.Rollback(context.Background(), r.RunID, tr.keys(), []rotators.Resolver{l}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := byPath(rb)
	for _, n := range []string{"a.env", "b.yaml"} {
		if got[n].Action != rotators.ActionReverted || !got[n].Verified || tr.read(n) != tr.expand(orig[n], tr.old) {
			t.Errorf("%s: %+v, content %q", n, got[n], tr.read(n))
		}
	}
	if got["c.env"].Action != rotators.ActionFailed {
		t.Errorf("edited file: %+v", got["c.env"])
	}
}

func TestResolveRefusesPathsOutsideTheRoots(t *testing.T) {
	tr := newTree(t)
	_, l := tr.engine()
	_, ok, err := l.Resolve(scanner.Location{Kind: scanner.KindFile}, "/etc/passwd")
	if !ok || err == nil {
		t.Errorf("Resolve outside the roots: ok=%v err=%v", ok, err)
	}
	if _, ok, _ := l.Resolve(scanner.Location{Kind: "vault"}, "x"); ok {
		t.Error("Resolve claimed a kind that is not a file")
	}
}
