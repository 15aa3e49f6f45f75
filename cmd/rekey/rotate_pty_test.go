//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { _ = m.Close(); _ = s.Close() })
	return m, s
}

// On a terminal, rekey asks before writing: "n" changes nothing, "y"
// rotates.
func TestRotateAsksOnATerminal(t *testing.T) {
	f := newRotateFixture(t)
	bin := scanBinary(t)
	for _, answer := range []string{"n", "y"} {
		master, slave := openPTY(t)
		cmd := exec.Command(bin, "rotate", "--old-env", "OLD_KEY", "--new-env", "NEW_KEY", "--offline", f.root)
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+f.state)
		var stdout bytes.Buffer
		var stderr lockedBuffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Answer once the question is on screen.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stderr.String(), "[y/N]") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := master.WriteString(answer + "\n"); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		switch answer {
		case "n":
			if code != exitUsage || !strings.Contains(stderr.String(), "not confirmed") {
				t.Fatalf("answer n: exit %d; stderr %s", code, stderr.String())
			}
			f.assertTree(t, f.old)
		case "y":
			if code != exitOK {
				t.Fatalf("answer y: exit %d; stderr %s", code, stderr.String())
			}
			f.assertTree(t, f.new)
		}
		assertNoLeak(t, []string{f.old, f.new}, stdout.String(), stderr.String())
	}
}

// lockedBuffer is a buffer a command writes to while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
