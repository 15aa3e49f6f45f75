package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// rotateFixture is a tree holding OLD in the usual places, a private
// state directory, and the two keys in the environment as OLD_KEY and
// NEW_KEY.
type rotateFixture struct {
	root, state string
	old, new    string
	files       map[string]string // relative path -> content with {K} for the key
}

func newRotateFixture(t *testing.T) *rotateFixture {
	t.Helper()
	g := testkeys.New(uint64(len(t.Name())) + 500)
	f := &rotateFixture{root: t.TempDir(), state: t.TempDir(), old: g.Mixed(), new: g.Hex()}
	f.files = map[string]string{
		"config/.env":        "# production\r\nPERPLEXITY_API_KEY=\"{K}\"\r\n",
		"src/client.py":      "API_KEY = '{K}'", // no final newline
		"deploy/secret.yml":  "data:\n  key: {B64}\n",
		"with space/a b.env": "\ufeffK={K}\n",
		"README.md":          "Set PERPLEXITY_API_KEY in your environment.\n",
	}
	for rel := range f.files {
		p := filepath.Join(f.root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content(rel, f.old)), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("XDG_STATE_HOME", f.state)
	t.Setenv("OLD_KEY", f.old)
	t.Setenv("NEW_KEY", f.new)
	t.Setenv(adminKeyEnv, "")
	return f
}

func (f *rotateFixture) content(rel, key string) string {
	c := f.files[rel]
	c = strings.ReplaceAll(c, "{B64}", base64.StdEncoding.EncodeToString([]byte("pw:"+key)))
	return strings.ReplaceAll(c, "{K}", key)
}

// assertTree checks every fixture file holds the given key's version.
func (f *rotateFixture) assertTree(t *testing.T, key string) {
	t.Helper()
	for rel := range f.files {
		data, err := os.ReadFile(filepath.Join(f.root, rel))
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != f.content(rel, key) {
			t.Errorf("%s = %q, want %q", rel, data, f.content(rel, key))
		}
	}
}

// treeChecksum hashes every path, mode and content under root.
func treeChecksum(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := p + " " + info.Mode().String()
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			line += " " + hex.EncodeToString(sum[:]) + " " + info.ModTime().String()
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	for _, l := range lines {
		h.Write([]byte(l + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func rotateJSON(t *testing.T, stdin string, args ...string) (cliResult, rotators.Report) {
	t.Helper()
	r := rekey(t, stdin, append([]string{"rotate", "--format", "json"}, args...)...)
	var rep rotators.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("output is not a JSON report (%v): %q; stderr %q", err, r.stdout, r.stderr)
	}
	return r, rep
}

func countActions(rep rotators.Report) map[rotators.Action]int {
	m := map[rotators.Action]int{}
	for _, l := range rep.Locations {
		m[l.Action]++
	}
	return m
}

func TestRotateDryRunChangesNothing(t *testing.T) {
	f := newRotateFixture(t)
	before := treeChecksum(t, f.root)
	r := rekey(t, f.old+"\n"+f.new+"\n", "rotate", "--old-stdin", "--new-stdin", "--offline", "--dry-run", f.root)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	if after := treeChecksum(t, f.root); after != before {
		t.Error("a dry run changed the tree")
	}
	if !strings.Contains(r.stdout, "dry run, nothing changed: 4 locations (4 to replace)") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.state, "rekey")); len(entries) != 0 {
		t.Errorf("a dry run wrote a journal: %v", entries)
	}
	assertNoLeak(t, []string{f.old, f.new}, r.stdout, r.stderr)
}

func TestRotateOfflineEndToEnd(t *testing.T) {
	f := newRotateFixture(t)
	r, rep := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", f.root)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s; stdout %s", r.code, r.stderr, r.stdout)
	}
	f.assertTree(t, f.new)
	if rep.Schema != "rekey.rotation/v1" || rep.RunID == "" || rep.OldKeyID == "" || rep.NewKeyID == "" {
		t.Errorf("report header: %+v", rep)
	}
	if got := countActions(rep); got[rotators.ActionReplaced] != 4 || len(rep.Locations) != 4 {
		t.Errorf("actions %v", got)
	}
	for _, l := range rep.Locations {
		if !l.Verified || l.Kind != "file" || !strings.HasPrefix(l.URI, "file:") {
			t.Errorf("location %+v", l)
		}
	}
	for rel := range f.files {
		if info, _ := os.Stat(filepath.Join(f.root, rel)); info.Mode().Perm() != 0o640 {
			t.Errorf("%s lost its mode: %v", rel, info.Mode().Perm())
		}
	}
	journal, err := os.ReadFile(rep.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Journal, filepath.Join(f.state, "rekey")+string(filepath.Separator)) {
		t.Errorf("journal %s is not in the state directory", rep.Journal)
	}
	assertRotationLeaksNothing(t, []string{f.old, f.new}, r.stdout, r.stderr, string(journal))

	// Running it again finds nothing left to do.
	r, rep = rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", f.root)
	if r.code != exitOK || countActions(rep)[rotators.ActionAlreadyNew] != 4 || !strings.Contains(rep.Message, "nothing to do") {
		t.Errorf("re-run: exit %d, %+v", r.code, rep)
	}
}

// assertRotationLeaksNothing greps for the keys in plain form, without
// their prefix, and base64-encoded at each alignment.
func assertRotationLeaksNothing(t *testing.T, keys []string, texts ...string) {
	t.Helper()
	assertNoLeak(t, keys, texts...)
	for _, k := range keys {
		for pad := range 3 {
			enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", pad) + k))
			core := enc[4 : len(enc)-4]
			for _, text := range texts {
				if strings.Contains(text, core) {
					t.Fatalf("a base64 form of a key leaked:\n%s", text)
				}
			}
		}
	}
}

func TestRotateBadInput(t *testing.T) {
	f := newRotateFixture(t)
	before := treeChecksum(t, f.root)
	g := testkeys.New(77)
	t.Setenv("SAME_KEY", f.old)
	t.Setenv("BAD_KEY", "Bearer "+g.Mixed())
	t.Setenv("SHORT_KEY", f.new[:20])
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"equal keys", "", []string{"--old-env", "OLD_KEY", "--new-env", "SAME_KEY"}, "OLD and NEW are the same key"},
		{"equal keys on stdin", f.old + "\n" + f.old + "\n", []string{"--old-stdin", "--new-stdin"}, "same key"},
		{"new malformed", "", []string{"--old-env", "OLD_KEY", "--new-env", "BAD_KEY"}, "the new key (NEW) is not a well-formed Perplexity key (bearer-prefix)"},
		{"new truncated", "", []string{"--old-env", "OLD_KEY", "--new-env", "SHORT_KEY"}, "wrong-length"},
		{"new missing on stdin", f.old + "\n", []string{"--old-stdin", "--new-stdin"}, "the new key (NEW): nothing on standard input"},
		{"no old key", "", []string{"--new-env", "NEW_KEY"}, "the old key is missing"},
		{"no new key", "", []string{"--old-env", "OLD_KEY"}, "the new key is missing"},
		{"mint and new", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--mint"}, "do not give one as well"},
		{"mint offline", "", []string{"--old-env", "OLD_KEY", "--mint", "--offline"}, "cannot be combined with --offline"},
		{"revoke offline", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--revoke-old", "--offline"}, "cannot be combined with --offline"},
		{"mint-to without mint", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--mint-to", "x"}, "--mint-to needs --mint"},
		{"rollback with paths", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--rollback", "20260102T030405Z-1a2b3c", "src"}, "give no paths"},
		{"bad run id", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--rollback", "../../etc/passwd"}, "is not a run id"},
		{"unknown run", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--rollback", "20260102T030405Z-1a2b3c"}, "no journal for run"},
		{"bad format", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--format", "sarif"}, "unknown format"},
		{"no terminal to confirm", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline"}, "not confirmed: standard input is not a terminal"},
		{"missing path", "", []string{"--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", "/nonexistent/path"}, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"rotate"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--rollback") && !strings.Contains(strings.Join(tc.args, " "), "/nonexistent") {
				args = append(args, f.root)
			}
			r := rekey(t, tc.stdin, args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "rekey: error: ") {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.want)
			}
			assertNoLeak(t, []string{f.old, f.new}, r.stdout, r.stderr)
		})
	}
	if after := treeChecksum(t, f.root); after != before {
		t.Error("refused input changed the tree")
	}
}

func TestRotateOldKeyNotFound(t *testing.T) {
	f := newRotateFixture(t)
	t.Setenv("OTHER_KEY", testkeys.New(5).Mixed())
	r := rekey(t, "", "rotate", "--old-env", "OTHER_KEY", "--new-env", "NEW_KEY", "--offline", f.root)
	if r.code != exitOK || !strings.Contains(r.stdout, "nothing to do: the old key was not found") {
		t.Fatalf("exit %d; stdout %s; stderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestRotateWithTheAPI(t *testing.T) {
	srv := fakeAPI(t)
	f := newRotateFixture(t)
	srv.AddKey(f.old, true)

	// NEW not live: refused before anything changes.
	before := treeChecksum(t, f.root)
	r := rekey(t, "", "rotate", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--yes", f.root)
	if r.code != exitUsage || !strings.Contains(r.stderr, "the new key is not live") {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	if treeChecksum(t, f.root) != before {
		t.Fatal("a refused rotation changed the tree")
	}

	srv.AddKey(f.new, true)
	r, rep := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--yes", "--revoke-old", f.root)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s; stdout %s", r.code, r.stderr, r.stdout)
	}
	f.assertTree(t, f.new)
	if srv.Live(f.old) || !srv.Live(f.new) {
		t.Error("after --revoke-old the old key must be dead and the new one live")
	}
	if rep.OldKey == nil || !rep.OldKey.Revoked || rep.OldKey.Status != rotators.StatusInvalid || rep.NewKey.Status != rotators.StatusLive {
		t.Errorf("keys in the report: old %+v new %+v", rep.OldKey, rep.NewKey)
	}
	if srv.Requests("/revoke_auth_token") != 1 {
		t.Errorf("revoke requests = %d", srv.Requests("/revoke_auth_token"))
	}
	journal, _ := os.ReadFile(rep.Journal)
	assertRotationLeaksNothing(t, []string{f.old, f.new}, r.stdout, r.stderr, string(journal))
}

func TestRotateRevokeOldRefusedWhileALocationFails(t *testing.T) {
	srv := fakeAPI(t)
	f := newRotateFixture(t)
	srv.AddKey(f.old, true)
	srv.AddKey(f.new, true)
	if err := os.Chmod(filepath.Join(f.root, "src/client.py"), 0o444); err != nil {
		t.Fatal(err)
	}
	r, rep := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--yes", "--revoke-old", f.root)
	if r.code != exitFound {
		t.Fatalf("exit %d, want %d; stderr %s", r.code, exitFound, r.stderr)
	}
	if got := countActions(rep); got[rotators.ActionFailed] != 1 || got[rotators.ActionReplaced] != 3 {
		t.Errorf("actions %v", got)
	}
	if !srv.Live(f.old) || srv.Requests("/revoke_auth_token") != 0 {
		t.Error("the old key was revoked while a location still holds it")
	}
}

func TestRotateMint(t *testing.T) {
	srv := fakeAPI(t)
	f := newRotateFixture(t)
	srv.AddKey(f.old, true)
	keyFile := filepath.Join(t.TempDir(), "minted")
	r, rep := rotateJSON(t, "", "--old-env", "OLD_KEY", "--mint", "--mint-to", keyFile, "--yes", f.root)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s; stdout %s", r.code, r.stderr, r.stdout)
	}
	minted := srv.Minted()
	if len(minted) != 1 {
		t.Fatalf("minted %d keys", len(minted))
	}
	data, err := os.ReadFile(keyFile)
	if err != nil || string(data) != minted[0]+"\n" {
		t.Fatalf("mint file %q, %v", data, err)
	}
	if info, _ := os.Stat(keyFile); info.Mode().Perm() != 0o600 {
		t.Errorf("mint file mode %v", info.Mode().Perm())
	}
	f.assertTree(t, minted[0])
	if !rep.NewKey.Minted || rep.NewKey.WrittenTo != keyFile {
		t.Errorf("new key report %+v", rep.NewKey)
	}
	assertRotationLeaksNothing(t, []string{f.old, minted[0]}, r.stdout, r.stderr)
}

func TestRotateMintRefusedWithoutALiveKey(t *testing.T) {
	srv := fakeAPI(t)
	f := newRotateFixture(t)
	srv.AddKey(f.old, false)
	r := rekey(t, "", "rotate", "--old-env", "OLD_KEY", "--mint", "--yes", f.root)
	if r.code != exitUsage || !strings.Contains(r.stderr, "cannot mint") || !strings.Contains(r.stderr, adminKeyEnv) {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	if len(srv.Minted()) != 0 {
		t.Error("a key was minted")
	}
	f.assertTree(t, f.old)
}

func TestRotateRollback(t *testing.T) {
	f := newRotateFixture(t)
	before := map[string][]byte{}
	for rel := range f.files {
		before[rel], _ = os.ReadFile(filepath.Join(f.root, rel))
	}
	_, rep := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", f.root)
	edited := filepath.Join(f.root, "src/client.py")
	if err := os.WriteFile(edited, append([]byte(f.content("src/client.py", f.new)), "\n# edited"...), 0o640); err != nil {
		t.Fatal(err)
	}
	// Keys given the wrong way round are refused.
	r := rekey(t, "", "rotate", "--old-env", "NEW_KEY", "--new-env", "OLD_KEY", "--offline", "--yes", "--rollback", rep.RunID)
	if r.code != exitUsage || !strings.Contains(r.stderr, "do not match") {
		t.Fatalf("swapped keys: exit %d; stderr %s", r.code, r.stderr)
	}
	r, rb := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", "--rollback", rep.RunID)
	if r.code != exitFound {
		t.Fatalf("exit %d, want %d (the edited file is refused); stderr %s", r.code, exitFound, r.stderr)
	}
	if rb.RollbackOf != rep.RunID || countActions(rb)[rotators.ActionReverted] != 3 {
		t.Errorf("rollback report %+v", rb)
	}
	for rel, want := range before {
		got, _ := os.ReadFile(filepath.Join(f.root, rel))
		if rel == "src/client.py" {
			if !bytes.Contains(got, []byte("# edited")) {
				t.Error("the file edited since was touched")
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s not restored byte for byte", rel)
		}
	}
}

// As root the permission check runs the binary as user nobody, since root
// may write anywhere: the tree is given to nobody except one directory,
// which nobody may not create files in, and one file, whose owner nobody
// could not keep.
func TestRotatePermissionDenied(t *testing.T) {
	f := newRotateFixture(t)
	locked := filepath.Join(f.root, "config")
	rootOwned := filepath.Join(f.root, "src/client.py")
	state := t.TempDir()
	cmd := exec.Command(scanBinary(t), "rotate", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", "--format", "json", f.root)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	asRoot := os.Geteuid() == 0
	if asRoot {
		const nobody = 65534
		for _, d := range []string{filepath.Dir(f.root), filepath.Dir(state)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(state, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if err := filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == locked || p == rootOwned {
				return err
			}
			return os.Chown(p, nobody, nobody)
		}); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(rootOwned, 0o666); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	} else if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chmod(locked, 0o755) }()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFound {
		t.Fatalf("err %v, want exit %d; stderr %s; stdout %s", err, exitFound, stderr.String(), stdout.String())
	}
	var rep rotators.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	for _, l := range rep.Locations {
		switch {
		case l.Path == filepath.Join(locked, ".env"):
			if l.Action != rotators.ActionFailed || !strings.Contains(l.Detail, "permission denied") {
				t.Errorf("file in a directory nobody may write: %+v", l)
			}
		case l.Path == rootOwned && asRoot:
			if l.Action != rotators.ActionFailed || !strings.Contains(l.Detail, "could not give the new file its owner") {
				t.Errorf("file whose owner cannot be kept: %+v", l)
			}
		case l.Action != rotators.ActionReplaced:
			t.Errorf("%+v", l)
		}
	}
	for _, p := range []string{filepath.Join(locked, ".env"), rootOwned} {
		rel, _ := filepath.Rel(f.root, p)
		if data, _ := os.ReadFile(p); string(data) != f.content(rel, f.old) && (asRoot || p != rootOwned) {
			t.Errorf("%s changed", rel)
		}
	}
	assertNoLeak(t, []string{f.old, f.new}, stdout.String(), stderr.String())
}

// A store named by --store is planned, rotated, verified and rolled back
// with the files, through the same engine.
func TestRotateFilesAndAStore(t *testing.T) {
	aws := awsFake(t)
	f := newRotateFixture(t)
	original := `{"PERPLEXITY_API_KEY":"` + f.old + `","db":{"password":"hunter2"}}`
	aws.PutSecretString("prod/app", original)
	aws.PutSecretString("prod/clean", "nothing here")
	r, rep := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes",
		"--store", "aws-sm://us-east-1/prod/", f.root)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s; stdout %s", r.code, r.stderr, r.stdout)
	}
	f.assertTree(t, f.new)
	value, _, _ := aws.SecretValue("prod/app", "AWSCURRENT")
	if want := strings.ReplaceAll(original, f.old, f.new); string(value) != want {
		t.Errorf("secret = %s, want %s", value, want)
	}
	var storeRow *rotators.LocationResult
	for i, l := range rep.Locations {
		if l.Kind == "aws-secretsmanager" {
			storeRow = &rep.Locations[i]
		}
	}
	if storeRow == nil || storeRow.Action != rotators.ActionReplaced || !storeRow.Verified {
		t.Fatalf("store row %+v", storeRow)
	}
	assertRotationLeaksNothing(t, []string{f.old, f.new}, r.stdout, r.stderr)

	r, rb := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", "--rollback", rep.RunID)
	if r.code != exitOK || countActions(rb)[rotators.ActionReverted] != 5 {
		t.Fatalf("rollback: exit %d; %+v; stderr %s", r.code, countActions(rb), r.stderr)
	}
	f.assertTree(t, f.old)
	if value, _, _ := aws.SecretValue("prod/app", "AWSCURRENT"); string(value) != original {
		t.Errorf("secret after rollback = %s", value)
	}
}

// Copies in git history are listed as not rewritten, with advice; the
// git-ignored .env file is rotated like any other.
func TestRotateListsGitHistory(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	f := newRotateFixture(t)
	gitRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...)
		cmd.Dir = f.root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitRun("init", "-q", ".")
	if err := os.WriteFile(filepath.Join(f.root, ".gitignore"), []byte("config/.env\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun("add", ".")
	gitRun("commit", "-qm", "keys committed by mistake")
	r, rep := rotateJSON(t, "", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", "--yes", f.root)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	f.assertTree(t, f.new)
	history := 0
	for _, l := range rep.Locations {
		if l.Kind == "git-history" {
			history++
			if l.Action != rotators.ActionNotRewritten || !strings.Contains(l.Detail, "revoke") {
				t.Errorf("history row %+v", l)
			}
			if strings.Contains(l.URI, "config/.env") {
				t.Errorf("the ignored file was never committed: %+v", l)
			}
		}
	}
	if history != 3 {
		t.Errorf("%d history rows, want 3 (the committed files holding the key)", history)
	}
	assertRotationLeaksNothing(t, []string{f.old, f.new}, r.stdout, r.stderr)
}
