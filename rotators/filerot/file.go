package filerot

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/rotators/rewrite"
	"github.com/rekeyhq/rekey/scanner"
)

// file is one file location.
type file struct {
	l       *Locator
	display string   // the path as walked, slash-separated, for people
	path    string   // absolute, directories' links resolved: what is written
	id      identity // at plan time
	dirID   identity // of its directory, at plan time
	aliases []string // other hard links to the same file, as walked
}

var _ rotators.Location = (*file)(nil)

func (f *file) Address() scanner.Location {
	return scanner.Location{Kind: scanner.KindFile, URI: "file:" + f.display, Path: f.display}
}

func (f *file) Ref() string { return f.path }

func (f *file) Read(_ context.Context, k rotators.Keys) (rotators.State, error) {
	var newKey *rewrite.Key
	if k.New != "" {
		newKey = f.l.key(k.New)
	}
	return f.read(f.l.key(k.Old), newKey)
}

func (f *file) read(oldKey, newKey *rewrite.Key) (rotators.State, error) {
	fd, err := openNoFollow(f.path, os.O_RDONLY)
	if err != nil {
		return rotators.State{}, describe("open it", err)
	}
	defer func() { _ = fd.Close() }()
	id, err := fstat(fd)
	if err != nil {
		return rotators.State{}, describe("stat it", err)
	}
	if !id.regular {
		return rotators.State{}, fmt.Errorf("%w: not a regular file", rotators.ErrChanged)
	}
	data, err := readAll(fd, id.size)
	if err != nil {
		return rotators.State{}, err
	}
	return stateOf(data, oldKey, newKey), nil
}

func readAll(fd *os.File, size int64) ([]byte, error) {
	if size > MaxSize {
		return nil, errTooLarge
	}
	buf := make([]byte, size+1) // one byte more: reaching EOF takes no second buffer
	n, err := io.ReadFull(fd, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return buf[:n], nil
	case err != nil:
		return nil, describe("read it", err)
	}
	// The file grew since it was looked at: read the rest, within bounds.
	rest, err := io.ReadAll(io.LimitReader(fd, MaxSize+1-int64(n)))
	if err != nil {
		return nil, describe("read it", err)
	}
	if buf = append(buf, rest...); len(buf) > MaxSize {
		return nil, errTooLarge
	}
	return buf, nil
}

// Write replaces every copy of c.From by c.To, atomically (see the package
// comment). The state returned counts c.From as Old and c.To as New.
func (f *file) Write(ctx context.Context, c rotators.Change) (rotators.State, error) {
	if err := ctx.Err(); err != nil {
		return rotators.State{}, err
	}
	from, to := f.l.key(c.From), f.l.key(c.To)
	// The path must still lead to the directory the plan resolved, or a
	// link swapped in since could carry the write out of the scanned paths.
	if dir, err := stat(filepath.Dir(f.path)); err != nil || dir.dev != f.dirID.dev || dir.ino != f.dirID.ino {
		return rotators.State{}, fmt.Errorf("%w: a directory on its path changed (a symbolic link swapped in?)", rotators.ErrChanged)
	}
	fd, err := openNoFollow(f.path, os.O_RDONLY)
	if err != nil {
		return rotators.State{}, describe("open it", err)
	}
	defer func() { _ = fd.Close() }()
	id, err := fstat(fd)
	if err != nil {
		return rotators.State{}, describe("stat it", err)
	}
	if err := checkWritable(fd, f.path, id); err != nil {
		return rotators.State{}, err
	}
	data, err := readAll(fd, id.size)
	if err != nil {
		return rotators.State{}, err
	}
	if hashOf(data) != c.Expect {
		return rotators.State{}, fmt.Errorf("%w: its content is not what the plan read; nothing was written", rotators.ErrChanged)
	}
	out, n := rewrite.Replace(data, from, to)
	if n.Total() == 0 {
		return rotators.State{}, fmt.Errorf("%w: no copy of the key left to replace", rotators.ErrChanged)
	}
	after := hashOf(out)
	if c.Want != "" && after != c.Want {
		return rotators.State{}, fmt.Errorf("%w: putting the key back would not give the bytes the run found there", rotators.ErrChanged)
	}
	detail := copies(n)
	inPlace := id.nlink > 1
	if !inPlace {
		err = f.replace(out, id)
		if isMountPoint(err) {
			inPlace, err = true, nil
		}
	}
	if inPlace {
		err = f.overwrite(data, out, from, id)
		detail += fmt.Sprintf("; rewritten in place (%d hard links)", id.nlink)
		if id.nlink <= 1 {
			detail = copies(n) + "; rewritten in place (cannot be renamed over: a mount point?)"
		}
	}
	if err != nil {
		return rotators.State{}, err
	}
	if len(f.aliases) > 0 {
		detail += "; also linked as " + strings.Join(f.aliases, ", ")
	}
	return rotators.State{New: to.Count(out).Total(), Hash: after, Detail: detail}, nil
}

// checkWritable fails a file marked read-only, one this user may not
// write, and one another process holds a lock on.
func checkWritable(fd *os.File, path string, id identity) error {
	if !id.regular {
		return fmt.Errorf("%w: no longer a regular file", rotators.ErrChanged)
	}
	if id.mode&0o222 == 0 {
		return fmt.Errorf("%w file (mode %04o): rekey leaves files marked read-only alone; make it writable (chmod u+w) to rotate it",
			rotators.ErrReadOnly, id.mode)
	}
	if err := writable(path); err != nil {
		return fmt.Errorf("permission denied: this user may not write the file (%s)", errText(err))
	}
	if err := lockFile(fd); errors.Is(err, errLocked) {
		return fmt.Errorf("%w (flock); run again once it is released", rotators.ErrLocked)
	}
	// Other lock errors (a file system without flock) do not stop the
	// write: the lock is a courtesy to cooperating programs.
	return nil
}

// replace writes out to a temporary file beside the original and renames
// it over the original.
func (f *file) replace(out []byte, id identity) (err error) {
	dir := filepath.Dir(f.path)
	tmp, err := createTemp(dir, filepath.Base(f.path))
	if err != nil {
		return describe("create a temporary file in "+dir, err)
	}
	name, renamed := tmp.Name(), false
	defer func() {
		if !renamed {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err := tmp.Write(out); err != nil {
		return describe("write the new content", err)
	}
	if err := keepOwner(tmp, id); err != nil {
		return fmt.Errorf("could not give the new file its owner (uid %d, gid %d): %s; the file is unchanged", id.uid, id.gid, errText(err))
	}
	if err := setMode(tmp, id); err != nil {
		return describe("set the mode", err)
	}
	// The data must be on disk before the rename is, or a power cut could
	// leave the new name pointing at an empty file.
	if err := f.l.durable.sync(tmp, id.dev); err != nil {
		return describe("sync the new content", err)
	}
	if err := tmp.Close(); err != nil {
		return describe("close the new content", err)
	}
	// The last compare before the swap: still the very file that was read,
	// untouched since.
	if now, err := lstat(f.path); err != nil || now.dev != id.dev || now.ino != id.ino ||
		now.size != id.size || now.mtime != id.mtime || now.ctime != id.ctime {
		return fmt.Errorf("%w: it changed while being rewritten; nothing was written", rotators.ErrChanged)
	}
	if err := os.Rename(name, f.path); err != nil {
		return fmt.Errorf("could not rename the new content into place: %w", err)
	}
	renamed = true
	f.l.markDirty(dir)
	return nil
}

// overwrite rewrites the copies of the key in place, for files whose
// inode must stay (hard links, mount points). Each copy is one positioned
// write.
func (f *file) overwrite(data, out []byte, from *rewrite.Key, id identity) error {
	w, err := openNoFollow(f.path, os.O_WRONLY)
	if err != nil {
		return describe("open it for writing", err)
	}
	defer func() { _ = w.Close() }()
	now, err := fstat(w)
	if err != nil || now.dev != id.dev || now.ino != id.ino || now.size != id.size || now.mtime != id.mtime {
		return fmt.Errorf("%w: it changed while being rewritten; nothing was written", rotators.ErrChanged)
	}
	for i, s := range from.Spans(data) {
		if _, err := w.WriteAt(out[s.Start:s.End], int64(s.Start)); err != nil {
			if i == 0 {
				return describe("write it", err)
			}
			return fmt.Errorf("writing in place failed after %d of the copies (%s); run again to finish", i, errText(err))
		}
	}
	if err := w.Sync(); err != nil {
		return describe("sync it", err)
	}
	return nil
}

// tempPattern recognises the temporary files rekey creates, so a later run
// can remove those an interrupted run left.
var tempPattern = regexp.MustCompile(`^\..+\.rekey-[0-9a-z]{8}\.tmp$`)

func isTemp(name string) bool {
	// The cheap test first: this runs for every file of the tree.
	return strings.HasSuffix(name, ".tmp") && strings.Contains(name, ".rekey-") && tempPattern.MatchString(name)
}

// createTemp creates a new, empty temporary file of mode 0600 for the file
// base in dir.
func createTemp(dir, base string) (*os.File, error) {
	const maxBase = 200 // names are limited to 255 bytes
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	for {
		var random [5]byte
		_, _ = rand.Read(random[:])
		suffix := strings.ToLower(base32.StdEncoding.EncodeToString(random[:])) // 8 characters
		name := filepath.Join(dir, "."+base+".rekey-"+suffix+".tmp")
		f, err := openFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
}

// describe turns a file system error into a reason for the report. Every
// failure before the rename leaves the file unchanged, and says so.
func describe(op string, err error) error {
	switch {
	case isSymlinkErr(err):
		return fmt.Errorf("%w: it became a symbolic link; nothing was written", rotators.ErrChanged)
	case errors.Is(err, fs.ErrNotExist) && op == "open it":
		return fmt.Errorf("%w: it no longer exists", rotators.ErrChanged)
	case isNoSpace(err):
		return fmt.Errorf("could not %s: no space left on the device; the file is unchanged", op)
	case isTooBig(err):
		return fmt.Errorf("could not %s: the file size limit was exceeded; the file is unchanged", op)
	case isReadOnlyFS(err):
		return fmt.Errorf("could not %s: read-only file system; the file is unchanged", op)
	case isPermission(err):
		return fmt.Errorf("could not %s: permission denied; the file is unchanged", op)
	}
	return fmt.Errorf("could not %s: %s; the file is unchanged", op, errText(err))
}

// errText is the system's reason without the path a PathError repeats.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return scanner.Scrub(err.Error())
}
