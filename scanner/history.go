package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// History is the Source for everything a repository's history ever held:
// every blob reachable from any ref (branches, tags, remote-tracking refs,
// every stash entry, a detached HEAD, replacement refs, notes), plus commit
// and annotated tag messages.
//
// Each distinct blob is read and scanned once, however many commits hold it.
// After the scan, Attribute turns a finding in a blob into one finding per
// (path, commit that introduced that content at that path), with author,
// date and the refs that reach the commit.
type History struct {
	repo     *gitRepo
	name     string // the repository as the user named it, for messages
	opts     HistoryOptions
	reporter Reporter

	walk *historyWalk // set by Scan, read by Attribute
}

// HistoryOptions narrow and tune a history scan.
type HistoryOptions struct {
	// SinceCommit limits the scan to commits not reachable from this
	// revision (and the content they introduced).
	SinceCommit string
	// Branch limits the scan to the history of one ref or revision.
	Branch string
	// NoGitCLI reads objects with go-git only. Otherwise the git CLI, when
	// installed, reads blobs faster, with repository config neutralised.
	NoGitCLI bool
	// Progress, when set, is told how the scan advances.
	Progress Progress
}

// Progress receives a history scan's progress, for a progress bar.
type Progress interface {
	// Objects reports a pass over the whole object database: objects and
	// bytes read so far.
	Objects(n, bytes int64)
	// Commits reports how many commits have been walked so far.
	Commits(n int64)
	// Blobs starts the blob phase: total distinct blobs to scan.
	Blobs(total int64)
	// Blob reports one more blob scanned, of size bytes.
	Blob(bytes int64)
	// Done ends the display.
	Done()
}

// commitCounter is the optional part of a Reporter that counts commits
// (the *Scan engine has it).
type commitCounter interface{ AddCommits(n int64) }

// blobCounter is the optional part of a Reporter that counts blobs read
// but not passed on, because the object reader already knew they hold no
// key (the *Scan engine has it).
type blobCounter interface{ AddBlobs(n, bytes int64) }

var _ Attributor = (*History)(nil)

// NewHistory opens the repository holding dir. It fails with
// ErrNotRepository when there is none, and on revisions that do not resolve.
func NewHistory(dir string, opts HistoryOptions, r Reporter) (*History, error) {
	repo, err := openRepo(dir, "")
	if err != nil {
		return nil, err
	}
	h := &History{repo: repo, name: dir, opts: opts, reporter: r}
	for _, rev := range []string{opts.SinceCommit, opts.Branch} {
		if rev == "" {
			continue
		}
		if _, _, err := h.resolve(rev); err != nil {
			_ = repo.close()
			return nil, err
		}
	}
	return h, nil
}

// Close releases the repository's files.
func (h *History) Close() error { return h.repo.close() }

// Repository names the repository the history belongs to (its common git
// directory), to tell whether two paths are in the same one.
func (h *History) Repository() string { return h.repo.commonDir }

// Bare reports a repository without a working tree.
func (h *History) Bare() bool { return h.repo.workTree == "" }

// Scan walks the history, scans messages as it goes, then scans every
// distinct blob once.
func (h *History) Scan(ctx context.Context, emit func(Chunk) error) error {
	store := h.openStore(ctx)
	defer func() { _ = store.close() }()
	w := newHistoryWalk(h, store, emit)
	h.walk = w
	if err := w.run(ctx); err != nil {
		return err
	}
	return w.scanBlobs(ctx)
}

// openStore picks the object reader: the git CLI when it is installed and
// safe to use here, go-git otherwise.
func (h *History) openStore(ctx context.Context) objectStore {
	fallback := goGitStore{repo: h.repo}
	if h.opts.NoGitCLI {
		return fallback
	}
	if h.repo.isPartialClone() {
		// git would fetch missing objects from the promisor remote, running
		// the repository's transport config; go-git never fetches.
		h.reporter.Warn(h.name, "partial clone: objects that were never downloaded cannot be scanned")
		return fallback
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return fallback
	}
	full := h.opts.SinceCommit == "" && h.opts.Branch == ""
	store, err := newGitCLIStore(ctx, gitPath, h.repo, fallback, full, h.opts.Progress)
	if err != nil {
		h.reporter.Warn(h.name, "git CLI unusable, reading objects with go-git: "+Scrub(err.Error()))
		return fallback
	}
	return store
}

// Attribute expands a finding in a blob into one finding per introduction
// of that blob at a path, and adds the refs that reach a commit message.
// It implements Attributor.
func (h *History) Attribute(f Finding) []Finding {
	w := h.walk
	if w == nil {
		return []Finding{f}
	}
	loc := f.Location
	if loc.Object == "" {
		if loc.Commit != "" && loc.Refs == nil {
			f.Location.Refs = w.refsOf(plumbing.NewHash(loc.Commit))
		}
		return []Finding{f}
	}
	intros := w.intros[plumbing.NewHash(loc.Object)]
	out := make([]Finding, 0, len(intros))
	for _, in := range intros {
		g := f
		g.Location.Object = ""
		g.Location.Path = in.path
		if in.commit.IsZero() {
			g.Location.Refs = []string{in.ref}
			g.Location.URI = fileURI("git:"+in.ref+":"+in.path, loc.Line, loc.Offset)
		} else {
			m := w.commits[in.commit]
			sha := in.commit.String()
			g.Location.Commit, g.Location.Author, g.Location.Date = sha, m.author, m.date
			g.Location.Refs = w.refsOf(in.commit)
			g.Location.URI = fileURI("git:"+sha+":"+in.path, loc.Line, loc.Offset)
		}
		out = append(out, g)
	}
	return out
}

// resolve turns a ref name or revision into an object id and a display
// name. Ref names are tried first so that an annotated tag keeps its tag
// object (and message).
func (h *History) resolve(rev string) (string, plumbing.Hash, error) {
	for _, name := range []string{rev, "refs/" + rev, "refs/tags/" + rev, "refs/heads/" + rev, "refs/remotes/" + rev, "refs/remotes/" + rev + "/HEAD"} {
		if !strings.HasPrefix(name, "refs/") {
			continue
		}
		if ref, err := storer.ResolveReference(h.repo.storage, plumbing.ReferenceName(name)); err == nil {
			return name, ref.Hash(), nil
		}
	}
	if head, ok := strings.CutPrefix(rev, "HEAD"); ok {
		// go-git reads HEAD from the common directory; a linked worktree
		// has its own.
		id, err := h.head()
		if err != nil {
			return "", plumbing.ZeroHash, err
		}
		if head == "" {
			return "HEAD", id, nil
		}
		rev = id.String() + head
	}
	repo, err := git.Open(h.repo.storage, nil)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("resolve %q: %w", rev, err)
	}
	id, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("unknown revision %q: %w", rev, err)
	}
	return rev, *id, nil
}

// head returns the commit the worktree's HEAD points to.
func (h *History) head() (plumbing.Hash, error) {
	ref, id, err := readHead(h.repo.gitDir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if ref == "" {
		return plumbing.NewHash(id), nil
	}
	r, err := storer.ResolveReference(h.repo.storage, plumbing.ReferenceName(ref))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("HEAD (%s): %w", ref, err)
	}
	return r.Hash(), nil
}

// signature formats a commit's author for a Location.
func signature(name, email string) string {
	if email == "" {
		return name
	}
	return name + " <" + email + ">"
}

// rfc3339 formats a commit date for a Location, in the committer's zone.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// sortedUnique sorts names and drops repeats.
func sortedUnique(names []string) []string {
	slices.Sort(names)
	return slices.Compact(names)
}

// countingReader counts the bytes read through it, for progress.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// isMissing reports errors that mean an object is absent (partial clone,
// corruption), as opposed to unreadable.
func isMissing(err error) bool {
	return errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, errMissingObject)
}
