//go:build !unix

package scanner

import "os"

// openFile is os.Open where the Unix shortcut does not apply.
func openFile(p string) (*os.File, error) { return os.Open(p) }
