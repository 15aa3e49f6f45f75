//go:build unix

package scanner

import (
	"fmt"
	"os"
	"syscall"
)

// readIndexFile maps the index file into memory, as git does: reading a
// 50,000-entry index (about 4 MB) into a fresh buffer costs more than the
// whole rest of a staged scan. git replaces the index by renaming a new
// file over it, never by rewriting it in place, so the mapping stays valid.
// release unmaps it.
func readIndexFile(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := info.Size()
	if size == 0 || size != int64(int(size)) {
		data, err := os.ReadFile(path)
		return data, func() {}, err
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE) //nolint:gosec // a descriptor fits in an int
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", path, err)
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}
