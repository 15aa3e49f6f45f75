package scanner

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxMissingReported caps the missing objects listed one by one in
// stats.errors; a partial clone can miss thousands.
const maxMissingReported = 50

// errMissingObject marks an object the git CLI reported missing.
var errMissingObject = errors.New("object missing")

// historyWalk is the state of one history scan: the commit graph as far as
// it was walked and, for each distinct blob, where it was introduced.
type historyWalk struct {
	h     *History
	store objectStore
	emit  func(Chunk) error
	buf   []byte

	commits    map[plumbing.Hash]*commitMeta
	children   map[plumbing.Hash][]plumbing.Hash
	tipNames   map[plumbing.Hash][]string // commit -> refs pointing at it
	refsMemo   map[plumbing.Hash][]string
	intros     map[plumbing.Hash][]intro // blob -> its introductions
	order      []plumbing.Hash           // distinct blobs, first seen first
	trees      treeCache
	shallow    map[plumbing.Hash]bool
	submodules map[string]bool
	walked     int64
	missing    int
}

// commitMeta is what the walk keeps of a commit.
type commitMeta struct {
	tree     plumbing.Hash
	parents  []plumbing.Hash
	author   string
	date     string
	message  string // until scanned
	walked   bool
	excluded bool // reachable from --since-commit
}

// intro is one introduction of a blob: the commit whose tree has it at path
// while none of its parents' trees does.
type intro struct {
	path   string
	commit plumbing.Hash // zero when a ref names a tree or blob directly
	ref    string        // that ref
}

// namedObject is a ref or reflog entry and the object it names.
type namedObject struct {
	name string
	id   plumbing.Hash
}

// tagInfo is an annotated tag object and the refs that reach it.
type tagInfo struct {
	tag    *object.Tag
	names  []string
	commit plumbing.Hash // the commit it peels to, if any
}

func newHistoryWalk(h *History, store objectStore, emit func(Chunk) error) *historyWalk {
	return &historyWalk{
		h: h, store: store, emit: emit,
		buf:        make([]byte, MaxContext+ChunkSize),
		commits:    map[plumbing.Hash]*commitMeta{},
		children:   map[plumbing.Hash][]plumbing.Hash{},
		tipNames:   map[plumbing.Hash][]string{},
		refsMemo:   map[plumbing.Hash][]string{},
		intros:     map[plumbing.Hash][]intro{},
		trees:      newTreeCache(4096),
		shallow:    map[plumbing.Hash]bool{},
		submodules: map[string]bool{},
	}
}

func (w *historyWalk) report() Reporter { return w.h.reporter }

// run finds the tips, scans tag messages and walks every commit, recording
// blob introductions and scanning commit messages.
func (w *historyWalk) run(ctx context.Context) error {
	tips := w.collectTips()
	if len(tips) == 0 {
		w.report().Warn(w.h.name, "repository has no commits: no history to scan")
		return nil
	}
	if shallow, err := w.h.repo.storage.Shallow(); err == nil && len(shallow) > 0 {
		for _, id := range shallow {
			w.shallow[id] = true
		}
		w.report().Warn(w.h.name, fmt.Sprintf("shallow clone: history behind %d boundary commits is not in this repository and was not scanned; run 'git fetch --unshallow' for a full audit", len(shallow)))
	}
	var starts []plumbing.Hash
	tags := map[plumbing.Hash]*tagInfo{}
	for _, t := range tips {
		if c, ok := w.peel(t, tags); ok {
			if len(w.tipNames[c]) == 0 {
				starts = append(starts, c)
			}
			w.tipNames[c] = append(w.tipNames[c], t.name)
		}
	}
	if w.h.opts.SinceCommit != "" {
		_, since, err := w.h.resolve(w.h.opts.SinceCommit)
		if err != nil {
			return err
		}
		w.exclude(ctx, since)
	}
	if err := w.scanTags(tags); err != nil {
		return err
	}
	err := w.walkCommits(ctx, starts)
	if cc, ok := w.report().(commitCounter); ok {
		cc.AddCommits(w.walked)
	}
	return err
}

// collectTips lists where the walk starts: every ref, a detached HEAD (of
// every worktree), and every stash entry, or the one --branch ref.
func (w *historyWalk) collectTips() []namedObject {
	repo := w.h.repo
	if b := w.h.opts.Branch; b != "" {
		name, id, err := w.h.resolve(b)
		if err != nil {
			w.report().Error(b, err)
			return nil
		}
		return []namedObject{{name, id}}
	}
	var tips []namedObject
	iter, err := repo.storage.IterReferences()
	if err != nil {
		w.report().Error(w.h.name, fmt.Errorf("list refs: %w", err))
	} else {
		err = iter.ForEach(func(ref *plumbing.Reference) error {
			// Symbolic refs (origin/HEAD) name a ref that is listed anyway.
			if ref.Type() == plumbing.HashReference && ref.Name() != plumbing.HEAD {
				tips = append(tips, namedObject{ref.Name().String(), ref.Hash()})
			}
			return nil
		})
		if err != nil {
			w.report().Error(w.h.name, fmt.Errorf("list refs: %w", err))
		}
	}
	heads := map[string]string{"HEAD": repo.commonDir}
	if dirs, err := filepath.Glob(filepath.Join(repo.commonDir, "worktrees", "*")); err == nil {
		for _, d := range dirs {
			heads["worktrees/"+filepath.Base(d)+"/HEAD"] = d
		}
	}
	for name, dir := range heads {
		if ref, id, err := readHead(dir); err == nil && ref == "" && plumbing.IsHash(id) {
			tips = append(tips, namedObject{name, plumbing.NewHash(id)})
		}
	}
	tips = append(tips, w.stashEntries()...)
	slices.SortFunc(tips, func(a, b namedObject) int { return strings.Compare(a.name, b.name) })
	return tips
}

// stashEntries reads the stash reflog: refs/stash is only the newest entry,
// the older ones live in logs/refs/stash alone.
func (w *historyWalk) stashEntries() []namedObject {
	f, err := os.Open(filepath.Join(w.h.repo.commonDir, "logs", "refs", "stash"))
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var ids []plumbing.Hash
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && plumbing.IsHash(fields[1]) {
			ids = append(ids, plumbing.NewHash(fields[1]))
		}
	}
	if err := sc.Err(); err != nil {
		w.report().Error("logs/refs/stash", err)
	}
	var out []namedObject
	for i := range ids {
		// The newest entry, stash@{0}, is refs/stash itself.
		if n := len(ids) - 1 - i; n > 0 {
			out = append(out, namedObject{fmt.Sprintf("stash@{%d}", n), ids[i]})
		}
	}
	return out
}

// peel follows tags from a tip to a commit. Tags met on the way are
// recorded for their messages; a tip naming a tree or blob directly has its
// content recorded as introduced by that ref.
func (w *historyWalk) peel(t namedObject, tags map[plumbing.Hash]*tagInfo) (plumbing.Hash, bool) {
	id := t.id
	var met []*tagInfo
	defer func() {
		for _, ti := range met {
			ti.names = append(ti.names, t.name)
		}
	}()
	for range 16 { // tags of tags of tags: git allows any depth, 16 is plenty
		obj, err := w.store.object(id)
		if err != nil {
			w.report().Error(t.name, fmt.Errorf("read %s: %w", id, err))
			return plumbing.ZeroHash, false
		}
		switch obj.typ {
		case plumbing.CommitObject:
			for _, ti := range met {
				ti.commit = id
			}
			return id, true
		case plumbing.TagObject:
			ti := tags[id]
			if ti == nil {
				tag := &object.Tag{}
				if err := tag.Decode(obj); err != nil {
					w.report().Error(t.name, fmt.Errorf("decode tag %s: %w", id, err))
					return plumbing.ZeroHash, false
				}
				ti = &tagInfo{tag: tag}
				tags[id] = ti
			}
			met = append(met, ti)
			id = ti.tag.Target
		case plumbing.TreeObject:
			w.diffTree(id, nil, "", intro{ref: t.name})
			return plumbing.ZeroHash, false
		case plumbing.BlobObject:
			w.introduce(id, intro{ref: t.name})
			return plumbing.ZeroHash, false
		default:
			return plumbing.ZeroHash, false
		}
	}
	w.report().Error(t.name, errors.New("tag chain too deep"))
	return plumbing.ZeroHash, false
}

// scanTags scans the message of every annotated tag, except tags of
// commits excluded by --since-commit.
func (w *historyWalk) scanTags(tags map[plumbing.Hash]*tagInfo) error {
	ids := make([]plumbing.Hash, 0, len(tags))
	for id := range tags {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		ti := tags[id]
		if m := w.commits[ti.commit]; m != nil && m.excluded {
			continue
		}
		loc := Location{Kind: KindGitHistory, URI: "git:" + id.String() + ":tag-message",
			Author: signature(ti.tag.Tagger.Name, ti.tag.Tagger.Email), Date: rfc3339(ti.tag.Tagger.When),
			Refs: sortedUnique(ti.names)}
		if err := w.scanText(ti.tag.Message, loc); err != nil {
			return err
		}
	}
	return nil
}

// exclude marks every commit reachable from since, for --since-commit.
func (w *historyWalk) exclude(ctx context.Context, since plumbing.Hash) {
	stack := []plumbing.Hash{since}
	for len(stack) > 0 && ctx.Err() == nil {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m := w.commit(id)
		if m == nil || m.excluded {
			continue
		}
		m.excluded, m.message = true, ""
		stack = append(stack, w.parents(id, m)...)
	}
}

// walkCommits visits every commit reachable from starts once, depth first
// along first parents so that a parent's tree is still cached when its
// child was diffed against it.
func (w *historyWalk) walkCommits(ctx context.Context, starts []plumbing.Hash) error {
	stack := slices.Clone(starts)
	slices.Reverse(stack)
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m := w.commit(id)
		if m == nil || m.walked || m.excluded {
			continue
		}
		m.walked = true
		w.walked++
		if p := w.h.opts.Progress; p != nil && w.walked%1000 == 0 {
			p.Commits(w.walked)
		}
		if err := w.scanText(m.message, Location{Kind: KindGitHistory, URI: "git:" + id.String() + ":commit-message",
			Commit: id.String(), Author: m.author, Date: m.date}); err != nil {
			return err
		}
		m.message = ""
		parents := w.parents(id, m)
		trees := make([]plumbing.Hash, 0, len(parents))
		for _, p := range parents {
			w.children[p] = append(w.children[p], id)
			if pm := w.commit(p); pm != nil {
				trees = append(trees, pm.tree)
			}
		}
		w.diffTree(m.tree, trees, "", intro{commit: id})
		for i := len(parents) - 1; i >= 0; i-- {
			stack = append(stack, parents[i])
		}
	}
	if p := w.h.opts.Progress; p != nil {
		p.Commits(w.walked)
	}
	return nil
}

// parents returns a commit's parents, none for a shallow boundary commit
// (its parents are not in the repository).
func (w *historyWalk) parents(id plumbing.Hash, m *commitMeta) []plumbing.Hash {
	if w.shallow[id] {
		return nil
	}
	return m.parents
}

// commit reads a commit once and keeps what the walk needs of it; it
// returns nil, after reporting, for a commit that cannot be read.
func (w *historyWalk) commit(id plumbing.Hash) *commitMeta {
	if m, ok := w.commits[id]; ok {
		return m
	}
	var m *commitMeta
	defer func() { w.commits[id] = m }()
	obj, err := w.store.object(id)
	if err == nil && obj.typ != plumbing.CommitObject {
		err = fmt.Errorf("object is a %s, not a commit", obj.typ)
	}
	c := &object.Commit{}
	if err == nil {
		err = c.Decode(obj)
	}
	if err != nil {
		w.report().Error("git:"+id.String(), fmt.Errorf("read commit: %w", err))
		return nil
	}
	m = &commitMeta{
		tree: c.TreeHash, parents: c.ParentHashes, message: c.Message,
		author: signature(c.Author.Name, c.Author.Email), date: rfc3339(c.Author.When),
	}
	return m
}

// diffTree records the blobs of tree that none of the parent trees holds at
// the same path: the content this commit introduced. Subtrees identical to
// a parent's are skipped whole, which is what makes the walk cheap; the
// entries of a tree and of its parents are matched by a merge of the sorted
// lists.
func (w *historyWalk) diffTree(tree plumbing.Hash, parents []plumbing.Hash, prefix string, at intro) {
	if slices.Contains(parents, tree) {
		return
	}
	t := w.tree(tree, prefix)
	if t == nil {
		return
	}
	pts := make([][]treeEntry, 0, len(parents))
	for _, p := range parents {
		if pt := w.tree(p, prefix); pt != nil {
			pts = append(pts, pt.entries)
		}
	}
	cursors := make([]int, len(pts))
	var sub []plumbing.Hash
	for i := range t.entries {
		e := &t.entries[i]
		path := prefix + e.name
		sub = sub[:0]
		inParent := false
		for k, pe := range pts {
			c := cursors[k]
			for c < len(pe) && treeOrder(&pe[c], e) < 0 {
				c++
			}
			cursors[k] = c
			if c == len(pe) || treeOrder(&pe[c], e) != 0 {
				continue
			}
			switch {
			case e.kind == entryDir:
				sub = append(sub, pe[c].id)
			case pe[c].kind == e.kind && pe[c].id == e.id:
				inParent = true
			}
		}
		switch e.kind {
		case entryDir:
			w.diffTree(e.id, sub, path+"/", at)
		case entryGitlink:
			if !w.submodules[path] {
				w.submodules[path] = true
				w.report().Skip(path, "submodule: not descended; scan its own repository")
			}
		default:
			if !inParent {
				at.path = path
				w.introduce(e.id, at)
			}
		}
	}
}

func (w *historyWalk) introduce(blob plumbing.Hash, at intro) {
	list, seen := w.intros[blob]
	if !seen {
		w.order = append(w.order, blob)
	}
	w.intros[blob] = append(list, at)
}

// tree reads and parses a tree through the cache; nil, after reporting,
// when it cannot be read.
func (w *historyWalk) tree(id plumbing.Hash, path string) *treeInfo {
	if t := w.trees.get(id); t != nil {
		return t
	}
	obj, err := w.store.object(id)
	if err == nil && obj.typ != plumbing.TreeObject {
		err = fmt.Errorf("object is a %s, not a tree", obj.typ)
	}
	var entries []treeEntry
	if err == nil {
		entries, err = parseTree(obj.data)
	}
	if err != nil {
		w.report().Error("git:"+id.String()+":"+path, fmt.Errorf("read tree: %w", err))
		return nil
	}
	ti := &treeInfo{entries: entries}
	w.trees.put(id, ti)
	return ti
}

// scanText scans a commit or tag message.
func (w *historyWalk) scanText(text string, loc Location) error {
	if text == "" {
		return nil
	}
	return StreamChunks(strings.NewReader(text), w.buf, Chunk{Location: loc}, w.emit)
}

// scanBlobs reads every distinct blob once and streams it to emit. Blobs
// the store already knows to hold no key are only counted.
func (w *historyWalk) scanBlobs(ctx context.Context) error {
	p := w.h.opts.Progress
	if p != nil {
		p.Blobs(int64(len(w.order)))
		defer p.Done()
	}
	var clean, cleanBytes int64
	err := w.store.blobs(ctx, w.order, func(id plumbing.Hash, r io.Reader, size int64, err error) error {
		first := w.intros[id][0]
		switch {
		case err != nil:
			w.blobError(id, first, err)
			return nil
		case r == nil:
			clean++
			cleanBytes += size
			if p != nil {
				p.Blob(size)
			}
			return nil
		}
		hex := id.String()
		cr := &countingReader{r: r}
		tmpl := Chunk{Location: Location{Kind: KindGitHistory, URI: "git:" + hex, Path: first.path, Object: hex}}
		err = StreamChunks(cr, w.buf, tmpl, w.emit)
		var readErr *ReadError
		if errors.As(err, &readErr) {
			w.blobError(id, first, readErr.Err)
			err = nil
		}
		if p != nil {
			p.Blob(cr.n)
		}
		return err
	})
	if bc, ok := w.report().(blobCounter); ok && clean > 0 {
		bc.AddBlobs(clean, cleanBytes)
	}
	return err
}

// blobError reports a blob that could not be read, naming one place it
// was introduced; missing objects beyond maxMissingReported are counted.
func (w *historyWalk) blobError(id plumbing.Hash, at intro, err error) {
	where := "git:" + at.commit.String() + ":" + at.path
	if at.commit.IsZero() {
		where = "git:" + at.ref + ":" + at.path
	}
	if isMissing(err) {
		w.missing++
		switch {
		case w.missing < maxMissingReported:
		case w.missing == maxMissingReported:
			w.report().Error(w.h.name, fmt.Errorf("more than %d objects are missing (partial clone or corrupt repository); only the first are listed", maxMissingReported))
			return
		default:
			return
		}
		err = fmt.Errorf("blob %s is missing: %w", id, err)
	}
	w.report().Error(where, err)
}

// refsOf returns the refs from which commit id is reachable: the tips
// among its descendants.
func (w *historyWalk) refsOf(id plumbing.Hash) []string {
	if r, ok := w.refsMemo[id]; ok {
		return r
	}
	seen := map[plumbing.Hash]bool{id: true}
	queue := []plumbing.Hash{id}
	var names []string
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		names = append(names, w.tipNames[c]...)
		for _, ch := range w.children[c] {
			if !seen[ch] {
				seen[ch] = true
				queue = append(queue, ch)
			}
		}
	}
	names = sortedUnique(names)
	w.refsMemo[id] = names
	return names
}

// treeInfo is a parsed tree.
type treeInfo struct {
	entries []treeEntry
}

// treeCache keeps recently used trees in two generations: when the young
// one fills up it becomes the old one, so memory stays bounded and a tree
// used again soon is found without an LRU's bookkeeping.
type treeCache struct {
	size       int
	young, old map[plumbing.Hash]*treeInfo
}

func newTreeCache(size int) treeCache {
	return treeCache{size: size, young: map[plumbing.Hash]*treeInfo{}}
}

func (c *treeCache) get(id plumbing.Hash) *treeInfo {
	if t, ok := c.young[id]; ok {
		return t
	}
	if t, ok := c.old[id]; ok {
		c.put(id, t)
		return t
	}
	return nil
}

func (c *treeCache) put(id plumbing.Hash, t *treeInfo) {
	if len(c.young) >= c.size {
		c.old, c.young = c.young, make(map[plumbing.Hash]*treeInfo, c.size)
	}
	c.young[id] = t
}
