//go:build !linux

package filerot

import (
	"errors"
	"fmt"
	"os"
)

// durability syncs each file and directory on its own where there is no
// syncfs.
type durability struct{}

func (*durability) sync(f *os.File, _ uint64) error { return f.Sync() }

func (*durability) flush(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncDir makes a directory's entries durable; platforms that cannot sync
// a directory are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
