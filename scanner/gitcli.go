package scanner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// gitCLIStore reads objects with `git cat-file`, which inflates packed
// objects several times faster than go-git. It is an accelerator only:
// objects are decoded by the same code as in the pure go-git path.
//
// Scanning an untrusted repository must execute nothing from it, so only
// the cat-file plumbing is run, with every config-driven command disabled:
// no system or global config, no hooks, no fsmonitor, no pager, no
// replacement objects (they would hide content), no lazy fetching, and no
// filters or textconv (cat-file --batch applies none).
//
// For a full-history scan it reads the whole object database in one pass,
// in pack order, as `git cat-file --batch-all-objects` hands it out: commits,
// trees and tags are kept for the walk, and each blob is checked for keys
// right away, so that the blobs the walk finds reachable need not be read
// again unless they hold a key. A narrowed scan (--since-commit, --branch)
// asks for objects one at a time instead, reading only what it walks.
type gitCLIStore struct {
	git      string
	gitDir   string
	objects  map[plumbing.Hash]*rawObject // full: commits, trees and tags
	blobInfo map[plumbing.Hash]blobInfo   // full: every blob and what the first look found
	cat      *catFile                     // narrowed: one object at a time
	fallback objectStore
}

// blobInfo is what a full pass learned of one blob.
type blobInfo struct {
	size   int64
	data   []byte // the content, kept when it may hold a key and is small
	reread bool   // may hold a key but was too big to keep: read it again
}

// Limits of what a full pass keeps of blobs that may hold a key.
const (
	keepBlob   = ChunkSize // larger candidates are read again
	keepBudget = 64 << 20  // in all; beyond it, read again
)

var _ objectStore = (*gitCLIStore)(nil)

// newGitCLIStore starts the store; full says the whole history is wanted.
func newGitCLIStore(ctx context.Context, gitPath string, repo *gitRepo, fallback objectStore, full bool, p Progress) (*gitCLIStore, error) {
	s := &gitCLIStore{git: gitPath, gitDir: repo.commonDir, fallback: fallback}
	if !full {
		cat, err := startCatFile(ctx, gitPath, repo.commonDir)
		if err != nil {
			return nil, err
		}
		s.cat = cat
		return s, nil
	}
	s.objects = map[plumbing.Hash]*rawObject{}
	s.blobInfo = map[plumbing.Hash]blobInfo{}
	var mem arena
	small := make([]byte, keepBlob)
	chunk := make([]byte, MaxContext+ChunkSize)
	kept := 0
	var matches []Match
	var read, readBytes int64
	err := s.run(ctx, nil, func(out *bufio.Reader) error {
		return readBatch(out, func(h plumbing.Hash, typ string, r io.Reader, size int64) error {
			if r == nil {
				return nil
			}
			read++
			readBytes += size
			if p != nil && read%4096 == 0 {
				p.Objects(read, readBytes)
			}
			if typ != "blob" {
				t, err := plumbing.ParseObjectType(typ)
				if err != nil {
					return fmt.Errorf("object %s: %w", h, err)
				}
				data := mem.alloc(int(size))
				if _, err := io.ReadFull(r, data); err != nil {
					return fmt.Errorf("read object %s: %w", h, err)
				}
				s.objects[h] = &rawObject{id: h, typ: t, data: data}
				return nil
			}
			info := blobInfo{size: size}
			if size <= keepBlob {
				data := small[:size]
				if _, err := io.ReadFull(r, data); err != nil {
					return fmt.Errorf("read blob %s: %w", h, err)
				}
				if matches = FindKeys(matches[:0], data, true); len(matches) > 0 {
					if kept+len(data) <= keepBudget {
						info.data = bytes.Clone(data)
						kept += len(data)
					} else {
						info.reread = true
					}
				}
			} else {
				// The same chunks as the scan proper, so the same matches.
				_ = StreamChunks(r, chunk, Chunk{}, func(c Chunk) error {
					if matches = FindKeys(matches[:0], c.Data, c.Final); len(matches) > 0 {
						info.reread = true
					}
					return nil
				})
			}
			s.blobInfo[h] = info
			return nil
		})
	}, "cat-file", "--batch-all-objects", "--unordered", "--batch")
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *gitCLIStore) object(h plumbing.Hash) (*rawObject, error) {
	if s.cat != nil {
		o, err := s.cat.object(h)
		if isMissing(err) {
			return s.fallback.object(h) // go-git says what is wrong with it
		}
		return o, err
	}
	if o, ok := s.objects[h]; ok {
		return o, nil
	}
	return s.fallback.object(h)
}

// blobs hands out the wanted blobs: after a full pass, those that hold no
// key as known-clean (nil reader) and those that may from memory or from a
// second, small cat-file pass; when narrowed, all through one cat-file
// pass. Blobs git does not have go to the fallback, which reports them.
func (s *gitCLIStore) blobs(ctx context.Context, want []plumbing.Hash, fn func(plumbing.Hash, io.Reader, int64, error) error) error {
	var again, rest []plumbing.Hash
	for _, h := range want {
		if s.blobInfo == nil {
			again = append(again, h)
			continue
		}
		info, ok := s.blobInfo[h]
		var err error
		switch {
		case !ok:
			rest = append(rest, h)
		case info.reread:
			again = append(again, h)
		case info.data != nil:
			err = fn(h, bytes.NewReader(info.data), info.size, nil)
		default:
			err = fn(h, nil, info.size, nil)
		}
		if err != nil {
			return err
		}
	}
	done := 0
	err := s.batch(ctx, feed(ctx, again), func(h plumbing.Hash, _ string, r io.Reader, size int64) error {
		done++
		if r == nil {
			rest = append(rest, h) // the fallback reports it
			return nil
		}
		return fn(h, r, size, nil)
	})
	var fnErr *consumerError
	if errors.As(err, &fnErr) {
		return fnErr.err
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// git failed part way: read what is left with go-git.
		rest = append(rest, again[done:]...)
	}
	return s.fallback.blobs(ctx, rest, fn)
}

func (s *gitCLIStore) close() error {
	s.objects, s.blobInfo = nil, nil
	if s.cat != nil {
		return s.cat.close()
	}
	return nil
}

// consumerError wraps an error of the callback given to batch, to tell it
// apart from a failure of git.
type consumerError struct{ err error }

func (e *consumerError) Error() string { return e.err.Error() }

// batch feeds ids to `git cat-file --batch` and passes each object to fn
// (see readBatch). An error of fn is returned as a *consumerError.
func (s *gitCLIStore) batch(ctx context.Context, ids <-chan plumbing.Hash, fn func(h plumbing.Hash, typ string, r io.Reader, size int64) error) error {
	return s.run(ctx, ids, func(out *bufio.Reader) error { return readBatch(out, fn) }, "cat-file", "--batch", "--buffer")
}

// readBatch parses `git cat-file --batch` output and passes each object's
// id, type and content to fn, which may read up to size bytes of it. An
// object git reports missing is passed with a nil reader. An error of fn
// is returned as a *consumerError.
func readBatch(out *bufio.Reader, fn func(h plumbing.Hash, typ string, r io.Reader, size int64) error) error {
	for {
		line, err := out.ReadSlice('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cat-file: %w", err)
		}
		fields := strings.Fields(string(line))
		if len(fields) < 2 || !plumbing.IsHash(fields[0]) {
			return fmt.Errorf("cat-file: unexpected header %q", Scrub(string(line)))
		}
		h := plumbing.NewHash(fields[0])
		if len(fields) == 2 && fields[1] == "missing" {
			if err := fn(h, "", nil, 0); err != nil {
				return &consumerError{err: err}
			}
			continue
		}
		if len(fields) != 3 {
			return fmt.Errorf("cat-file: unexpected header %q", Scrub(string(line)))
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("cat-file: bad size in %q", Scrub(string(line)))
		}
		body := &io.LimitedReader{R: out, N: size}
		if err := fn(h, fields[1], body, size); err != nil {
			return &consumerError{err: err}
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return fmt.Errorf("cat-file: %w", err)
		}
		if b, err := out.ReadByte(); err != nil || b != '\n' {
			return errors.New("cat-file: object not followed by a newline")
		}
	}
}

// feed sends ids on a channel, closed at the end.
func feed(ctx context.Context, ids []plumbing.Hash) <-chan plumbing.Hash {
	ch := make(chan plumbing.Hash, 1024)
	go func() {
		defer close(ch)
		for _, h := range ids {
			select {
			case ch <- h:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// run starts git with args, writes the ids it receives to git's stdin, one
// per line, and hands git's stdout to read. The process is killed if read
// stops early.
func (s *gitCLIStore) run(ctx context.Context, ids <-chan plumbing.Hash, read func(*bufio.Reader) error, args ...string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := safeGit(ctx, s.git, s.gitDir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git %s: %w", args[0], err)
	}
	growPipe(stdout)
	var stdin io.WriteCloser
	if ids != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return fmt.Errorf("git %s: %w", args[0], err)
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git %s: %w", args[0], err)
	}
	var wg sync.WaitGroup
	if stdin != nil {
		wg.Go(func() {
			bw := bufio.NewWriterSize(stdin, 64<<10)
			var line [2*len(plumbing.ZeroHash) + 1]byte
			line[len(line)-1] = '\n'
			failed := false
			for h := range ids {
				if failed {
					continue // keep draining so that the sender never blocks
				}
				hex.Encode(line[:], h[:])
				if _, err := bw.Write(line[:]); err != nil {
					failed = true
				}
			}
			_ = bw.Flush()
			_ = stdin.Close()
		})
	}
	readErr := read(bufio.NewReaderSize(stdout, 1<<20))
	if readErr != nil {
		cancel()
	}
	wg.Wait()
	waitErr := cmd.Wait()
	switch {
	case readErr != nil:
		return readErr
	case waitErr != nil:
		return fmt.Errorf("git %s: %w: %s", args[0], waitErr, Scrub(strings.TrimSpace(stderr.String())))
	}
	return nil
}

// safeGit builds a git command that reads the repository at gitDir and
// executes nothing the repository's config or environment could name.
func safeGit(ctx context.Context, gitPath, gitDir string, args ...string) *exec.Cmd {
	global := []string{
		"--no-replace-objects",
		"-c", "core.fsmonitor=false",
		"-c", "core.hooksPath=" + os.DevNull,
		"-c", "core.pager=cat",
		"-c", "core.sshCommand=false",
		"-c", "protocol.allow=never",
		"-c", "credential.helper=",
	}
	cmd := exec.CommandContext(ctx, gitPath, append(global, args...)...)
	cmd.Dir = gitDir
	env := make([]string, 0, len(os.Environ())+12)
	for _, kv := range os.Environ() {
		// Inherited GIT_* variables (a hook's GIT_DIR, GIT_INDEX_FILE,
		// GIT_CONFIG_PARAMETERS…) could redirect or reconfigure git.
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GIT_DIR="+gitDir,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_NO_REPLACE_OBJECTS=1",
		"GIT_NO_LAZY_FETCH=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_OPTIONAL_LOCKS=0",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_PAGER=cat",
		"PAGER=cat",
	)
	cmd.Env = env
	return cmd
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// catFile is one interactive `git cat-file --batch` process: ask for an
// object, read it, ask for the next. The staged scan uses it because git
// finds an object in a pack by a binary search of the pack index, while
// go-git first loads the whole index, a cost that grows with the repository.
type catFile struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	cancel context.CancelFunc
	line   [2*len(plumbing.ZeroHash) + 1]byte
}

func startCatFile(ctx context.Context, gitPath, gitDir string) (*catFile, error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := safeGit(ctx, gitPath, gitDir, "cat-file", "--batch")
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	return &catFile{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 64<<10), cancel: cancel}, nil
}

// read asks for one object and passes its type and content to fn, which
// may read up to size bytes. A missing object is errMissingObject.
func (c *catFile) read(h plumbing.Hash, fn func(typ string, r io.Reader, size int64) error) error {
	hex.Encode(c.line[:], h[:])
	c.line[len(c.line)-1] = '\n'
	if _, err := c.in.Write(c.line[:]); err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	header, err := c.out.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	fields := strings.Fields(string(header))
	switch {
	case len(fields) == 2 && fields[1] == "missing":
		return fmt.Errorf("%w: %s", errMissingObject, h)
	case len(fields) != 3 || fields[0] != h.String():
		return fmt.Errorf("git cat-file: unexpected header %q", Scrub(string(header)))
	}
	size, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil {
		return fmt.Errorf("git cat-file: bad size in %q", Scrub(string(header)))
	}
	body := &io.LimitedReader{R: c.out, N: size}
	fnErr := fn(fields[1], body, size)
	// Stay in step with git whatever fn read.
	if _, err := io.Copy(io.Discard, body); err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	if b, err := c.out.ReadByte(); err != nil || b != '\n' {
		return errors.New("git cat-file: object not followed by a newline")
	}
	return fnErr
}

// object reads a whole (small) object.
func (c *catFile) object(h plumbing.Hash) (*rawObject, error) {
	var obj *rawObject
	err := c.read(h, func(typ string, r io.Reader, size int64) error {
		t, err := plumbing.ParseObjectType(typ)
		if err != nil {
			return fmt.Errorf("object %s: %w", h, err)
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("read object %s: %w", h, err)
		}
		obj = &rawObject{id: h, typ: t, data: data}
		return nil
	})
	return obj, err
}

func (c *catFile) close() error {
	_ = c.in.Close()
	err := c.cmd.Wait()
	c.cancel()
	return err
}

// arena hands out byte slices from large blocks: the walk keeps every
// commit and tree in memory, and one allocation per object would cost more
// in allocation and garbage collection than reading them.
type arena struct{ block []byte }

const arenaBlock = 4 << 20

func (a *arena) alloc(n int) []byte {
	if n > arenaBlock/8 {
		return make([]byte, n)
	}
	if len(a.block)+n > cap(a.block) {
		a.block = make([]byte, 0, arenaBlock)
	}
	a.block = a.block[:len(a.block)+n]
	return a.block[len(a.block)-n : len(a.block) : len(a.block)]
}
