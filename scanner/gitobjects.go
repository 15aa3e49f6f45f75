package scanner

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// objectStore reads the objects of one repository for a history scan. There
// are two: go-git, always available, and the git CLI, faster on big packed
// repositories. Both hand out the same bytes, decoded by the same go-git
// decoders, so they give the same findings.
type objectStore interface {
	// object reads one whole object; it is used for commits, trees and tags,
	// which are small.
	object(h plumbing.Hash) (*rawObject, error)
	// blobs passes each wanted blob to fn, in whatever order is cheapest
	// for the store, with its size. A blob that cannot be read is passed
	// with a nil reader and the reason; one the store already knows to hold
	// no key is passed with a nil reader and no error, to be counted only.
	// An error from fn ends the iteration and is returned.
	blobs(ctx context.Context, want []plumbing.Hash, fn func(h plumbing.Hash, r io.Reader, size int64, err error) error) error
	close() error
}

// goGitStore reads objects with go-git: pure Go, nothing executed.
type goGitStore struct{ repo *gitRepo }

func (s goGitStore) object(h plumbing.Hash) (*rawObject, error) {
	obj, err := s.repo.storage.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, err
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return &rawObject{id: h, typ: obj.Type(), data: data}, nil
}

// blobs reads the wanted blobs in pack order first, which lets go-git
// resolve each delta right after its base (several times faster than
// reading them in walk order), then reads any left one by one: loose
// objects iterated separately, and blobs the iteration could not reach
// (a corrupt pack), which are then reported individually.
func (s goGitStore) blobs(ctx context.Context, want []plumbing.Hash, fn func(plumbing.Hash, io.Reader, int64, error) error) error {
	if len(want) == 0 {
		return nil
	}
	pending := make(map[plumbing.Hash]bool, len(want))
	for _, h := range want {
		pending[h] = true
	}
	if iter, err := s.repo.storage.IterEncodedObjects(plumbing.BlobObject); err == nil {
		var fnErr error
		_ = iter.ForEach(func(obj plumbing.EncodedObject) error {
			h := obj.Hash()
			if !pending[h] {
				return nil
			}
			delete(pending, h)
			if fnErr = ctx.Err(); fnErr != nil {
				return fnErr
			}
			r, err := obj.Reader()
			if err != nil {
				fnErr = fn(h, nil, 0, err)
				return fnErr
			}
			defer func() { _ = r.Close() }()
			if fnErr = fn(h, r, obj.Size(), nil); fnErr != nil {
				return fnErr
			}
			if len(pending) == 0 {
				return storer.ErrStop
			}
			return nil
		})
		iter.Close()
		if fnErr != nil {
			return fnErr
		}
	}
	for _, h := range want {
		if !pending[h] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.blob(h, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s goGitStore) blob(h plumbing.Hash, fn func(plumbing.Hash, io.Reader, int64, error) error) error {
	obj, err := s.repo.storage.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return fn(h, nil, 0, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return fn(h, nil, 0, err)
	}
	defer func() { _ = r.Close() }()
	return fn(h, r, obj.Size(), nil)
}

func (s goGitStore) close() error { return nil }

// rawObject is an object whose id and content are already known, so that
// go-git's decoders need not hash it again.
type rawObject struct {
	id   plumbing.Hash
	typ  plumbing.ObjectType
	data []byte
}

var _ plumbing.EncodedObject = (*rawObject)(nil)

func (o *rawObject) Hash() plumbing.Hash           { return o.id }
func (o *rawObject) Type() plumbing.ObjectType     { return o.typ }
func (o *rawObject) SetType(t plumbing.ObjectType) { o.typ = t }
func (o *rawObject) Size() int64                   { return int64(len(o.data)) }
func (o *rawObject) SetSize(int64)                 {}
func (o *rawObject) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(o.data)), nil
}
func (o *rawObject) Writer() (io.WriteCloser, error) { return nil, errReadOnlyObject }

var errReadOnlyObject = errors.New("object is read-only")
