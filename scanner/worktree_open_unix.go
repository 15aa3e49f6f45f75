//go:build unix

package scanner

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// openFile opens a file for reading without the netpoller: os.Open makes a
// regular file non-blocking, tries to register it with epoll (which refuses
// regular files) and makes it blocking again, four syscalls per file that
// cost more than reading a typical source file. os.NewFile on a blocking
// descriptor skips all that and still gives an *os.File.
func openFile(p string) (*os.File, error) {
	for {
		fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		}
		return os.NewFile(uintptr(fd), p), nil
	}
}
