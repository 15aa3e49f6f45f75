// Package awssm is the AWS Secrets Manager store, aws-sm://REGION/[PREFIX]:
// every secret whose name starts with PREFIX, read through aws-sdk-go-v2.
//
// Listing pages through ListSecrets (filtered by name prefix) and reads
// values 20 at a time with BatchGetSecretValue, falling back to one
// GetSecretValue per secret when the caller may not batch. A value is the
// secret's AWSCURRENT SecretString (plain text or JSON, whose fields the
// scanner walks) or SecretBinary. Writes add a version with PutSecretValue,
// which AWS makes AWSCURRENT (the version it replaces becomes AWSPREVIOUS);
// a rollback moves AWSCURRENT back with UpdateSecretVersionStage.
//
// Credentials, endpoint (AWS_ENDPOINT_URL) and, for the host "default", the
// region come from the standard AWS chain. Throttling and 5xx answers are
// retried with backoff, a bounded number of times; requests in flight are
// bounded per store (default 4, or ?concurrency=N in the URI).
package awssm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/internal/awsbase"
	"github.com/rekeyhq/rekey/scanner"
)

// Scheme is the store's URI scheme.
const Scheme = "aws-sm"

// stageCurrent is the version stage AWS reads by default.
const stageCurrent = "AWSCURRENT"

// API is the part of the Secrets Manager client a store uses.
type API interface {
	secretsmanager.ListSecretsAPIClient
	BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// Options tune a store beyond its URI (which wins for the region, the
// profile and ?concurrency=N); they are the options every AWS store shares.
type Options = awsbase.Options

// Store is one Secrets Manager name prefix in one region.
type Store struct {
	api    API
	region string
	prefix string
	limit  int
	log    *slog.Logger
	// batchDenied remembers that the caller may not batch, so later
	// batches go straight to one read per secret.
	batchDenied atomic.Bool
}

var (
	_ providers.Provider   = (*Store)(nil)
	_ providers.Rollbacker = (*Store)(nil)
)

// Open opens aws-sm://REGION/[PREFIX][?concurrency=N&profile=NAME].
func Open(ctx context.Context, u *url.URL) (providers.Provider, error) {
	return OpenWith(ctx, u, Options{})
}

// OpenWith is Open with options (the URI's win where both say).
func OpenWith(ctx context.Context, u *url.URL, o Options) (*Store, error) {
	bo, prefix, err := awsbase.ParseURI(u, o)
	if err != nil {
		return nil, err
	}
	cfg, err := awsbase.LoadConfig(ctx, bo)
	if err != nil {
		return nil, err
	}
	o.Concurrency = bo.Limit()
	return New(secretsmanager.NewFromConfig(cfg), cfg.Region, prefix, o), nil
}

// New makes a store over api for the secrets of region whose names start
// with prefix.
func New(api API, region, prefix string, o Options) *Store {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Store{api: api, region: region, prefix: prefix, limit: o.Limit(), log: log}
}

// Name implements providers.Provider.
func (s *Store) Name() string { return Scheme }

// uri is rekey's address of a secret, scrubbed should a key be in its name.
func (s *Store) uri(name string) string {
	return scanner.Scrub(Scheme + "://" + s.region + "/" + name)
}

func (s *Store) entry(name string) providers.Entry {
	return providers.Entry{Name: name, URI: s.uri(name), Kind: scanner.KindAWSSecretsManager}
}

// Get reads the secret's AWSCURRENT version.
func (s *Store) Get(ctx context.Context, name string) (providers.Entry, error) {
	e, _, err := s.get(ctx, name)
	return e, err
}

// get reads the AWSCURRENT version and says whether it is a SecretBinary.
func (s *Store) get(ctx context.Context, name string) (providers.Entry, bool, error) {
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(name), VersionStage: aws.String(stageCurrent),
	})
	if err != nil {
		return providers.Entry{}, false, awsbase.Wrap(err, "read "+s.uri(name))
	}
	e := s.entry(name)
	e.Version = aws.ToString(out.VersionId)
	e.Value, e.Updated = valueOf(out.SecretString, out.SecretBinary), aws.ToTime(out.CreatedDate)
	return e, out.SecretString == nil && out.SecretBinary != nil, nil
}

// valueOf is a version's content: SecretString or SecretBinary, never nil
// (nil would mean write-only to the scanner).
func valueOf(str *string, bin []byte) []byte {
	switch {
	case str != nil:
		return []byte(*str)
	case bin != nil:
		return bin
	}
	return []byte{}
}

// Put stores value as the secret's new AWSCURRENT version, in the form the
// current version has (SecretString or SecretBinary). If the current value
// already is value nothing is written, so a repeated rotation does not push
// the old value out of AWSPREVIOUS.
func (s *Store) Put(ctx context.Context, name string, value []byte) (providers.Entry, error) {
	cur, binary, err := s.get(ctx, name)
	if err != nil {
		return providers.Entry{}, err
	}
	if bytes.Equal(cur.Value, value) {
		return cur, nil
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(name),
		ClientRequestToken: aws.String(requestToken(name, cur.Version, value)),
	}
	if binary {
		in.SecretBinary = value
	} else {
		if !utf8.Valid(value) {
			return providers.Entry{}, fmt.Errorf("write %s: the new value is not UTF-8 text, which a SecretString must be; nothing written", s.uri(name))
		}
		in.SecretString = aws.String(string(value))
	}
	out, err := s.api.PutSecretValue(ctx, in)
	if err != nil {
		return providers.Entry{}, awsbase.Wrap(err, "write "+s.uri(name))
	}
	e := s.entry(name)
	e.Value, e.Version = bytes.Clone(value), aws.ToString(out.VersionId)
	return e, nil
}

// requestToken is the PutSecretValue ClientRequestToken, which becomes the
// new version's id. It is derived from the secret, the version it replaces
// and the new value, so a retried request (by the SDK, or by rekey after a
// lost answer) is recognised by AWS as the same one and makes no second
// version. It is a one-way hash, shaped as a UUID.
func requestToken(name, replaces string, value []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte("rekey aws-sm PutSecretValue"), []byte(name), []byte(replaces), value} {
		_, _ = fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	x := hex.EncodeToString(h.Sum(nil)[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// Rollback makes version the secret's AWSCURRENT again by moving the stage
// (the version it leaves becomes AWSPREVIOUS); nothing is rewritten.
func (s *Store) Rollback(ctx context.Context, name, version string) (providers.Entry, error) {
	if version == "" {
		return providers.Entry{}, fmt.Errorf("roll %s back: no version id given", s.uri(name))
	}
	cur, err := s.Get(ctx, name)
	if err != nil {
		return providers.Entry{}, err
	}
	if cur.Version == version {
		return cur, nil
	}
	_, err = s.api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(name),
		VersionStage:        aws.String(stageCurrent),
		MoveToVersionId:     aws.String(version),
		RemoveFromVersionId: aws.String(cur.Version),
	})
	if err != nil {
		return providers.Entry{}, awsbase.Wrap(err, fmt.Sprintf("roll %s back to version %s", s.uri(name), version))
	}
	e, err := s.Get(ctx, name)
	if err != nil {
		return providers.Entry{}, err
	}
	if e.Version != version {
		return e, fmt.Errorf("roll %s back to version %s: AWSCURRENT is now %s: %w", s.uri(name), scanner.Scrub(version), e.Version, providers.ErrConflict)
	}
	return e, nil
}
