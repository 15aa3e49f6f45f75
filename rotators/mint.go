package rotators

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rekeyhq/rekey/scanner"
)

// mint creates the new key. The API shows a minted key once, so it is
// stored (in o.Mint.To, when set) before mint returns; if that fails the
// key is revoked at once, so no live key is left that nobody holds. It
// returns the key and the key that authorised it.
func (e *Engine) mint(ctx context.Context, old scanner.Secret, o RotateOptions, runID string) (key, auth scanner.Secret, err error) {
	if e.API == nil {
		return "", "", fmt.Errorf("%w: minting needs the Perplexity API, and the run is offline", ErrCannotMint)
	}
	auth = o.AdminKey
	if auth == "" {
		st, reason := e.API.Check(ctx, old)
		if st != StatusLive {
			return "", "", fmt.Errorf("%w: the old key is %s%s and no admin key was given to authorise it",
				ErrCannotMint, st, because(reason))
		}
		auth = old
	}
	name := o.Mint.Name
	if name == "" {
		name = "rekey-" + runID
	}
	key, err = e.API.Generate(ctx, auth, name)
	if err != nil {
		return "", "", fmt.Errorf("mint a new key: %s", scanner.Scrub(err.Error()))
	}
	if o.Mint.To != "" {
		if err := writeKeyFile(o.Mint.To, key); err != nil {
			r := &Report{NewKey: keyReport(key)}
			e.revokeMinted(ctx, r, auth, key, "", "it could not be stored")
			return "", "", fmt.Errorf("store the minted key: %w; %s", err, r.NewKey.Detail)
		}
	}
	if st, reason := e.API.Check(ctx, key); st == StatusInvalid {
		r := &Report{NewKey: keyReport(key)}
		e.revokeMinted(ctx, r, auth, key, o.Mint.To, "it answers invalid")
		return "", "", fmt.Errorf("%w: the minted key answers invalid%s", ErrNotLive, because(reason))
	}
	return key, auth, nil
}

// revokeMinted revokes a minted key that no location holds, and removes
// the file it was stored in, since a revoked key there would mislead.
func (e *Engine) revokeMinted(ctx context.Context, r *Report, auth, key scanner.Secret, file, why string) {
	if err := e.API.Revoke(ctx, auth, key); err != nil {
		r.NewKey.Detail = fmt.Sprintf("the minted key %s could NOT be revoked (%s); revoke it in the Perplexity console",
			key.KeyID(), scanner.Scrub(err.Error()))
		r.Failures = append(r.Failures, r.NewKey.Detail)
		return
	}
	r.NewKey.Revoked = true
	r.NewKey.Detail = "the minted key was revoked: " + why
	if file != "" {
		if err := os.Remove(file); err == nil {
			r.NewKey.Detail += "; " + file + " removed"
			r.NewKey.WrittenTo = ""
		}
	}
}

// writeKeyFile stores a minted key in a new file of mode 0600 and makes it
// durable. It never overwrites: the file may hold another key.
func writeKeyFile(path string, key scanner.Secret) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := f.WriteString(key.Reveal() + "\n"); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries durable. Some platforms cannot sync
// a directory; that is not an error there.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
