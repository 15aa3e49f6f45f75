package awssm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/internal/awsbase"
)

// batchSize is the most secrets BatchGetSecretValue reads in one call.
const batchSize = 20

// listPage is the ListSecrets page asked for: AWS's largest.
const listPage = 100

// ref is a listed secret: the id to read it by (its ARN) and its name.
type ref struct{ id, name string }

// List reads every secret under the prefix. Listing and reading overlap:
// each full batch of listed names is read while the listing goes on, with
// at most the store's concurrency of reads in flight beside the one
// listing request. fn is called from one goroutine at a time.
func (s *Store) List(ctx context.Context, fn func(providers.Entry) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.limit)
	var mu sync.Mutex
	deliver := func(e providers.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(e)
	}
	// Go blocks while the limit is reached, which holds the listing back
	// until reads catch up.
	listErr := s.list(gctx, func(refs []ref) {
		if s.batchDenied.Load() {
			for _, r := range refs {
				g.Go(func() error { return s.readOne(gctx, r, deliver) })
			}
			return
		}
		g.Go(func() error { return s.readBatch(gctx, refs, deliver) })
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return listErr
}

// list pages through ListSecrets and hands the names under the prefix to
// read in batches of batchSize.
func (s *Store) list(ctx context.Context, read func([]ref)) error {
	in := &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(listPage)}
	// The name filter is a case-sensitive prefix match; a leading "!" would
	// negate it, so such a prefix is matched here only.
	if s.prefix != "" && !strings.HasPrefix(s.prefix, "!") {
		in.Filters = []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{s.prefix}}}
	}
	seen := map[string]bool{}
	var batch []ref
	flush := func() {
		if len(batch) > 0 {
			read(batch)
			batch = nil
		}
	}
	defer flush()
	pages := secretsmanager.NewListSecretsPaginator(s.api, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return awsbase.Wrap(err, "list "+s.uri(s.prefix))
		}
		for _, sec := range page.SecretList {
			name := aws.ToString(sec.Name)
			// Names are checked here too: a filter is only as exact as the
			// service makes it, and a page boundary can repeat a name.
			if !strings.HasPrefix(name, s.prefix) || seen[name] {
				continue
			}
			seen[name] = true
			id := aws.ToString(sec.ARN)
			if id == "" {
				id = name
			}
			batch = append(batch, ref{id: id, name: name})
			if len(batch) == batchSize {
				flush()
			}
		}
	}
	return nil
}

// readBatch reads up to batchSize secrets in one call. A secret the caller
// may not read comes back with its error and only its entry carries it; a
// call refused as a whole (no secretsmanager:BatchGetSecretValue) falls
// back to one GetSecretValue per secret; any other failure of the call
// (throttled beyond the retry bound, 5xx) is set on each of its entries.
func (s *Store) readBatch(ctx context.Context, refs []ref, deliver func(providers.Entry) error) error {
	ids := make([]string, len(refs))
	names := make(map[string]string, 2*len(refs))
	for i, r := range refs {
		ids[i] = r.id
		names[r.id], names[r.name] = r.name, r.name
	}
	out, err := s.api.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if awsbase.Code(err) == "AccessDeniedException" {
			if s.batchDenied.CompareAndSwap(false, true) {
				s.log.Warn("secretsmanager:BatchGetSecretValue is not allowed; reading secrets one at a time with GetSecretValue (about 20 times more calls)",
					"store", s.uri(s.prefix))
			}
			for _, r := range refs {
				if err := s.readOne(ctx, r, deliver); err != nil {
					return err
				}
			}
			return nil
		}
		failed := awsbase.Wrap(err, fmt.Sprintf("read %d secrets in one batch", len(refs)))
		for _, r := range refs {
			e := s.entry(r.name)
			e.Err = failed
			if err := deliver(e); err != nil {
				return err
			}
		}
		return nil
	}
	for _, v := range out.SecretValues {
		e := s.entry(aws.ToString(v.Name))
		e.Value, e.Version, e.Updated = valueOf(v.SecretString, v.SecretBinary), aws.ToString(v.VersionId), aws.ToTime(v.CreatedDate)
		if err := deliver(e); err != nil {
			return err
		}
	}
	for _, be := range out.Errors {
		code := aws.ToString(be.ErrorCode)
		if code == "ResourceNotFoundException" {
			// Deleted since it was listed, or it has no AWSCURRENT value:
			// nothing to read, nothing failed.
			continue
		}
		name, ok := names[aws.ToString(be.SecretId)]
		if !ok {
			name = aws.ToString(be.SecretId)
		}
		e := s.entry(name)
		e.Err = awsbase.Wrap(&smithy.GenericAPIError{Code: code, Message: aws.ToString(be.Message)}, "read "+s.uri(name))
		if err := deliver(e); err != nil {
			return err
		}
	}
	return nil
}

// readOne reads one secret with GetSecretValue.
func (s *Store) readOne(ctx context.Context, r ref, deliver func(providers.Entry) error) error {
	e, err := s.Get(ctx, r.name)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, providers.ErrNotFound) {
			return nil
		}
		e = s.entry(r.name)
		e.Err = err
	}
	return deliver(e)
}
