// Package filerot holds the file locations of a rotation: every file under
// the given paths that holds the old or the new key (git-ignored .env
// files included), each rewritten atomically.
//
// How a file is rewritten:
//
//   - A temporary file is created in the same directory (".NAME.rekey-XXXXXXXX.tmp",
//     mode 0600), written, synced, given the original's owner and mode, and
//     renamed over the original; the directory is synced once after the
//     last write in it. A kill -9 at any moment leaves the original or the
//     whole new file, never a mix. Temporary files an interrupted run left
//     behind are recognised by their name and removed by the next run.
//   - Every byte but the key's is kept: line endings, BOM, a missing final
//     newline, quoting and order (see package rewrite).
//   - Compare-and-set: the content must still hash to what the plan read,
//     and just before the rename the file must still be the same inode with
//     the same size and times; otherwise the location fails and nothing is
//     clobbered.
//   - A file with several hard links is rewritten in place (each copy of
//     the key by one positioned write, then a sync), because a rename would
//     leave the other links holding the old key. Copies of the key are at
//     most 72 bytes, so a write is all-or-nothing against a kill unless a
//     copy straddles a page boundary; the journal's hashes make a rollback
//     refuse anything torn. The same in-place path serves a file that
//     cannot be renamed over (a bind-mounted file).
//   - Symbolic links are not followed by the walk. A link whose target lies
//     inside a scanned root needs nothing: the target is rewritten under its
//     own path. A link to a file outside every root is reported as skipped.
//     A path named on the command line that is itself a link is resolved,
//     and the target written, never the link replaced.
//   - Read-only files (no write bit), files this user may not write and
//     files locked by another process (flock) fail with a clear reason.
package filerot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/rotators/rewrite"
	"github.com/rekeyhq/rekey/scanner"
)

// MaxSize is the largest file rewritten: files are rewritten in memory.
const MaxSize = 64 << 20

// Locator finds and rewrites files under a set of paths. Build it with New.
type Locator struct {
	paths []string // as given, for the walk and the display
	roots []string // absolute, symbolic links resolved: writes stay inside

	// Log receives notes that change no outcome (a leftover temporary
	// file that could not be removed); nil means none.
	Log *slog.Logger

	keys sync.Map // scanner.Secret -> *rewrite.Key
	dirs sync.Map // absolute directory -> *realDir

	durable durability // makes written data durable, once per batch

	mu    sync.Mutex
	stale []string        // temporary files of interrupted runs
	dirty map[string]bool // directories whose entries changed
}

var (
	_ rotators.Locator  = (*Locator)(nil)
	_ rotators.Resolver = (*Locator)(nil)
	_ rotators.Preparer = (*Locator)(nil)
	_ rotators.Flusher  = (*Locator)(nil)
	_ scanner.Reporter  = (*collector)(nil)
)

// Reasons a file location fails, wrapped with context.
var (
	errLocked      = rotators.ErrLocked
	errOutsideRoot = errors.New("outside the scanned paths")
	errTooLarge    = fmt.Errorf("larger than %d MiB: rekey rewrites files in memory; replace the key by hand", MaxSize>>20)
)

// New prepares a Locator for paths (files or directories, default ".").
func New(paths []string) (*Locator, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	l := &Locator{paths: paths, dirty: map[string]bool{}}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("rotate path %s: %w", p, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("rotate path: %w", err)
		}
		l.roots = append(l.roots, real)
	}
	return l, nil
}

// Roots returns the absolute, link-free forms of the paths, as recorded in
// a journal and given back to New for a rollback.
func (l *Locator) Roots() []string { return slices.Clone(l.roots) }

func (l *Locator) key(s scanner.Secret) *rewrite.Key {
	if k, ok := l.keys.Load(s); ok {
		return k.(*rewrite.Key)
	}
	k, _ := l.keys.LoadOrStore(s, rewrite.NewKey(s.Reveal()))
	return k.(*rewrite.Key)
}

// inside reports whether real (absolute, links resolved) lies in a root.
func (l *Locator) inside(real string) bool {
	for _, r := range l.roots {
		if real == r || strings.HasPrefix(real, strings.TrimSuffix(r, string(filepath.Separator))+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// realDir is a directory resolved once per plan: its path with symbolic
// links resolved, and its identity, which each write checks again.
type realDir struct {
	path string
	id   identity
	err  error
}

// realPath resolves the symbolic links of p's directories (not of p
// itself) and makes it absolute. It returns the identity of the directory
// too. Directories are resolved once per Locator.
func (l *Locator) realPath(p string) (string, identity, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", identity{}, err
	}
	dir := filepath.Dir(abs)
	v, ok := l.dirs.Load(dir)
	if !ok {
		rd := &realDir{}
		if rd.path, rd.err = filepath.EvalSymlinks(dir); rd.err == nil {
			rd.id, rd.err = stat(rd.path)
		}
		v, _ = l.dirs.LoadOrStore(dir, rd)
	}
	rd := v.(*realDir)
	if rd.err != nil {
		return "", identity{}, rd.err
	}
	return filepath.Join(rd.path, filepath.Base(abs)), rd.id, nil
}

// collector is the Reporter of the walk.
type collector struct {
	mu       sync.Mutex
	problems []rotators.Problem
	skipped  []string
}

func (c *collector) Error(path string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, rotators.Problem{URI: "file:" + path, Message: scanner.Scrub(err.Error())})
}

func (c *collector) Warn(string, string) {}

func (c *collector) Skip(path, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skipped = append(c.skipped, path)
}

// candidate is a file the walk saw a key in.
type candidate struct {
	path  string // as walked
	state rotators.State
	known bool // state computed from the walk's own read of the whole file
}

// Locate walks the paths with the scanner's work-tree source and returns
// every file holding either key. Files the walk read whole are not read
// again; larger ones are.
func (l *Locator) Locate(ctx context.Context, k rotators.Keys) (rotators.Found, error) {
	oldKey := l.key(k.Old)
	var newKey *rewrite.Key
	if k.New != "" {
		newKey = l.key(k.New)
	}
	rep := &collector{}
	tree, err := scanner.NewWorkTree(l.paths, rep)
	if err != nil {
		return rotators.Found{}, err
	}
	var mu sync.Mutex
	cands := map[string]*candidate{}
	var stale []string
	err = tree.Scan(ctx, func(c scanner.Chunk) error {
		p := filepath.FromSlash(c.Location.Path)
		if isTemp(filepath.Base(p)) {
			if c.Offset == 0 && c.Fresh == 0 {
				mu.Lock()
				stale = append(stale, p)
				mu.Unlock()
			}
			return nil
		}
		if !oldKey.Contains(c.Data) && (newKey == nil || !newKey.Contains(c.Data)) {
			return nil
		}
		cand := &candidate{path: p}
		if c.Offset == 0 && c.Fresh == 0 && c.Final {
			cand.state, cand.known = stateOf(c.Data, oldKey, newKey), true
		}
		mu.Lock()
		if _, seen := cands[p]; !seen {
			cands[p] = cand
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return rotators.Found{}, err
	}
	l.mu.Lock()
	l.stale = append(l.stale, stale...)
	l.mu.Unlock()

	targets, err := l.resolveCandidates(ctx, cands, oldKey, newKey)
	if err != nil {
		return rotators.Found{}, err
	}
	targets = append(targets, l.outsideLinks(rep.skipped, oldKey, newKey)...)
	return rotators.Found{Targets: targets, Problems: rep.problems}, nil
}

// resolveCandidates stats every candidate, reads those the walk did not
// read whole, and merges hard links of one file into one target.
func (l *Locator) resolveCandidates(ctx context.Context, cands map[string]*candidate, oldKey, newKey *rewrite.Key) ([]rotators.Target, error) {
	list := make([]*candidate, 0, len(cands))
	for _, c := range cands {
		list = append(list, c)
	}
	slices.SortFunc(list, func(a, b *candidate) int { return strings.Compare(a.path, b.path) })
	files := make([]*file, len(list))
	skips := make([]string, len(list))
	var g errgroup.Group
	g.SetLimit(8)
	for i, c := range list {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			f, st, skip := l.plan(c, oldKey, newKey)
			files[i], skips[i] = f, skip
			c.state = st
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var targets []rotators.Target
	byInode := map[[2]uint64]*file{}
	for i, f := range files {
		if skips[i] == "" && f.id.nlink > 1 {
			key := [2]uint64{f.id.dev, f.id.ino}
			if first, ok := byInode[key]; ok {
				first.aliases = append(first.aliases, f.display)
				continue
			}
			byInode[key] = f
		}
		targets = append(targets, rotators.Target{Location: f, State: list[i].state, Skip: skips[i]})
	}
	for i := range targets {
		if f := targets[i].Location.(*file); len(f.aliases) > 0 {
			targets[i].State.Detail += "; also linked as " + strings.Join(f.aliases, ", ")
		}
	}
	return spread(targets), nil
}

// spread orders targets round-robin over their directories. Creating a
// file holds its directory's lock, and on some file systems allocating an
// inode is slow, so writes in flight together should be in different
// directories: then they overlap instead of queueing on one lock.
func spread(targets []rotators.Target) []rotators.Target {
	var dirs []string
	byDir := map[string][]rotators.Target{}
	for _, t := range targets {
		d := filepath.Dir(t.Location.(*file).path)
		if _, ok := byDir[d]; !ok {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], t)
	}
	out := make([]rotators.Target, 0, len(targets))
	for len(out) < len(targets) {
		for _, d := range dirs {
			if list := byDir[d]; len(list) > 0 {
				out = append(out, list[0])
				byDir[d] = list[1:]
			}
		}
	}
	return out
}

// plan turns a candidate into a file location with its state, or says why
// it is skipped.
func (l *Locator) plan(c *candidate, oldKey, newKey *rewrite.Key) (*file, rotators.State, string) {
	f := &file{l: l, display: filepath.ToSlash(c.path)}
	real, dirID, err := l.realPath(c.path)
	if err == nil && slices.Contains(l.paths, c.path) {
		// A root the user named that is itself a link: write its target.
		if info, lerr := os.Lstat(real); lerr == nil && info.Mode()&fs.ModeSymlink != 0 {
			if real, err = filepath.EvalSymlinks(real); err == nil {
				real, dirID, err = l.realPath(real)
			}
		}
	}
	if err != nil {
		return f, rotators.State{Old: c.state.Old}, "cannot resolve its path: " + scanner.Scrub(err.Error())
	}
	f.path, f.dirID = real, dirID
	if !l.inside(real) {
		return f, c.state, "resolves to " + real + ", outside the scanned paths: not rewritten"
	}
	id, err := lstat(real)
	if err != nil {
		return f, c.state, "vanished while planning: " + scanner.Scrub(err.Error())
	}
	f.id = id
	if !c.known {
		st, err := f.read(oldKey, newKey)
		if err != nil {
			return f, rotators.State{Old: 1}, err.Error()
		}
		c.state = st
	}
	return f, c.state, ""
}

// outsideLinks reports symbolic links, skipped by the walk, whose target
// lies outside every root and holds a key: they are not rewritten.
func (l *Locator) outsideLinks(skipped []string, oldKey, newKey *rewrite.Key) []rotators.Target {
	var targets []rotators.Target
	slices.Sort(skipped)
	for _, p := range skipped {
		p = filepath.FromSlash(p)
		info, err := os.Lstat(p)
		if err != nil || info.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil || l.inside(target) {
			continue // dangling, or rewritten under its own path
		}
		f := &file{l: l, display: filepath.ToSlash(p), path: target}
		st, err := f.read(oldKey, newKey)
		if err != nil || st.Old+st.New == 0 {
			continue
		}
		targets = append(targets, rotators.Target{Location: f, State: st,
			Skip: "symbolic link to " + target + ", outside the scanned paths: not rewritten; name the target to rotate it"})
	}
	return targets
}

// Resolve turns a journal entry of kind file back into a location, for a
// rollback. The file must still lie inside the Locator's paths.
func (l *Locator) Resolve(addr scanner.Location, ref string) (rotators.Location, bool, error) {
	if addr.Kind != scanner.KindFile {
		return nil, false, nil
	}
	if !l.inside(ref) {
		return nil, true, fmt.Errorf("%s is %w", ref, errOutsideRoot)
	}
	real, dirID, err := l.realPath(ref)
	if err != nil {
		return nil, true, err
	}
	if real != ref {
		return nil, true, fmt.Errorf("%s: a directory on its path is now a symbolic link", ref)
	}
	id, err := lstat(ref)
	if err != nil {
		return nil, true, err
	}
	return &file{l: l, display: addr.Path, path: ref, id: id, dirID: dirID}, true, nil
}

// Prepare removes the temporary files that interrupted runs left behind.
// The engine holds the user's rotation lock, so none belongs to a run in
// progress.
func (l *Locator) Prepare(context.Context) error {
	l.mu.Lock()
	stale := l.stale
	l.stale = nil
	l.mu.Unlock()
	for _, p := range stale {
		if info, err := os.Lstat(p); err != nil || !info.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(p); err != nil && l.Log != nil {
			l.Log.Warn("could not remove a temporary file left by an interrupted run: " + scanner.Scrub(err.Error()))
		}
	}
	return nil
}

// Flush makes every rename durable (syncing the directories they changed)
// before anything, such as a revocation, relies on them.
func (l *Locator) Flush(context.Context) error {
	l.mu.Lock()
	dirs := make([]string, 0, len(l.dirty))
	for d := range l.dirty {
		dirs = append(dirs, d)
	}
	l.dirty = map[string]bool{}
	l.mu.Unlock()
	slices.Sort(dirs)
	return l.durable.flush(dirs)
}

func (l *Locator) markDirty(dir string) {
	l.mu.Lock()
	l.dirty[dir] = true
	l.mu.Unlock()
}

// stateOf counts both keys in data and hashes it.
func stateOf(data []byte, oldKey, newKey *rewrite.Key) rotators.State {
	o := oldKey.Count(data)
	st := rotators.State{Old: o.Total(), Hash: hashOf(data)}
	if newKey != nil {
		st.New = newKey.Count(data).Total()
	}
	switch {
	case st.Old > 0:
		st.Detail = copies(o)
	case st.New > 0:
		st.Detail = "holds the new key already"
	}
	return st
}

func copies(c rewrite.Counts) string {
	s := fmt.Sprintf("%d copies", c.Total())
	if c.Total() == 1 {
		s = "1 copy"
	}
	if c.Base64 > 0 {
		s += fmt.Sprintf(" (%d base64)", c.Base64)
	}
	return s
}

func hashOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
