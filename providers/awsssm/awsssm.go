// Package awsssm is the AWS Systems Manager Parameter Store store,
// aws-ssm://REGION/PATH/: every parameter under PATH, at any depth, read
// through aws-sdk-go-v2.
//
// Listing pages through GetParametersByPath, recursive and decrypting, so
// String, StringList and SecureString values all arrive in plain text. A
// write is a PutParameter overwrite that keeps what the parameter is: its
// type (a SecureString stays one, under the same KMS key; left out, AWS
// would fall back to the account's default key), tier, description, data
// type and allowed pattern, read first with DescribeParameters. Parameter
// Store keeps versions but cannot make an old one current, so a rollback
// writes the old version's value (from GetParameterHistory) as a new one.
//
// Credentials, endpoint (AWS_ENDPOINT_URL) and, for the host "default", the
// region come from the standard AWS chain. Throttling (ThrottlingException,
// TooManyUpdates) and 5xx answers are retried with backoff, a bounded
// number of times; requests in flight are bounded per store (default 4, or
// ?concurrency=N in the URI).
package awsssm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/internal/awsbase"
	"github.com/rekeyhq/rekey/scanner"
)

// Scheme is the store's URI scheme.
const Scheme = "aws-ssm"

// API is the part of the SSM client a store uses.
type API interface {
	ssm.GetParametersByPathAPIClient
	ssm.DescribeParametersAPIClient
	ssm.GetParameterHistoryAPIClient
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// Options tune a store beyond its URI (which wins for the region, the
// profile and ?concurrency=N); they are the options every AWS store shares.
type Options = awsbase.Options

// Store is one Parameter Store path in one region.
type Store struct {
	api    API
	region string
	path   string // "/myapp" or "/" for every parameter
	limit  int
	log    *slog.Logger
}

var (
	_ providers.Provider   = (*Store)(nil)
	_ providers.Rollbacker = (*Store)(nil)
)

// Open opens aws-ssm://REGION/PATH/[?concurrency=N&profile=NAME].
func Open(ctx context.Context, u *url.URL) (providers.Provider, error) {
	return OpenWith(ctx, u, Options{})
}

// OpenWith is Open with options (the URI's win where both say).
func OpenWith(ctx context.Context, u *url.URL, o Options) (*Store, error) {
	bo, path, err := awsbase.ParseURI(u, o)
	if err != nil {
		return nil, err
	}
	cfg, err := awsbase.LoadConfig(ctx, bo, "TooManyUpdates")
	if err != nil {
		return nil, err
	}
	o.Concurrency = bo.Limit()
	return New(ssm.NewFromConfig(cfg), cfg.Region, path, o), nil
}

// New makes a store over api for the parameters of region under path
// ("myapp/", "/myapp" and "myapp" are the same path; "" is every one).
func New(api API, region, path string, o Options) *Store {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	path = "/" + strings.Trim(path, "/")
	return &Store{api: api, region: region, path: path, limit: o.Limit(), log: log}
}

// Name implements providers.Provider.
func (s *Store) Name() string { return Scheme }

// uri is rekey's address of a parameter, scrubbed should a key be in its
// name.
func (s *Store) uri(name string) string {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return scanner.Scrub(Scheme + "://" + s.region + name)
}

func (s *Store) entry(p types.Parameter) providers.Entry {
	name := aws.ToString(p.Name)
	return providers.Entry{
		Name: name, URI: s.uri(name), Kind: scanner.KindAWSSSM,
		Value: []byte(aws.ToString(p.Value)), Version: strconv.FormatInt(p.Version, 10),
		Updated: aws.ToTime(p.LastModifiedDate),
	}
}

// Get reads the parameter's current version, decrypted.
func (s *Store) Get(ctx context.Context, name string) (providers.Entry, error) {
	out, err := s.api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return providers.Entry{}, awsbase.Wrap(err, "read "+s.uri(name))
	}
	if out.Parameter == nil {
		return providers.Entry{}, fmt.Errorf("read %s: %w", s.uri(name), providers.ErrNotFound)
	}
	return s.entry(*out.Parameter), nil
}

// Put overwrites the parameter with value as a new version, keeping its
// type, KMS key, tier, description, data type and allowed pattern. If the
// current value already is value nothing is written.
func (s *Store) Put(ctx context.Context, name string, value []byte) (providers.Entry, error) {
	cur, err := s.Get(ctx, name)
	if err != nil {
		return providers.Entry{}, err
	}
	if bytes.Equal(cur.Value, value) {
		return cur, nil
	}
	meta, err := s.describe(ctx, name)
	if err != nil {
		return providers.Entry{}, err
	}
	in := &ssm.PutParameterInput{
		Name:      aws.String(name),
		Value:     aws.String(string(value)),
		Overwrite: aws.Bool(true),
		Type:      meta.Type,
		// Left out, Intelligent-Tiering or the account default would apply,
		// and an advanced parameter cannot go back to standard.
		Tier:        meta.Tier,
		Description: meta.Description,
		DataType:    meta.DataType,
	}
	if meta.Type == types.ParameterTypeSecureString {
		in.KeyId = meta.KeyId
	}
	if aws.ToString(meta.AllowedPattern) != "" {
		in.AllowedPattern = meta.AllowedPattern
	}
	out, err := s.api.PutParameter(ctx, in)
	if err != nil {
		return providers.Entry{}, awsbase.Wrap(err, "write "+s.uri(name))
	}
	e := providers.Entry{
		Name: name, URI: s.uri(name), Kind: scanner.KindAWSSSM,
		Value: bytes.Clone(value), Version: strconv.FormatInt(out.Version, 10),
	}
	return e, nil
}

// describe reads the parameter's metadata. DescribeParameters applies its
// filter to each page after taking it, so pages can be empty with more to
// come: they are followed until the name turns up.
func (s *Store) describe(ctx context.Context, name string) (types.ParameterMetadata, error) {
	pages := ssm.NewDescribeParametersPaginator(s.api, &ssm.DescribeParametersInput{
		ParameterFilters: []types.ParameterStringFilter{{
			Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{name},
		}},
		MaxResults: aws.Int32(50),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return types.ParameterMetadata{}, awsbase.Wrap(err, "describe "+s.uri(name))
		}
		for _, p := range page.Parameters {
			if aws.ToString(p.Name) == name {
				return p, nil
			}
		}
	}
	return types.ParameterMetadata{}, fmt.Errorf("describe %s: %w", s.uri(name), providers.ErrNotFound)
}

// Rollback writes the value version had (GetParameterHistory) as the
// parameter's new version, keeping its current type, key and tier.
// Parameter Store keeps the last 100 versions.
func (s *Store) Rollback(ctx context.Context, name, version string) (providers.Entry, error) {
	want, err := strconv.ParseInt(version, 10, 64)
	if err != nil || want < 1 {
		return providers.Entry{}, fmt.Errorf("roll %s back: %q is not a parameter version number", s.uri(name), scanner.Scrub(version))
	}
	pages := ssm.NewGetParameterHistoryPaginator(s.api, &ssm.GetParameterHistoryInput{
		Name: aws.String(name), WithDecryption: aws.Bool(true), MaxResults: aws.Int32(50),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return providers.Entry{}, awsbase.Wrap(err, "read the history of "+s.uri(name))
		}
		for _, h := range page.Parameters {
			if h.Version == want {
				return s.Put(ctx, name, []byte(aws.ToString(h.Value)))
			}
		}
	}
	return providers.Entry{}, fmt.Errorf("roll %s back: version %d is not in its history (Parameter Store keeps the last 100): %w",
		s.uri(name), want, providers.ErrNotFound)
}
