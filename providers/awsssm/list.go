package awsssm

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/internal/awsbase"
)

// pathPage is the GetParametersByPath page asked for: AWS's largest.
const pathPage = 10

// List reads every parameter under the path, decrypted, page by page (the
// pages are a chain of tokens, so they cannot be fetched in parallel).
//
// A SecureString whose KMS key the caller may not use makes Parameter
// Store refuse its whole page. Then the path is listed again without
// decryption: String and StringList values come with the listing, and each
// SecureString not yet seen is read on its own (concurrently, within the
// store's bound), so only the refused one carries an error.
func (s *Store) List(ctx context.Context, fn func(providers.Entry) error) error {
	seen := map[string]bool{}
	err := s.pages(ctx, true, func(p types.Parameter) error {
		seen[aws.ToString(p.Name)] = true
		return fn(s.entry(p))
	})
	if err == nil || ctx.Err() != nil || awsbase.Code(err) != "AccessDeniedException" {
		return err
	}
	s.log.Warn("a SecureString could not be decrypted; listing again without decryption and reading each SecureString on its own",
		"store", s.uri(s.path))
	return s.listOneByOne(ctx, seen, fn)
}

// pages calls each for every parameter under the path.
func (s *Store) pages(ctx context.Context, decrypt bool, each func(types.Parameter) error) error {
	pages := ssm.NewGetParametersByPathPaginator(s.api, &ssm.GetParametersByPathInput{
		Path:           aws.String(s.path),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(decrypt),
		MaxResults:     aws.Int32(pathPage),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return awsbase.Wrap(err, "list "+s.uri(s.path))
		}
		for _, p := range page.Parameters {
			if err := each(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// listOneByOne lists without decryption and reads SecureStrings one by one,
// skipping the parameters already delivered.
func (s *Store) listOneByOne(ctx context.Context, seen map[string]bool, fn func(providers.Entry) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.limit)
	var mu sync.Mutex
	deliver := func(e providers.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(e)
	}
	listErr := s.pages(gctx, false, func(p types.Parameter) error {
		name := aws.ToString(p.Name)
		if seen[name] {
			return nil
		}
		seen[name] = true
		if p.Type != types.ParameterTypeSecureString {
			return deliver(s.entry(p))
		}
		g.Go(func() error {
			e, err := s.Get(gctx, name)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if errors.Is(err, providers.ErrNotFound) {
					return nil // deleted since it was listed
				}
				e = providers.Entry{Name: name, URI: s.uri(name), Kind: s.entry(p).Kind, Err: err}
			}
			return deliver(e)
		})
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return listErr
}
