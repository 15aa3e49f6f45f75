package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// ChunkSize is how much of a file is scanned at once; memory per worker is
// bounded by it whatever the file size.
const ChunkSize = 1 << 20

// binarySniff is how much of a file's start is checked for a NUL byte.
const binarySniff = 8000

// WorkTree is the Source for files on disk: every regular file under its
// paths, untracked and git-ignored ones included, skipping only .git
// internals. Symbolic links are not followed and other special files are
// not opened.
type WorkTree struct {
	paths    []string
	reporter Reporter
	workers  int
}

// NewWorkTree checks that every path exists and returns the source. A path
// that is itself a symbolic link is followed: the user named it.
func NewWorkTree(paths []string, r Reporter) (*WorkTree, error) {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("scan path: %w", err)
		}
	}
	return &WorkTree{paths: paths, reporter: r, workers: max(4, 2*runtime.GOMAXPROCS(0))}, nil
}

// SetWorkers bounds how many files are read at once (n > 0; the default is
// twice the CPUs, at least 4).
func (w *WorkTree) SetWorkers(n int) {
	if n > 0 {
		w.workers = n
	}
}

// Scan walks the paths in one goroutine and reads files in a bounded pool.
func (w *WorkTree) Scan(ctx context.Context, emit func(Chunk) error) error {
	g, ctx := errgroup.WithContext(ctx)
	files := make(chan string, 256)
	g.Go(func() error {
		defer close(files)
		for _, root := range w.paths {
			if err := w.walk(ctx, root, files); err != nil {
				return err
			}
		}
		return nil
	})
	for range w.workers {
		g.Go(func() error {
			buf := make([]byte, MaxContext+ChunkSize)
			for p := range files {
				if err := w.scanFile(p, buf, emit); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func (w *WorkTree) walk(ctx context.Context, root string, files chan<- string) error {
	info, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("scan path: %w", err)
	}
	if !info.IsDir() {
		if info.Mode().IsRegular() {
			return send(ctx, files, root)
		}
		w.reporter.Skip(filepath.ToSlash(root), "not a regular file")
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		slash := filepath.ToSlash(p)
		switch {
		case err != nil:
			w.reporter.Error(slash, err)
			if d != nil && d.IsDir() && p != root {
				return fs.SkipDir
			}
			return nil
		case d.Name() == ".git" && p != root:
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // a linked worktree's pointer file
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			w.reporter.Skip(slash, "symbolic link not followed")
			return nil
		case !d.Type().IsRegular():
			w.reporter.Skip(slash, "not a regular file")
			return nil
		}
		return send(ctx, files, p)
	})
}

func send(ctx context.Context, files chan<- string, p string) error {
	select {
	case files <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scanFile streams one file through emit in overlapping chunks. Read
// errors are reported and end that file only; an error from emit is fatal.
func (w *WorkTree) scanFile(p string, buf []byte, emit func(Chunk) error) error {
	slash := filepath.ToSlash(p)
	f, err := openFile(p)
	if err != nil {
		w.reporter.Error(slash, err)
		return nil
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		w.reporter.Skip(slash, "changed into a special file while scanning")
		return nil
	}
	err = StreamChunks(&eofAtSize{f: f, size: info.Size()}, buf, Chunk{Location: Location{Kind: KindFile, URI: "file:" + slash, Path: slash}}, emit)
	var readErr *ReadError
	if errors.As(err, &readErr) {
		w.reporter.Error(slash, readErr.Err)
		return nil
	}
	return err
}

// ReadError wraps a failure to read content, as opposed to a failure of the
// consumer of the content.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "read: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// StreamChunks reads r into buf and emits it as overlapping chunks carrying
// the template's Location. buf must be longer than MaxContext; its size sets
// the chunk size. A read failure is returned as a *ReadError.
func StreamChunks(r io.Reader, buf []byte, template Chunk, emit func(Chunk) error) error {
	c := template
	c.Line, c.Offset, c.Fresh = 1, 0, 0
	for {
		n, err := io.ReadFull(r, buf[c.Fresh:])
		final := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !final {
			return &ReadError{Err: err}
		}
		c.Data, c.Final = buf[:c.Fresh+n], final
		if c.first() {
			c.Binary = bytes.IndexByte(c.Data[:min(len(c.Data), binarySniff)], 0) >= 0
		}
		if err := emit(c); err != nil || final {
			return err
		}
		drop := len(c.Data) - MaxContext
		c.Line += bytes.Count(c.Data[:drop], []byte{'\n'})
		c.Offset += int64(drop)
		c.Fresh = copy(buf, c.Data[drop:])
	}
}

// eofAtSize reads a regular file and reports io.EOF with a short read that
// ends at the size the file had when it was opened, saving the extra read
// that would return 0: one syscall in three for a typical small file. A
// short read elsewhere (interrupted, or the file changed) reads on as usual.
type eofAtSize struct {
	f         io.Reader
	size, off int64
}

func (r *eofAtSize) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.off += int64(n)
	if err == nil && n < len(p) && r.off == r.size {
		err = io.EOF
	}
	return n, err
}
