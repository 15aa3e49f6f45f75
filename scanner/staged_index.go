package scanner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
)

// The index reader below exists because the pre-commit scan must cost the
// same in a 1,000-file and a 50,000-file repository. That needs the index's
// cache-tree extension ("TREE"), which records for every directory whether
// the staged content still equals a known tree; go-git's decoder drops the
// invalidated entries and with them the shape of that tree, and it copies
// every entry's stat data we do not need. This reader keeps only path, mode,
// object id and flags, and the cache-tree in full.

// errIndexFormat describes an index file that could not be parsed.
var errIndexFormat = errors.New("malformed index file")

const (
	indexEntryFixed  = 62     // stat data, id and flags of a v2/v3 entry
	indexExtended    = 0x4000 // flags: an extended-flags field follows
	indexNameMask    = 0x0fff
	indexIntentToAdd = 1 << 13 // extended flags: `git add -N`
	modeTypeMask     = 0o170000
	modeGitlink      = 0o160000
)

// indexEntry is one path of the index.
type indexEntry struct {
	path        string
	mode        uint32
	id          plumbing.Hash
	stage       int
	intentToAdd bool
}

// cacheTree is one directory of the cache-tree extension. count < 0 means
// the directory changed since its tree was last computed, so id is unknown.
type cacheTree struct {
	name     string // path component
	count    int    // index entries covered
	id       plumbing.Hash
	children []*cacheTree
}

func (c *cacheTree) child(name string) *cacheTree {
	if c == nil {
		return nil
	}
	for _, ch := range c.children {
		if ch.name == name {
			return ch
		}
	}
	return nil
}

// gitIndex is a parsed index file. Entries are decoded on demand: the
// parse only records where each one is, so a 50,000-entry index costs one
// pass over its bytes and a few small allocations, not 50,000 strings.
type gitIndex struct {
	data    []byte
	entries []rawEntry
	names   []string   // index v4 only: paths, prefix-decompressed up front
	tree    *cacheTree // nil when the index has no cache-tree
}

// rawEntry locates one entry in the index file.
type rawEntry struct {
	start, name int32 // offsets of the entry and of its path
	nameLen     int32
	extended    bool
}

// len returns the number of entries.
func (x *gitIndex) len() int { return len(x.entries) }

// path returns entry i's path.
func (x *gitIndex) path(i int) string {
	if x.names != nil {
		return x.names[i]
	}
	r := x.entries[i]
	return string(x.data[r.name : r.name+r.nameLen])
}

// entry decodes entry i.
func (x *gitIndex) entry(i int) indexEntry {
	r := x.entries[i]
	b := x.data[r.start:]
	e := indexEntry{path: x.path(i), mode: binary.BigEndian.Uint32(b[24:])}
	copy(e.id[:], b[40:60])
	e.stage = int(binary.BigEndian.Uint16(b[60:])>>12) & 3
	if r.extended {
		e.intentToAdd = binary.BigEndian.Uint16(b[62:])&indexIntentToAdd != 0
	}
	return e
}

// parseIndex parses an index file (versions 2 to 4, SHA-1). Its trailing
// checksum is not verified: hashing the whole file would make the cost grow
// with the repository, and git itself verifies it on the commit that runs
// the hook. Mandatory extensions rekey does not know are an error, as git
// specifies, rather than a silently incomplete list.
func parseIndex(data []byte) (*gitIndex, error) {
	const hashLen = len(plumbing.ZeroHash)
	if len(data) < 12+hashLen || string(data[:4]) != "DIRC" {
		return nil, fmt.Errorf("%w: bad signature", errIndexFormat)
	}
	if len(data) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: larger than 2 GiB", errIndexFormat)
	}
	version := binary.BigEndian.Uint32(data[4:])
	if version < 2 || version > 4 {
		return nil, fmt.Errorf("%w: unsupported version %d", errIndexFormat, version)
	}
	count := int(binary.BigEndian.Uint32(data[8:]))
	end := len(data) - hashLen
	if count > end/indexEntryFixed {
		return nil, fmt.Errorf("%w: %d entries cannot fit", errIndexFormat, count)
	}
	idx := &gitIndex{data: data, entries: make([]rawEntry, 0, count)}
	if version == 4 {
		idx.names = make([]string, 0, count)
	}
	off := 12
	prev := ""
	for range count {
		if off+indexEntryFixed > end {
			return nil, fmt.Errorf("%w: truncated entry", errIndexFormat)
		}
		start := off
		flags := binary.BigEndian.Uint16(data[off+60:])
		off += indexEntryFixed
		extended := flags&indexExtended != 0
		if extended {
			if version < 3 || off+2 > end {
				return nil, fmt.Errorf("%w: bad extended flags", errIndexFormat)
			}
			off += 2
		}
		r := rawEntry{start: int32(start), name: int32(off), extended: extended} //nolint:gosec // bounded by the 2 GiB check
		if version == 4 {
			strip, n := indexVarint(data[off:end])
			if n <= 0 || strip > len(prev) {
				return nil, fmt.Errorf("%w: bad path compression", errIndexFormat)
			}
			off += n
			nul := bytes.IndexByte(data[off:end], 0)
			if nul < 0 {
				return nil, fmt.Errorf("%w: unterminated path", errIndexFormat)
			}
			prev = prev[:len(prev)-strip] + string(data[off:off+nul])
			idx.names = append(idx.names, prev)
			off += nul + 1
		} else {
			n := int(flags & indexNameMask)
			if n == indexNameMask {
				n = bytes.IndexByte(data[off:end], 0)
			}
			if n < 0 || off+n > end {
				return nil, fmt.Errorf("%w: bad path length", errIndexFormat)
			}
			r.nameLen = int32(n) //nolint:gosec // bounded by the 2 GiB check
			// Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
			off = start + (off-start+n+8)&^7
		}
		idx.entries = append(idx.entries, r)
	}
	for off+8 <= end {
		sig, size := string(data[off:off+4]), int(binary.BigEndian.Uint32(data[off+4:]))
		off += 8
		if size > end-off {
			return nil, fmt.Errorf("%w: truncated %q extension", errIndexFormat, sig)
		}
		switch {
		case sig == "TREE":
			t, _, err := parseCacheTree(data[off : off+size])
			if err != nil {
				return nil, err
			}
			idx.tree = t
		case sig == "link":
			return nil, errors.New("split index (core.splitIndex) is not supported: run 'git update-index --no-split-index'")
		case sig == "sdir":
			return nil, errors.New("sparse index is not supported: run 'git sparse-checkout init --no-sparse-index'")
		case sig[0] < 'A' || sig[0] > 'Z':
			return nil, fmt.Errorf("%w: unknown mandatory extension %q", errIndexFormat, sig)
		}
		off += size
	}
	return idx, nil
}

// parseCacheTree parses the cache-tree extension: directories in pre-order,
// each "name NUL count SP subtrees LF [id]".
func parseCacheTree(data []byte) (*cacheTree, []byte, error) {
	bad := fmt.Errorf("%w: bad cache-tree extension", errIndexFormat)
	nul := bytes.IndexByte(data, 0)
	if nul < 0 {
		return nil, nil, bad
	}
	t := &cacheTree{name: string(data[:nul])}
	data = data[nul+1:]
	sp, lf := bytes.IndexByte(data, ' '), bytes.IndexByte(data, '\n')
	if sp < 0 || lf < sp {
		return nil, nil, bad
	}
	count, err1 := strconv.Atoi(string(data[:sp]))
	subtrees, err2 := strconv.Atoi(string(data[sp+1 : lf]))
	if err1 != nil || err2 != nil || subtrees < 0 {
		return nil, nil, bad
	}
	t.count, data = count, data[lf+1:]
	if count >= 0 {
		if len(data) < len(t.id) {
			return nil, nil, bad
		}
		copy(t.id[:], data)
		data = data[len(t.id):]
	}
	for range subtrees {
		var ch *cacheTree
		var err error
		if ch, data, err = parseCacheTree(data); err != nil {
			return nil, nil, err
		}
		t.children = append(t.children, ch)
	}
	return t, data, nil
}

// indexVarint decodes git's offset varint (index v4 path compression). It
// returns the value and the bytes used, or n <= 0 when malformed.
func indexVarint(b []byte) (v, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	v, n = int(c&127), 1
	for c&128 != 0 {
		if n >= len(b) || n > 8 {
			return 0, 0
		}
		c = b[n]
		n++
		v = (v+1)<<7 | int(c&127)
	}
	return v, n
}
