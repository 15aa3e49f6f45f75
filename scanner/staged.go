package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Staged is the Source for exactly what the next commit would add: the
// index content of every added or modified path (not the working file,
// which may differ), with line numbers in that content.
//
// Its cost does not grow with the repository: the index's cache-tree tells
// which directories still equal HEAD's trees, so only the trees on the
// staged paths and the staged blobs themselves are read.
type Staged struct {
	repo      *gitRepo
	indexFile string
	noGitCLI  bool
	reporter  Reporter
	stats     StagedStats
	cat       *catFile // nil: objects are read with go-git
}

// StagedOptions locate the index the way git's environment does in a hook.
type StagedOptions struct {
	// GitDir is $GIT_DIR: the repository directory, when git set it.
	GitDir string
	// IndexFile is $GIT_INDEX_FILE: `git commit -a` and `git commit PATH`
	// run the hook on a temporary index, not .git/index.
	IndexFile string
	// NoGitCLI reads objects with go-git only. Otherwise `git cat-file`,
	// when installed, finds packed objects without loading go-git's whole
	// pack index, so the cost stays the same in big repositories.
	NoGitCLI bool
}

// StagedStats says what a staged scan found to scan.
type StagedStats struct {
	Files   int // added or modified paths scanned
	Deleted int // staged deletions (nothing to scan)
	Skipped int // submodules, intent-to-add and unmerged paths
}

// NewStaged opens the repository holding dir; ErrNotRepository when there
// is none.
func NewStaged(dir string, opts StagedOptions, r Reporter) (*Staged, error) {
	repo, err := openRepo(dir, opts.GitDir)
	if err != nil {
		return nil, err
	}
	s := &Staged{repo: repo, reporter: r, indexFile: opts.IndexFile, noGitCLI: opts.NoGitCLI}
	if s.indexFile == "" {
		s.indexFile = filepath.Join(repo.gitDir, "index")
	}
	return s, nil
}

// Close releases the repository's files.
func (s *Staged) Close() error { return s.repo.close() }

// Stats returns what the last Scan found staged.
func (s *Staged) Stats() StagedStats { return s.stats }

// Scan scans the staged content of every added or modified path.
func (s *Staged) Scan(ctx context.Context, emit func(Chunk) error) error {
	idx := &gitIndex{}
	data, release, err := readIndexFile(s.indexFile)
	switch {
	case errors.Is(err, fs.ErrNotExist): // a fresh repository: nothing staged yet
	case err != nil:
		return fmt.Errorf("read index: %w", err)
	default:
		defer release()
		if idx, err = parseIndex(data); err != nil {
			return fmt.Errorf("index %s: %w", s.indexFile, err)
		}
	}
	if !s.noGitCLI && !s.repo.isPartialClone() {
		if gitPath, err := exec.LookPath("git"); err == nil {
			if s.cat, err = startCatFile(ctx, gitPath, s.repo.commonDir); err == nil {
				defer func() { _ = s.cat.close(); s.cat = nil }()
			}
		}
	}
	head, err := s.headTree()
	if err != nil {
		return err
	}
	d := &stagedDiff{s: s, idx: idx}
	changed, err := d.dir("", 0, idx.len(), head, idx.tree)
	if err != nil {
		return err
	}
	buf := make([]byte, MaxContext+ChunkSize)
	for _, e := range changed {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.scanBlob(e, buf, emit); err != nil {
			return err
		}
	}
	return nil
}

// headTree returns HEAD's root tree, or the zero id before the first commit.
func (s *Staged) headTree() (plumbing.Hash, error) {
	ref, id, err := readHead(s.repo.gitDir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if ref != "" {
		r, err := storer.ResolveReference(s.repo.storage, plumbing.ReferenceName(ref))
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return plumbing.ZeroHash, nil // unborn branch: everything in the index is new
		}
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("resolve HEAD (%s): %w", ref, err)
		}
		id = r.Hash().String()
	}
	obj, err := s.object(plumbing.NewHash(id))
	c := &object.Commit{}
	if err == nil {
		err = c.Decode(obj)
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read HEAD commit %s: %w", id, err)
	}
	return c.TreeHash, nil
}

// object reads a commit or tree.
func (s *Staged) object(id plumbing.Hash) (plumbing.EncodedObject, error) {
	if s.cat != nil {
		return s.cat.object(id)
	}
	return s.repo.storage.EncodedObject(plumbing.AnyObject, id)
}

// tree reads and decodes a tree.
func (s *Staged) tree(id plumbing.Hash) (*object.Tree, error) {
	obj, err := s.object(id)
	if err != nil {
		return nil, err
	}
	t := &object.Tree{}
	if err := t.Decode(obj); err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Staged) scanBlob(e indexEntry, buf []byte, emit func(Chunk) error) error {
	loc := Location{Kind: KindStaged, URI: "staged:" + e.path, Path: e.path}
	stream := func(r io.Reader) error { return StreamChunks(r, buf, Chunk{Location: loc}, emit) }
	var err error
	if s.cat != nil {
		err = s.cat.read(e.id, func(_ string, r io.Reader, _ int64) error { return stream(r) })
		if isMissing(err) {
			err = &ReadError{Err: err}
		}
	} else {
		err = s.goGitBlob(e.id, stream)
	}
	var readErr *ReadError
	if errors.As(err, &readErr) {
		s.reporter.Error(e.path, readErr.Err)
		return nil
	}
	return err
}

func (s *Staged) goGitBlob(id plumbing.Hash, fn func(io.Reader) error) error {
	obj, err := s.repo.storage.EncodedObject(plumbing.BlobObject, id)
	if err != nil {
		return &ReadError{Err: fmt.Errorf("staged blob %s: %w", id, err)}
	}
	r, err := obj.Reader()
	if err != nil {
		return &ReadError{Err: fmt.Errorf("staged blob %s: %w", id, err)}
	}
	defer func() { _ = r.Close() }()
	return fn(r)
}

// stagedDiff compares the index with HEAD's tree, directory by directory.
type stagedDiff struct {
	s   *Staged
	idx *gitIndex
}

// dir returns the entries in entries[lo:hi], all under prefix, that differ
// from HEAD's tree head. A directory whose cache-tree id equals HEAD's tree
// is skipped without looking at its entries.
func (d *stagedDiff) dir(prefix string, lo, hi int, head plumbing.Hash, ct *cacheTree) ([]indexEntry, error) {
	if ct != nil && ct.count >= 0 && !head.IsZero() && ct.id == head {
		return nil, nil
	}
	var tree *object.Tree
	if !head.IsZero() {
		var err error
		if tree, err = d.s.tree(head); err != nil {
			return nil, fmt.Errorf("read HEAD tree %s/: %w", strings.TrimSuffix(prefix, "/"), err)
		}
	}
	var out []indexEntry
	seen := map[string]bool{}
	for i := lo; i < hi; {
		path := d.idx.path(i)
		rest := path[len(prefix):]
		if name, _, isDir := strings.Cut(rest, "/"); isDir {
			sub := path[:len(prefix)+len(name)+1]
			subCT := ct.child(name)
			j := i + 1
			// A cache-tree entry counts the index entries under it: jump.
			if subCT != nil && subCT.count > 0 && i+subCT.count <= hi && strings.HasPrefix(d.idx.path(i+subCT.count-1), sub) {
				j = i + subCT.count
			}
			for j < hi && strings.HasPrefix(d.idx.path(j), sub) {
				j++
			}
			var subHead plumbing.Hash
			if tree != nil {
				if te, err := tree.FindEntry(name); err == nil && te.Mode == filemode.Dir {
					subHead = te.Hash
				}
			}
			seen[name] = true
			more, err := d.dir(sub, i, j, subHead, subCT)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			i = j
			continue
		}
		e := d.idx.entry(i)
		i++
		seen[rest] = true
		switch {
		case e.stage != 0:
			if e.stage == 2 { // report an unmerged path once
				d.s.stats.Skipped++
				d.s.reporter.Skip(e.path, "unmerged: resolve the conflict and stage the file")
			}
			continue
		case e.intentToAdd:
			d.s.stats.Skipped++
			continue // `git add -N`: nothing staged yet
		case e.mode&modeTypeMask == modeGitlink:
			if !d.sameInHead(tree, rest, e.id) {
				d.s.stats.Skipped++
				d.s.reporter.Skip(e.path, "submodule: not descended; scan its own repository")
			}
			continue
		}
		if !d.sameInHead(tree, rest, e.id) {
			out = append(out, e)
			d.s.stats.Files++
		}
	}
	if tree != nil {
		d.countDeleted(tree, seen)
	}
	return out, nil
}

// sameInHead reports whether HEAD's tree holds the same content at name.
func (d *stagedDiff) sameInHead(tree *object.Tree, name string, id plumbing.Hash) bool {
	if tree == nil {
		return false
	}
	te, err := tree.FindEntry(name)
	return err == nil && te.Hash == id && te.Mode != filemode.Dir
}

// countDeleted counts HEAD entries of a compared directory that are gone
// from the index, so that a deletion-only commit is not called empty.
func (d *stagedDiff) countDeleted(tree *object.Tree, seen map[string]bool) {
	for _, te := range tree.Entries {
		if !seen[te.Name] {
			d.s.stats.Deleted++
		}
	}
}
