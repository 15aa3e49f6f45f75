//go:build unix

package filerot

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// identity is what the file system says about one file: enough to tell it
// apart from any other file, to see whether it changed, and to give its
// replacement the same owner and mode.
type identity struct {
	dev, ino uint64
	nlink    uint64
	uid, gid int
	mode     uint32 // permission, setuid, setgid and sticky bits
	regular  bool
	size     int64
	mtime    int64 // nanoseconds
	ctime    int64 // nanoseconds; 0 where the platform has none
}

func identityOf(st *unix.Stat_t) identity {
	return identity{
		dev: uint64(st.Dev), ino: st.Ino, nlink: uint64(st.Nlink), //nolint:unconvert // widths differ by platform
		uid: int(st.Uid), gid: int(st.Gid), mode: uint32(st.Mode) & 0o7777, //nolint:unconvert // widths differ by platform
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}

func fstat(f *os.File) (identity, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return identity{}, &os.PathError{Op: "stat", Path: f.Name(), Err: err}
	}
	return identityOf(&st), nil
}

// stat follows symbolic links, unlike lstat.
func stat(path string) (identity, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return identity{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return identityOf(&st), nil
}

func lstat(path string) (identity, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return identity{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return identityOf(&st), nil
}

// openNoFollow opens a file without following a symbolic link in its last
// component: a link swapped in after planning must not redirect a write.
func openNoFollow(path string, flag int) (*os.File, error) {
	return openFile(path, flag|unix.O_NOFOLLOW, 0)
}

// openFile opens a regular file without the netpoller: os.OpenFile tries
// to register every file with epoll, which refuses regular files, costing
// syscalls that add up over thousands of files.
func openFile(path string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := unix.Open(path, flag|unix.O_CLOEXEC, perm)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// isSymlinkErr reports the error O_NOFOLLOW gives for a symbolic link.
func isSymlinkErr(err error) bool { return errors.Is(err, unix.ELOOP) }

// lockFile takes a shared-nothing advisory lock without waiting, so a
// program that locks its file while editing it is never raced.
func lockFile(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

// writable reports whether this process may write path by its permission
// bits. Root may write anything, so for root only the bits themselves (the
// read-only check) speak for the owner's intent.
func writable(path string) error {
	if euid == 0 {
		return nil
	}
	return unix.Access(path, unix.W_OK)
}

// euid is read once: os.Geteuid is a system call.
var euid = os.Geteuid()

// keepOwner gives f the owner and group of id, when they differ.
func keepOwner(f *os.File, id identity) error {
	cur, err := fstat(f)
	if err != nil {
		return err
	}
	if cur.uid == id.uid && cur.gid == id.gid {
		return nil
	}
	return f.Chown(id.uid, id.gid)
}

// setMode gives f the permission bits of id, setuid, setgid and sticky
// included. It runs after keepOwner, since chown clears setuid and setgid.
func setMode(f *os.File, id identity) error {
	return unix.Fchmod(int(f.Fd()), id.mode)
}

// Errno classes the messages care about.
func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
func isTooBig(err error) bool     { return errors.Is(err, unix.EFBIG) }
func isReadOnlyFS(err error) bool { return errors.Is(err, unix.EROFS) }
func isPermission(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// isMountPoint reports the errors rename gives when the target cannot be
// replaced by a file of its directory (a bind-mounted single file, as
// Docker mounts .env files): the file is then rewritten in place.
func isMountPoint(err error) bool { return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EXDEV) }
