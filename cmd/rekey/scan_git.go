package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rekeyhq/rekey/scanner"
)

// gitOptions are the scan flags about git: the staged (pre-commit) mode and
// the history scan.
type gitOptions struct {
	staged      bool
	history     bool
	sinceCommit string
	branch      string
	noGitCLI    bool

	stagedSrc *scanner.Staged
}

func (g *gitOptions) register(f *pflag.FlagSet) {
	f.BoolVar(&g.staged, "staged", false, "scan only what is staged for commit (the pre-commit mode); replaces the working-tree scan")
	f.BoolVar(&g.history, "history", false, "also scan every blob, commit and tag message reachable from any ref (branches, tags, remotes, stash)")
	f.StringVar(&g.sinceCommit, "since-commit", "", "limit the history scan to commits not reachable from `REV` (implies --history)")
	f.StringVar(&g.branch, "branch", "", "limit the history scan to the history of one `REF` (implies --history)")
	f.BoolVar(&g.noGitCLI, "no-git-cli", false, "read objects with go-git only, never running the git command (slower on big repositories)")
}

// sources builds the git sources for paths and returns the paths left for
// the working-tree scan: none with --staged, which replaces it, and none for
// a bare repository, whose files are git's own. closeAll releases the
// repositories.
func (g *gitOptions) sources(a *app, paths []string, r scanner.Reporter) (srcs []scanner.Source, treePaths []string, closeAll func(), err error) {
	var closers []func() error
	closeAll = func() {
		for _, c := range closers {
			_ = c()
		}
	}
	if g.sinceCommit != "" || g.branch != "" {
		g.history = true
	}
	if g.staged {
		if g.history {
			return nil, nil, closeAll, withHint(errors.New("--staged cannot be combined with --history, --since-commit or --branch"),
				"--staged checks what the next commit adds; scan history in a separate run")
		}
		if len(paths) > 1 {
			return nil, nil, closeAll, withHint(errors.New("--staged scans one repository: give at most one path"),
				"run it once per repository, or from inside the repository with no path")
		}
		s, err := scanner.NewStaged(paths[0], scanner.StagedOptions{
			GitDir: os.Getenv("GIT_DIR"), IndexFile: os.Getenv("GIT_INDEX_FILE"), NoGitCLI: g.noGitCLI,
		}, r)
		if err != nil {
			return nil, nil, closeAll, repoError(err)
		}
		g.stagedSrc = s
		return []scanner.Source{s}, nil, func() { _ = s.Close() }, nil
	}
	if !g.history {
		return nil, paths, closeAll, nil
	}
	seen := map[string]bool{}
	for _, p := range paths {
		h, err := scanner.NewHistory(p, scanner.HistoryOptions{
			SinceCommit: g.sinceCommit, Branch: g.branch, NoGitCLI: g.noGitCLI, Progress: newProgress(a),
		}, r)
		if err != nil {
			closeAll()
			return nil, nil, func() {}, repoError(err)
		}
		closers = append(closers, h.Close)
		if !h.Bare() {
			treePaths = append(treePaths, p)
		}
		if seen[h.Repository()] { // two paths in one repository: one history
			continue
		}
		seen[h.Repository()] = true
		srcs = append(srcs, h)
	}
	return srcs, treePaths, closeAll, nil
}

// repoError turns a repository that cannot be opened, or a revision that
// does not resolve, into a usage error (exit 2) with a hint.
func repoError(err error) error {
	if errors.Is(err, scanner.ErrNotRepository) {
		return withHint(err, "--staged and --history need a git repository: run rekey inside one or give its path")
	}
	return withHint(err, "give a branch, tag or commit that exists in the repository")
}

// explain adds what a person needs after a staged scan: that nothing was
// staged, or how to get past a blocked commit.
func (g *gitOptions) explain(a *app, r *scanner.Report) {
	if g.stagedSrc == nil {
		return
	}
	st := g.stagedSrc.Stats()
	if len(r.Findings) > 0 {
		fmt.Fprintf(a.stderr, `rekey: commit blocked: %d Perplexity API key(s) staged (listed above as file:line:column, key redacted).
rekey: hint: remove the key from the file and read it from an environment variable
rekey: hint: (for example PERPLEXITY_API_KEY) or a secret manager; unstage with 'git restore --staged FILE'.
rekey: hint: a key that was ever committed or pushed must be rotated: rekey rotate.
rekey: hint: false positive? add a "rekey:allow" comment on that line, or allow the key id or path
rekey: hint: in .rekey.yaml (allow: key_ids / paths).
`, len(r.Findings))
		return
	}
	if st.Files == 0 {
		msg := "nothing is staged for commit: no content was scanned"
		if st.Deleted > 0 {
			msg = fmt.Sprintf("only deletions are staged (%d): no content to scan", st.Deleted)
		}
		a.log.Info(msg)
	}
}

// progress draws the history scan's progress on stderr when it is a
// terminal: objects read (with the git CLI), commits walked, then blobs
// done/total and MB/s.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	name  string
	start time.Time
	bytes int64
}

// newProgress returns nil when stderr is not a terminal: no bar, no noise
// in logs and CI.
func newProgress(a *app) scanner.Progress {
	if f, ok := a.stderr.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) { //nolint:gosec // a file descriptor fits in an int
		return nil
	}
	return &progress{w: a.stderr, start: time.Now()}
}

// phase replaces the bar when the scan moves on to another phase.
func (p *progress) phase(name string, total int64, opts ...progressbar.Option) {
	if p.name == name {
		return
	}
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	p.name = name
	p.bar = progressbar.NewOptions64(total, append([]progressbar.Option{progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(name), progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish()}, opts...)...)
}

func (p *progress) Objects(n, bytes int64) {
	p.phase("reading objects", -1, progressbar.OptionShowCount(), progressbar.OptionSetItsString("objects"))
	if s := time.Since(p.start).Seconds(); s > 0 {
		p.bar.Describe(fmt.Sprintf("reading objects %7.1f MB  %6.1f MB/s", float64(bytes)/1e6, float64(bytes)/1e6/s))
	}
	_ = p.bar.Set64(n)
}

func (p *progress) Commits(n int64) {
	p.phase("walking history", -1, progressbar.OptionShowCount(), progressbar.OptionSetItsString("commits"))
	_ = p.bar.Set64(n)
}

func (p *progress) Blobs(total int64) {
	p.start = time.Now()
	p.phase("scanning blobs", total, progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
}

func (p *progress) Blob(n int64) {
	p.bytes += n
	if s := time.Since(p.start).Seconds(); s > 0 {
		p.bar.Describe(fmt.Sprintf("scanning blobs %6.1f MB/s", float64(p.bytes)/1e6/s))
	}
	_ = p.bar.Add(1)
}

func (p *progress) Done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// noSource stands for the working-tree scan when --staged replaces it.
type noSource struct{}

func (noSource) Scan(context.Context, func(scanner.Chunk) error) error { return nil }

// storeURIs drops the secret stores from a --staged scan: a pre-commit hook
// checks the commit only, offline and fast.
func (g *gitOptions) storeURIs(uris []string) []string {
	if g.staged {
		return nil
	}
	return uris
}
