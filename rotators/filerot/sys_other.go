//go:build !unix

package filerot

import (
	"errors"
	"io/fs"
	"os"
)

// identity is what the file system says about one file. Without unix
// stat data, files are told apart by size and times only, links are not
// seen, and owners are not kept.
type identity struct {
	dev, ino uint64
	nlink    uint64
	uid, gid int
	mode     uint32
	regular  bool
	size     int64
	mtime    int64
	ctime    int64
}

func identityOf(info fs.FileInfo) identity {
	return identity{nlink: 1, mode: uint32(info.Mode().Perm()), regular: info.Mode().IsRegular(),
		size: info.Size(), mtime: info.ModTime().UnixNano()}
}

func fstat(f *os.File) (identity, error) {
	info, err := f.Stat()
	if err != nil {
		return identity{}, err
	}
	return identityOf(info), nil
}

func stat(path string) (identity, error) {
	info, err := os.Stat(path)
	if err != nil {
		return identity{}, err
	}
	return identityOf(info), nil
}

func lstat(path string) (identity, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return identity{}, err
	}
	return identityOf(info), nil
}

func openNoFollow(path string, flag int) (*os.File, error) {
	if info, err := os.Lstat(path); err == nil && info.Mode()&fs.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: path, Err: errSymlink}
	}
	return os.OpenFile(path, flag, 0)
}

func openFile(path string, flag int, perm uint32) (*os.File, error) {
	return os.OpenFile(path, flag, fs.FileMode(perm))
}

var errSymlink = errors.New("is a symbolic link")

func isSymlinkErr(err error) bool { return errors.Is(err, errSymlink) }

func lockFile(*os.File) error { return nil }

func writable(string) error { return nil }

func keepOwner(*os.File, identity) error { return nil }

func setMode(f *os.File, id identity) error { return f.Chmod(fs.FileMode(id.mode)) }

func isNoSpace(error) bool    { return false }
func isTooBig(error) bool     { return false }
func isReadOnlyFS(error) bool { return false }
func isPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission)
}
func isMountPoint(error) bool { return false }
