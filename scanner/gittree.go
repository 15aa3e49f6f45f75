package scanner

import (
	"bytes"
	"cmp"
	"errors"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// errMalformedTree describes a tree object that could not be parsed.
var errMalformedTree = errors.New("malformed tree object")

// The kinds of tree entries a history walk tells apart, from the mode.
const (
	entryBlob    = iota // regular file, executable or symbolic link
	entryDir            // subtree
	entryGitlink        // submodule commit
)

// treeEntry is one entry of a tree object.
type treeEntry struct {
	name string
	kind uint8
	id   plumbing.Hash
}

// parseTree parses a tree object: entries "MODE SP NAME NUL ID" in git's
// order. It is used by both object readers, so they agree by construction,
// and it costs one string copy per tree, not one allocation per entry as
// go-git's decoder does; trees are most of a history walk's work.
func parseTree(data []byte) ([]treeEntry, error) {
	text := string(data)
	entries := make([]treeEntry, 0, bytes.Count(data, []byte{0}))
	const idLen = len(plumbing.ZeroHash)
	for i := 0; i < len(text); {
		sp := strings.IndexByte(text[i:], ' ')
		if sp <= 0 {
			return nil, errMalformedTree
		}
		mode := 0
		for _, c := range text[i : i+sp] {
			if c < '0' || c > '7' {
				return nil, errMalformedTree
			}
			mode = mode<<3 | int(c-'0')
		}
		i += sp + 1
		nul := strings.IndexByte(text[i:], 0)
		if nul <= 0 || i+nul+1+idLen > len(text) {
			return nil, errMalformedTree
		}
		e := treeEntry{name: text[i : i+nul]}
		switch mode >> 12 {
		case 0o04:
			e.kind = entryDir
		case 0o16:
			e.kind = entryGitlink
		}
		i += nul + 1
		copy(e.id[:], data[i:i+idLen])
		i += idLen
		entries = append(entries, e)
	}
	return entries, nil
}

// treeOrder compares entries in git's tree order, where a directory sorts
// as if its name ended with "/".
func treeOrder(a *treeEntry, b *treeEntry) int {
	n := min(len(a.name), len(b.name))
	if c := strings.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	next := func(e *treeEntry) byte {
		switch {
		case len(e.name) > n:
			return e.name[n]
		case e.kind == entryDir:
			return '/'
		}
		return 0
	}
	return cmp.Compare(next(a), next(b))
}
