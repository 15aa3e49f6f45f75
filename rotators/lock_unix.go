//go:build unix

package rotators

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockState takes the user's rotation lock, so two rotations never write
// the same tree at once (each would see the other's temporary files as
// leftovers). The kernel drops the lock when the process dies, kill -9
// included, so a crash never leaves it stuck.
func lockState(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "rotate.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("take the rotation lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("take the rotation lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
