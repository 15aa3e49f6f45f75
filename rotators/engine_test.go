package rotators

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

type fixture struct {
	old, new scanner.Secret
	store    *memStore
	api      *fakeAPI
	e        *Engine
}

func newFixture(t *testing.T, values map[string]string) *fixture {
	t.Helper()
	g := testkeys.New(uint64(len(t.Name())))
	f := &fixture{old: scanner.Secret(g.Mixed()), new: scanner.Secret(g.Hex())}
	expanded := map[string]string{}
	for k, v := range values {
		v = strings.ReplaceAll(v, "{OLD}", f.old.Reveal())
		v = strings.ReplaceAll(v, "{NEW}", f.new.Reveal())
		v = strings.ReplaceAll(v, "{OLD64}", base64.StdEncoding.EncodeToString([]byte("k="+f.old.Reveal())))
		expanded[k] = v
	}
	f.store = newMemStore(expanded)
	f.api = newFakeAPI(f.old, f.new)
	f.e = &Engine{Locators: []Locator{f.store}, API: f.api, StateDir: filepath.Join(t.TempDir(), "state"), Workers: 4}
	return f
}

func (f *fixture) keys() Keys { return Keys{Old: f.old, New: f.new} }

func (f *fixture) rotate(t *testing.T, o RotateOptions) *Report {
	t.Helper()
	p, err := f.e.Plan(context.Background(), f.keys())
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.e.Rotate(context.Background(), p, o)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return r
}

func actions(r *Report) map[string]Action {
	m := map[string]Action{}
	for _, l := range r.Locations {
		m[l.Path] = l.Action
	}
	return m
}

// noKeysIn fails if any raw key appears in any of the texts.
func noKeysIn(t *testing.T, keys []scanner.Secret, texts ...[]byte) {
	t.Helper()
	for _, k := range keys {
		for _, text := range texts {
			if bytes.Contains(text, []byte(k.Reveal())) {
				t.Fatalf("raw key %s leaked into %q", k.KeyID(), text)
			}
		}
	}
}

func TestRotateReplacesVerifiesAndJournals(t *testing.T) {
	f := newFixture(t, map[string]string{
		"a": "KEY={OLD}\r\n",
		"b": "x: {OLD64}\n{OLD}",
		"c": "KEY={NEW}\n",
		"d": "nothing",
	})
	r := f.rotate(t, RotateOptions{})
	want := map[string]Action{"a": ActionReplaced, "b": ActionReplaced, "c": ActionAlreadyNew}
	if got := actions(r); !equalMaps(got, want) {
		t.Fatalf("actions = %v, want %v", got, want)
	}
	for _, l := range r.Locations {
		if !l.Verified {
			t.Errorf("%s not verified: %s", l.URI, l.Detail)
		}
	}
	if got := f.store.get("a"); got != "KEY="+f.new.Reveal()+"\r\n" {
		t.Errorf("a = %q", got)
	}
	if r.Failed() || r.Incomplete() {
		t.Errorf("report failed=%v incomplete=%v", r.Failed(), r.Incomplete())
	}
	if r.NewKey.Status != StatusLive {
		t.Errorf("new key status = %q, want live", r.NewKey.Status)
	}
	journal, err := os.ReadFile(r.Journal)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"type":"plan"`, `"type":"done"`, `"type":"end"`, f.old.KeyID(), f.new.KeyID(), `"before":"sha256:`} {
		if !bytes.Contains(journal, []byte(want)) {
			t.Errorf("journal lacks %s:\n%s", want, journal)
		}
	}
	var out bytes.Buffer
	_ = WriteJSON(&out, r)
	_ = WriteText(&out, r)
	noKeysIn(t, []scanner.Secret{f.old, f.new}, journal, out.Bytes())
	assertPrivate(t, f.e.StateDir, r.Journal)
}

func assertPrivate(t *testing.T, dir, file string) {
	t.Helper()
	for p, want := range map[string]os.FileMode{dir: 0o700, file: 0o600} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", p, got, want)
		}
	}
}

func equalMaps(a, b map[string]Action) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestOneFailureDoesNotStopTheOthers(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}", "b": "{OLD}", "c": "{OLD}"})
	f.store.failWrite["b"] = errors.New("disk on fire")
	r := f.rotate(t, RotateOptions{RevokeOld: true})
	if got := actions(r); got["a"] != ActionReplaced || got["b"] != ActionFailed || got["c"] != ActionReplaced {
		t.Fatalf("actions = %v", got)
	}
	if !r.Failed() {
		t.Error("a failed location must fail the run")
	}
	if len(f.api.revokes) != 0 || r.OldKey.Revoked {
		t.Error("the old key was revoked although a location still holds it")
	}
	if !strings.Contains(r.OldKey.Detail, "not revoked") {
		t.Errorf("old key detail = %q", r.OldKey.Detail)
	}
}

func TestChangedBetweenPlanAndApplyFailsWithoutClobbering(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}", "b": "{OLD}"})
	p, err := f.e.Plan(context.Background(), f.keys())
	if err != nil {
		t.Fatal(err)
	}
	edited := "edited by someone: " + f.old.Reveal()
	f.store.set("a", edited)
	r, err := f.e.Rotate(context.Background(), p, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(r); got["a"] != ActionFailed || got["b"] != ActionReplaced {
		t.Fatalf("actions = %v", got)
	}
	if f.store.get("a") != edited {
		t.Error("a location changed since the plan was overwritten")
	}
	// Running again picks the edited location up.
	r = f.rotate(t, RotateOptions{})
	if got := actions(r); got["a"] != ActionReplaced || got["b"] != ActionAlreadyNew {
		t.Fatalf("second run actions = %v", got)
	}
}

func TestVerifyCatchesAWriteThatDidNotHappen(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}"})
	f.store.lie["a"] = true
	r := f.rotate(t, RotateOptions{})
	if got := actions(r); got["a"] != ActionFailed || r.Locations[0].Verified {
		t.Fatalf("actions = %v, verified = %v", got, r.Locations[0].Verified)
	}
	if !strings.Contains(r.Locations[0].Detail, "old key 1 times") {
		t.Errorf("detail = %q", r.Locations[0].Detail)
	}
}

func TestNothingToDo(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "no key here"})
	r := f.rotate(t, RotateOptions{})
	if r.Message != "nothing to do: the old key was not found" || r.Failed() || r.RunID != "" {
		t.Fatalf("report = %+v", r)
	}
}

func TestRevokeOldAfterEveryLocationVerified(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}", "b": "{NEW}"})
	r := f.rotate(t, RotateOptions{RevokeOld: true})
	if !r.OldKey.Revoked || r.OldKey.Status != StatusInvalid || r.Failed() {
		t.Fatalf("old key = %+v, failures %v", r.OldKey, r.Failures)
	}
	if got := strings.Join(f.api.calls, "\n"); !strings.HasSuffix(got, "revoke "+f.old.KeyID()+"\ncheck "+f.old.KeyID()) {
		t.Errorf("API calls end with revoke then check of the old key; got\n%s", got)
	}
}

func TestRevocationNotConfirmedFails(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}"})
	f.api.onRevoke = func(k scanner.Secret) { f.api.live[k] = true } // the API says done but the key lives on
	r := f.rotate(t, RotateOptions{RevokeOld: true})
	if !r.Failed() || r.OldKey.Revoked {
		t.Fatalf("an unconfirmed revocation must fail the run: %+v", r.OldKey)
	}
}

func TestNewKeyNotLiveIsRefused(t *testing.T) {
	f := newFixture(t, nil)
	delete(f.api.live, f.new)
	if err := f.e.CheckNew(context.Background(), f.new); !errors.Is(err, ErrNotLive) {
		t.Fatalf("CheckNew = %v, want ErrNotLive", err)
	}
	f.e.API = nil // offline: not checked
	if err := f.e.CheckNew(context.Background(), f.new); err != nil {
		t.Fatal(err)
	}
}

func TestMintStoresTheKeyInTheFirstLocationFirst(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}", "b": "{OLD}"})
	minted := scanner.Secret(testkeys.New(99).Mixed())
	f.api.mintKey = minted
	p, _ := f.e.Plan(context.Background(), Keys{Old: f.old})
	r, err := f.e.Rotate(context.Background(), p, RotateOptions{Mint: &Mint{}})
	if err != nil {
		t.Fatal(err)
	}
	if f.store.writes[0] != "a" || f.store.get("a") != minted.Reveal() || f.store.get("b") != minted.Reveal() {
		t.Fatalf("writes %v; a=%s b=%s", f.store.writes, f.store.get("a"), f.store.get("b"))
	}
	if !r.NewKey.Minted || r.NewKeyID != minted.KeyID() || r.NewKey.WrittenTo != "mem:a" {
		t.Errorf("new key report = %+v", r.NewKey)
	}
}

func TestMintRevokedWhenNoLocationHoldsIt(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}", "b": "{OLD}"})
	f.store.failWrite["a"] = errors.New("read-only")
	minted := scanner.Secret(testkeys.New(98).Mixed())
	f.api.mintKey = minted
	p, _ := f.e.Plan(context.Background(), Keys{Old: f.old})
	r, err := f.e.Rotate(context.Background(), p, RotateOptions{Mint: &Mint{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(r); got["a"] != ActionFailed || got["b"] != ActionSkipped {
		t.Fatalf("actions = %v: after the first location failed no other may be written", got)
	}
	if f.store.get("b") != f.old.Reveal() {
		t.Error("b was written")
	}
	if !r.NewKey.Revoked || f.api.live[minted] {
		t.Errorf("the minted key must be revoked when no location holds it: %+v", r.NewKey)
	}
}

func TestMintToFileWritesA0600FileBeforeAnyLocation(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}"})
	minted := scanner.Secret(testkeys.New(97).Mixed())
	f.api.mintKey = minted
	file := filepath.Join(t.TempDir(), "new-key")
	p, _ := f.e.Plan(context.Background(), Keys{Old: f.old})
	r, err := f.e.Rotate(context.Background(), p, RotateOptions{Mint: &Mint{To: file}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil || string(data) != minted.Reveal()+"\n" {
		t.Fatalf("mint file = %q, %v", data, err)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("mint file mode %v", info.Mode().Perm())
	}
	if r.NewKey.WrittenTo != file || r.Failed() {
		t.Errorf("report = %+v", r.NewKey)
	}
	// An existing file is never overwritten: minting stops, and the key is revoked.
	f2 := newFixture(t, map[string]string{"a": "{OLD}"})
	f2.api.mintKey = scanner.Secret(testkeys.New(96).Mixed())
	p, _ = f2.e.Plan(context.Background(), Keys{Old: f2.old})
	if _, err := f2.e.Rotate(context.Background(), p, RotateOptions{Mint: &Mint{To: file}}); err == nil {
		t.Fatal("minting into an existing file must fail")
	}
	if f2.api.live[f2.api.mintKey] || f2.store.get("a") != f2.old.Reveal() {
		t.Error("after a failed mint the key must be revoked and nothing written")
	}
}

func TestMintNeedsALiveAuthorisingKey(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}"})
	delete(f.api.live, f.old)
	p, _ := f.e.Plan(context.Background(), Keys{Old: f.old})
	if _, err := f.e.Rotate(context.Background(), p, RotateOptions{Mint: &Mint{}}); !errors.Is(err, ErrCannotMint) {
		t.Fatalf("err = %v, want ErrCannotMint", err)
	}
	admin := scanner.Secret(testkeys.New(95).Mixed())
	f.api.live[admin] = true
	f.api.mintKey = scanner.Secret(testkeys.New(94).Mixed())
	p, _ = f.e.Plan(context.Background(), Keys{Old: f.old})
	if _, err := f.e.Rotate(context.Background(), p, RotateOptions{Mint: &Mint{}, AdminKey: admin}); err != nil {
		t.Fatalf("minting with an admin key: %v", err)
	}
	if f.store.get("a") != f.api.mintKey.Reveal() {
		t.Error("the minted key was not written")
	}
}

func TestResumeContinuesTheInterruptedRun(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}", "b": "{OLD}"})
	if err := ensureStateDir(f.e.StateDir); err != nil {
		t.Fatal(err)
	}
	// A run that died after writing its plan and one location.
	before := memHash([]byte(f.old.Reveal()))
	j, err := createJournal(f.e.StateDir, "20260102T030405Z-abcdef", record{Mode: ModeRotate, OldKeyID: f.old.KeyID(), NewKeyID: f.new.KeyID()})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		j.append(record{Type: recPlan, Kind: "mem", URI: "mem:" + n, Path: n, Ref: "mem:" + n, Before: before, Old: 1})
	}
	_ = j.close()
	f.store.set("a", f.new.Reveal())

	r := f.rotate(t, RotateOptions{})
	if r.RunID != "20260102T030405Z-abcdef" {
		t.Fatalf("run id = %s: the re-run must resume the interrupted run", r.RunID)
	}
	if got := actions(r); got["a"] != ActionAlreadyNew || got["b"] != ActionReplaced {
		t.Fatalf("actions = %v", got)
	}
	// The whole run, both parts, rolls back as one.
	rb, err := f.e.Rollback(context.Background(), r.RunID, f.keys(), []Resolver{f.store}, false)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Counts[ActionReverted] != 2 || f.store.get("a") != f.old.Reveal() || f.store.get("b") != f.old.Reveal() {
		t.Fatalf("rollback = %+v; a=%q b=%q", rb.Counts, f.store.get("a"), f.store.get("b"))
	}
}

func TestRollbackRestoresExactBytesAndRefusesChangedLocations(t *testing.T) {
	f := newFixture(t, map[string]string{
		"a": "A={OLD}\r\n",
		"b": "B={OLD}",
		"c": "C={OLD}",
	})
	orig := map[string]string{"a": f.store.get("a"), "b": f.store.get("b"), "c": f.store.get("c")}
	r := f.rotate(t, RotateOptions{})
	f.store.set("b", f.store.get("b")+"\n# edited after the rotation")
	f.store.set("c", "C=something else entirely")

	ctx := context.Background()
	if _, err := f.e.Rollback(ctx, r.RunID, Keys{Old: f.new, New: f.old}, []Resolver{f.store}, false); !errors.Is(err, ErrMismatch) {
		t.Fatalf("swapped keys: err = %v, want ErrMismatch", err)
	}
	rb, err := f.e.Rollback(ctx, r.RunID, f.keys(), []Resolver{f.store}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rb); got["a"] != ActionReverted || got["b"] != ActionFailed || got["c"] != ActionFailed {
		t.Fatalf("actions = %v", got)
	}
	if f.store.get("a") != orig["a"] {
		t.Error("a is not byte for byte what it was")
	}
	if !strings.Contains(f.store.get("b"), f.new.Reveal()) {
		t.Error("b, changed since, was touched")
	}
	if !rb.Failed() {
		t.Error("refused locations must fail the rollback")
	}
}

func TestBusyWhenAnotherRotationHoldsTheLock(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}"})
	if err := ensureStateDir(f.e.StateDir); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockState(f.e.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	p, _ := f.e.Plan(context.Background(), f.keys())
	if _, err := f.e.Rotate(context.Background(), p, RotateOptions{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if f.store.get("a") != f.old.Reveal() {
		t.Error("written despite the lock")
	}
}

func TestStateDirFollowsXDG(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/somewhere/state")
	if d, _ := StateDir(); d != "/somewhere/state/rekey" {
		t.Errorf("StateDir = %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/u")
	if d, _ := StateDir(); d != "/home/u/.local/state/rekey" {
		t.Errorf("StateDir = %s", d)
	}
}

func TestHistoryCopiesAreListedWithAdvice(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "{OLD}"})
	f.e.Listers = []Lister{listerFunc(func(context.Context, scanner.Secret) ([]scanner.Location, error) {
		return []scanner.Location{{Kind: scanner.KindGitHistory, URI: "git:abc:config/.env:3", Path: "config/.env"}}, nil
	})}
	r := f.rotate(t, RotateOptions{})
	last := r.Locations[len(r.Locations)-1]
	if last.Action != ActionNotRewritten || !strings.Contains(last.Detail, "revoke") {
		t.Fatalf("history row = %+v", last)
	}
	r = f.rotate(t, RotateOptions{RevokeOld: true})
	last = r.Locations[len(r.Locations)-1]
	if !strings.Contains(last.Detail, "dead") {
		t.Errorf("after revocation the advice should say the copy is dead: %+v", last)
	}
}

type listerFunc func(context.Context, scanner.Secret) ([]scanner.Location, error)

func (l listerFunc) List(ctx context.Context, old scanner.Secret) ([]scanner.Location, error) {
	return l(ctx, old)
}
