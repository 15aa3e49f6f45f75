package scanner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ErrNotRepository is returned when a history or staged scan is asked of a
// directory that is not inside a git repository.
var ErrNotRepository = errors.New("not a git repository")

// objectCacheSize bounds go-git's cache of decoded objects (delta bases
// mostly); its default of 96 MiB is more than a scan needs.
const objectCacheSize = 32 * cache.MiByte

// largeObject is the size above which go-git streams a loose object instead
// of reading it into memory.
const largeObject = 8 << 20

// gitRepo is an opened repository: where its parts live on disk and go-git
// storage over its objects, refs and config.
type gitRepo struct {
	gitDir    string // .git, or a linked worktree's private directory: HEAD, index
	commonDir string // objects, refs, config, logs; equals gitDir except in linked worktrees
	workTree  string // "" for a bare repository
	storage   *filesystem.Storage
}

// openRepo opens the repository holding dir. gitDir, when not empty, names
// the repository directory directly, as $GIT_DIR does for git.
func openRepo(dir, gitDir string) (*gitRepo, error) {
	r := &gitRepo{}
	var err error
	if gitDir != "" {
		r.gitDir, err = filepath.Abs(gitDir)
		if err != nil {
			return nil, fmt.Errorf("open repository: %w", err)
		}
		if !isGitDir(r.gitDir) {
			return nil, fmt.Errorf("%w: %s", ErrNotRepository, gitDir)
		}
		r.workTree, _ = filepath.Abs(dir)
	} else if r.gitDir, r.workTree, err = discover(dir); err != nil {
		return nil, err
	}
	r.commonDir = r.gitDir
	if data, err := os.ReadFile(filepath.Join(r.gitDir, "commondir")); err == nil { //nolint:gosec // the user names the repository to read
		c := strings.TrimSpace(string(data))
		if !filepath.IsAbs(c) {
			c = filepath.Join(r.gitDir, c)
		}
		r.commonDir = filepath.Clean(c)
	}
	r.storage = filesystem.NewStorageWithOptions(osfs.New(r.commonDir, osfs.WithBoundOS()),
		cache.NewObjectLRU(objectCacheSize),
		filesystem.Options{KeepDescriptors: true, LargeObjectThreshold: largeObject})
	return r, nil
}

// close releases the pack files kept open.
func (r *gitRepo) close() error { return r.storage.Close() }

// discover walks up from dir to the first directory holding .git (a
// directory, or a linked worktree's "gitdir:" file), or a directory that is
// itself a repository (bare, or a .git directory named directly).
func discover(dir string) (gitDir, workTree string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("open repository: %w", err)
	}
	info, err := os.Stat(abs) //nolint:gosec // the user names the repository to read
	if err != nil {
		return "", "", fmt.Errorf("open repository: %w", err)
	}
	if !info.IsDir() {
		abs = filepath.Dir(abs)
	}
	for d := abs; ; d = filepath.Dir(d) {
		dotGit := filepath.Join(d, ".git")
		if fi, err := os.Stat(dotGit); err == nil { //nolint:gosec // the user names the repository to read
			if fi.IsDir() && isGitDir(dotGit) {
				return dotGit, d, nil
			}
			if fi.Mode().IsRegular() {
				g, err := readGitFile(dotGit)
				if err != nil {
					return "", "", err
				}
				return g, d, nil
			}
		}
		if isGitDir(d) {
			if filepath.Base(d) == ".git" {
				return d, filepath.Dir(d), nil
			}
			return d, "", nil // bare
		}
		if filepath.Dir(d) == d {
			return "", "", fmt.Errorf("%w: %s (or any parent directory)", ErrNotRepository, dir)
		}
	}
}

// readGitFile follows a linked worktree's or submodule's .git file.
func readGitFile(file string) (string, error) {
	data, err := os.ReadFile(file) //nolint:gosec // the user names the repository to read
	if err != nil {
		return "", fmt.Errorf("open repository: %w", err)
	}
	target, ok := bytes.CutPrefix(bytes.TrimSpace(data), []byte("gitdir:"))
	if !ok {
		return "", fmt.Errorf("%w: %s is not a gitdir file", ErrNotRepository, file)
	}
	g := strings.TrimSpace(string(target))
	if !filepath.IsAbs(g) {
		g = filepath.Join(filepath.Dir(file), g)
	}
	if !isGitDir(g) {
		return "", fmt.Errorf("%w: %s points to %s, which is not a repository", ErrNotRepository, file, g)
	}
	return filepath.Clean(g), nil
}

// isGitDir reports whether d looks like a repository directory, by git's own
// test: a HEAD file and objects and refs directories (the latter two may be
// shared through a commondir file in linked worktrees).
func isGitDir(d string) bool {
	if fi, err := os.Stat(filepath.Join(d, "HEAD")); err != nil || !fi.Mode().IsRegular() { //nolint:gosec // the user names the repository to read
		return false
	}
	if _, err := os.Stat(filepath.Join(d, "commondir")); err == nil { //nolint:gosec // the user names the repository to read
		return true
	}
	for _, sub := range []string{"objects", "refs"} {
		if fi, err := os.Stat(filepath.Join(d, sub)); err != nil || !fi.IsDir() { //nolint:gosec // the user names the repository to read
			return false
		}
	}
	return true
}

// readHead returns the content of a HEAD file: "ref: refs/heads/main" gives
// the ref name, a detached HEAD gives the commit id.
func readHead(gitDir string) (ref, id string, err error) {
	data, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return "", "", fmt.Errorf("read HEAD: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if name, ok := strings.CutPrefix(s, "ref:"); ok {
		return strings.TrimSpace(name), "", nil
	}
	return "", s, nil
}

// isPartialClone reports a repository whose missing objects git would fetch
// on demand from a promisor remote.
func (r *gitRepo) isPartialClone() bool {
	cfg, err := r.storage.Config()
	if err == nil {
		if cfg.Raw.Section("extensions").Option("partialclone") != "" {
			return true
		}
		for _, sub := range cfg.Raw.Section("remote").Subsections {
			if strings.EqualFold(sub.Option("promisor"), "true") {
				return true
			}
		}
	}
	matches, _ := filepath.Glob(filepath.Join(r.commonDir, "objects", "pack", "*.promisor"))
	return len(matches) > 0
}
