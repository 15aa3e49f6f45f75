// Package awsbase is what the AWS Secrets Manager and SSM Parameter Store
// providers share: reading a store URI, loading configuration from the
// standard AWS chain with a bounded retryer, and turning SDK errors into
// the providers' sentinel errors with any key scrubbed from their text.
package awsbase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// Defaults for Options left zero.
const (
	DefaultConcurrency = 4
	// DefaultMaxAttempts bounds the tries of one call (first try included)
	// on throttling, 5xx and network errors.
	DefaultMaxAttempts = 5
	// DefaultMaxBackoff caps the wait between two tries.
	DefaultMaxBackoff = 20 * time.Second
)

// ChainRegion is the URI host that leaves the region to the AWS chain
// (AWS_REGION, the profile): aws-sm://default/prod/.
const ChainRegion = "default"

// Options say how to reach a store.
type Options struct {
	// Region to use; "" takes it from the AWS chain.
	Region string
	// Profile is the shared-config profile to use; "" for the chain's
	// (AWS_PROFILE, or "default").
	Profile string
	// Concurrency bounds the requests in flight; DefaultConcurrency when 0.
	Concurrency int
	// MaxAttempts and MaxBackoff configure the SDK's standard retryer;
	// defaults when 0. AWS_MAX_ATTEMPTS, when set, still wins.
	MaxAttempts int
	MaxBackoff  time.Duration
	// Logger hears the SDK's own warnings (scrubbed), at debug level; nil
	// drops them, rather than let the SDK print to stderr in its format.
	Logger *slog.Logger
}

// Limit is the concurrency to use.
func (o Options) Limit() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return DefaultConcurrency
}

// region names look like us-east-1, eu-central-2, us-gov-west-1, cn-north-1.
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// ParseURI reads SCHEME://REGION/PATH?concurrency=N&profile=NAME into
// options and the path (without its leading "/"). Settings already in o
// that the URI does not mention are kept.
func ParseURI(u *url.URL, o Options) (Options, string, error) {
	switch {
	case u.Host == ChainRegion:
		o.Region = ""
	case regionName.MatchString(u.Host):
		o.Region = u.Host
	default:
		return o, "", fmt.Errorf("%q is not an AWS region name (want %s://REGION/…, e.g. us-east-1, or %s://%s/… for the region of the AWS chain)",
			scanner.Scrub(u.Host), u.Scheme, u.Scheme, ChainRegion)
	}
	if u.User != nil || u.Port() != "" {
		return o, "", errors.New("user or port given: the endpoint comes from AWS_ENDPOINT_URL, credentials from the AWS chain")
	}
	for name, values := range u.Query() {
		value := values[len(values)-1]
		switch name {
		case "concurrency":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > 64 {
				return o, "", fmt.Errorf("concurrency=%q: want a number from 1 to 64", scanner.Scrub(value))
			}
			o.Concurrency = n
		case "profile":
			o.Profile = value
		default:
			return o, "", fmt.Errorf("unknown parameter %q (known: concurrency, profile)", scanner.Scrub(name))
		}
	}
	path := u.Path
	if len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	return o, path, nil
}

// LoadConfig loads the standard AWS configuration (environment, shared
// config and credentials files, SSO, web identity, instance roles;
// AWS_ENDPOINT_URL included) with a bounded standard retryer: throttling,
// 5xx and transient network errors are retried with exponential backoff and
// jitter, at most MaxAttempts tries.
func LoadConfig(ctx context.Context, o Options, retryable ...string) (aws.Config, error) {
	attempts, backoff := o.MaxAttempts, o.MaxBackoff
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	if backoff <= 0 {
		backoff = DefaultMaxBackoff
	}
	opts := []func(*config.LoadOptions) error{
		config.WithLogger(sdkLogger(o.Logger)),
		config.WithRetryer(func() aws.Retryer {
			r := retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.MaxBackoff = backoff
			})
			if len(retryable) > 0 {
				return retry.AddWithErrorCodes(r, retryable...)
			}
			return r
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %s", scanner.Scrub(err.Error()))
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: name it in the store URI (aws-sm://us-east-1/…) or set AWS_REGION")
	}
	return cfg, nil
}

// sdkLogger passes the SDK's log lines to log, scrubbed, or drops them.
func sdkLogger(log *slog.Logger) logging.Logger {
	if log == nil {
		return logging.Nop{}
	}
	return logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) {
		log.Debug(scanner.Scrub("aws sdk: " + fmt.Sprintf(format, v...)))
	})
}

// Error is an AWS call's failure, its text scrubbed of keys. It matches the
// providers' sentinel errors (ErrNotFound, ErrAccessDenied, ErrThrottled)
// and context cancellation with errors.Is.
type Error struct {
	msg  string
	Code string // the AWS error code ("AccessDeniedException"), if any
	kind error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the sentinel error the failure is an instance of, or nil.
func (e *Error) Unwrap() error { return e.kind }

// Error codes by the sentinel they mean.
var (
	notFoundCodes = map[string]bool{
		"ResourceNotFoundException": true, "ParameterNotFound": true, "ParameterVersionNotFound": true,
	}
	deniedCodes = map[string]bool{
		"AccessDeniedException": true, "AccessDenied": true, "UnauthorizedOperation": true,
		"UnrecognizedClientException": true, "InvalidSignatureException": true, "ExpiredTokenException": true,
	}
	throttledCodes = map[string]bool{"TooManyUpdates": true}
)

// Wrap describes err, the failure of what ("read secret prod/app"), with
// every key scrubbed from both.
func Wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	e := &Error{msg: scanner.Scrub(what + ": " + err.Error())}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code = apiErr.ErrorCode()
		switch {
		case notFoundCodes[e.Code]:
			e.kind = providers.ErrNotFound
		case deniedCodes[e.Code]:
			e.kind = providers.ErrAccessDenied
		case throttledCodes[e.Code] || isDefaultThrottle(e.Code):
			e.kind = providers.ErrThrottled
		}
	}
	switch {
	case e.kind != nil:
	case errors.Is(err, context.Canceled):
		e.kind = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		e.kind = context.DeadlineExceeded
	}
	return e
}

func isDefaultThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// Code returns the AWS error code of err, or "".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// Canceled reports whether err is the context ending, not the store failing.
func Canceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
