//go:build unix

package scanner

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func TestWorkTreeSpecialFiles(t *testing.T) {
	key := testkeys.New(12).Mixed()
	root := t.TempDir()
	target := write(t, root, "real.txt", []byte(key))
	for name, to := range map[string]string{"link.txt": target, "dangling": filepath.Join(root, "missing"), "loop": filepath.Join(root, "loop")} {
		if err := os.Symlink(to, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	badName := string([]byte{'b', 0xff, 'd', '.', 'e', 'n', 'v'})
	write(t, root, badName, []byte("K="+key+"\n"))

	r := scanTree(t, root)
	if len(r.Findings) != 2 {
		t.Fatalf("want the key in real.txt and in the invalid-UTF-8 name, got %v", found(r))
	}
	skipped := map[string]string{}
	for _, p := range r.Stats.Skipped {
		skipped[filepath.Base(p.Path)] = p.Message
	}
	for _, name := range []string{"link.txt", "dangling", "loop", "fifo"} {
		if skipped[name] == "" {
			t.Errorf("%s not reported as skipped: %v", name, r.Stats.Skipped)
		}
	}
	if len(r.Stats.Errors) != 0 {
		t.Errorf("unexpected errors: %v", r.Stats.Errors)
	}
}
