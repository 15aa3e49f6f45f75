//go:build !unix

package scanner

import "os"

// readIndexFile reads the index file.
func readIndexFile(path string) ([]byte, func(), error) {
	data, err := os.ReadFile(path)
	return data, func() {}, err
}
