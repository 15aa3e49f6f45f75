// Package awsfake is an in-process fake of the AWS Secrets Manager and SSM
// Parameter Store operations rekey uses, speaking the AWS JSON 1.1 protocol
// (POST /, X-Amz-Target "secretsmanager.Op" or "AmazonSSM.Op", JSON bodies,
// errors as {"__type", "message"}) so that tests drive the real
// aws-sdk-go-v2 clients against it through AWS_ENDPOINT_URL. It listens on
// loopback only; both services share one endpoint.
//
// What it models, because rekey's behaviour depends on it:
//
//   - Secrets Manager: version ids and the AWSCURRENT/AWSPREVIOUS stages
//     (PutSecretValue and UpdateSecretVersionStage move them as AWS does);
//     ClientRequestToken idempotency (same token and value: no new version;
//     same token, other value: ResourceExistsException); SecretString and
//     SecretBinary; ListSecrets with name-prefix filters and NextToken pages;
//     BatchGetSecretValue (at most 20 ids, per-secret errors in Errors).
//   - Parameter Store: String, StringList and SecureString (undecrypted
//     reads return a ciphertext stand-in), the KMS key id, tier, description,
//     data type and allowed pattern of each version, version history, and
//     what an overwrite does to them when left out (a SecureString written
//     without KeyId falls back to the account's alias/aws/ssm key; a
//     Description or AllowedPattern left out is cleared, the pessimistic
//     reading of the API reference); GetParametersByPath (recursive or one
//     level, at most 10 per page), DescribeParameters (its filters applied
//     after paging, so pages can come back empty with a NextToken, as on
//     AWS), GetParameterHistory.
//   - Faults: secrets and parameters the caller may not read
//     (AccessDeniedException, with the resource named in the message as IAM
//     does); BatchGetSecretValue denied as a whole; injected throttling
//     (ThrottlingException) and 5xx answers; a per-request latency; a small
//     page size so that tests paginate.
//
// Every request is counted per operation (faulted ones included). Requests
// must carry a SigV4 Authorization header; the signature is not checked, but
// the region of its credential scope is recorded, so tests can see which
// region a client used.
package awsfake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Account is the account id in every ARN the fake makes.
const Account = "123456789012"

// Target prefixes of the two services' operations.
const (
	SecretsManager = "secretsmanager."
	SSM            = "AmazonSSM."
)

// Fault is one injected error answer.
type Fault struct {
	Status  int    // HTTP status, e.g. 400, 500, 503
	Code    string // the __type, e.g. "ThrottlingException", "InternalServiceError"
	Message string
	// Applied makes the request take effect before the fault is answered:
	// the write lands but its answer is lost, and the client retries.
	Applied bool
}

// Server is the fake. URL is its endpoint (http://127.0.0.1:port), for
// AWS_ENDPOINT_URL.
type Server struct {
	URL string

	srv       *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	calls    map[string]int // X-Amz-Target → requests
	regions  map[string]int
	throttle int
	faults   map[string][]Fault // X-Amz-Target → queued faults
	latency  time.Duration
	pageSize int

	secrets     map[string]*secret // by name
	secretOrder []string           // names, in creation order (ListSecrets' order)
	denyBatch   bool

	params map[string]*parameter // by name
}

// New starts a fake on a loopback port over plain HTTP. The page size is 5:
// list operations answer at most 5 items per page, whatever was asked.
func New() *Server {
	s := &Server{
		closing:  make(chan struct{}),
		calls:    map[string]int{},
		regions:  map[string]int{},
		faults:   map[string][]Fault{},
		pageSize: 5,
		secrets:  map[string]*secret{},
		params:   map[string]*parameter{},
	}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server, cutting short any delayed answers.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.Close()
}

// Env is the environment that points the standard AWS chain at the fake
// with static test credentials, and away from any real profile, SSO cache
// or instance metadata.
func (s *Server) Env() map[string]string {
	return map[string]string{ //nolint:gosec // G101: made-up credentials that only the fake accepts
		"AWS_ENDPOINT_URL":            s.URL,
		"AWS_ACCESS_KEY_ID":           "rekey-awsfake-access-key-id",
		"AWS_SECRET_ACCESS_KEY":       "fake-secret-access-key",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_DEFAULT_PROFILE":         "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_CONFIG_FILE":             "/nonexistent/rekey-awsfake/config",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/rekey-awsfake/credentials",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_RETRY_MODE":              "",
	}
}

// Setenv applies Env for the duration of the test (so not in parallel tests).
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
}

// SetPageSize caps every list operation's page at n items.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(n, 1)
}

// SetLatency delays every answer by d, to stand in for a network round trip.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Throttle makes the next n requests, whatever their operation, answer
// 400 ThrottlingException.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle += n
}

// Inject queues faults for the next requests to target (for example
// "secretsmanager.BatchGetSecretValue"), one per request.
func (s *Server) Inject(target string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[target] = append(s.faults[target], faults...)
}

// Calls counts the requests received for target ("AmazonSSM.PutParameter"),
// faulted ones included.
func (s *Server) Calls(target string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[target]
}

// AllCalls returns the request count per target.
func (s *Server) AllCalls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// TotalCalls counts the requests received for targets with prefix
// (SecretsManager, SSM, or "" for all).
func (s *Server) TotalCalls(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for t, c := range s.calls {
		if strings.HasPrefix(t, prefix) {
			n += c
		}
	}
	return n
}

// ResetCalls forgets the request counts.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// Regions returns the regions of the credential scopes seen, sorted.
func (s *Server) Regions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.regions))
}

// apiError is an AWS JSON 1.1 error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func validation(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ValidationException", format, args...)
}

// denied is the AccessDeniedException IAM gives, naming the resource.
func denied(action, resource string) *apiError {
	return errorf(http.StatusBadRequest, "AccessDeniedException",
		"User: arn:aws:iam::%s:user/rekey-test is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		Account, action, resource, action)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	s.mu.Lock()
	s.calls[target]++
	var fault *Fault
	if s.throttle > 0 {
		s.throttle--
		fault = &Fault{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}
	} else if q := s.faults[target]; len(q) > 0 {
		fault, s.faults[target] = &q[0], q[1:]
	}
	latency := s.latency
	if region := scopeRegion(r.Header.Get("Authorization")); region != "" {
		s.regions[region]++
	}
	s.mu.Unlock()

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if !s.pause(r.Context(), latency) {
		return
	}
	if fault != nil && !fault.Applied {
		writeError(w, &apiError{status: fault.Status, code: fault.Code, message: fault.Message})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, errorf(http.StatusNotFound, "UnknownOperationException", "%s %s", r.Method, r.URL.Path))
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		writeError(w, errorf(http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token"))
		return
	}
	op, ok := s.operation(target)
	if !ok {
		writeError(w, errorf(http.StatusBadRequest, "UnknownOperationException", "unknown operation %q", target))
		return
	}
	out, aerr := op(body)
	if fault != nil {
		aerr = &apiError{status: fault.Status, code: fault.Code, message: fault.Message}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "InternalFailure", "%v", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", newID())
	_, _ = w.Write(data)
}

type operation func(body []byte) (any, *apiError)

func (s *Server) operation(target string) (operation, bool) {
	ops := map[string]operation{
		SecretsManager + "ListSecrets":              s.listSecrets,
		SecretsManager + "BatchGetSecretValue":      s.batchGetSecretValue,
		SecretsManager + "GetSecretValue":           s.getSecretValue,
		SecretsManager + "PutSecretValue":           s.putSecretValue,
		SecretsManager + "UpdateSecretVersionStage": s.updateSecretVersionStage,
		SSM + "GetParametersByPath":                 s.getParametersByPath,
		SSM + "GetParameter":                        s.getParameter,
		SSM + "PutParameter":                        s.putParameter,
		SSM + "DescribeParameters":                  s.describeParameters,
		SSM + "GetParameterHistory":                 s.getParameterHistory,
	}
	op, ok := ops[target]
	return op, ok
}

func writeError(w http.ResponseWriter, e *apiError) {
	data, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", newID())
	w.WriteHeader(e.status)
	_, _ = w.Write(data)
}

// decode reads a request body into in; a malformed one is a
// SerializationException, as AWS answers.
func decode(body []byte, in any) *apiError {
	if err := json.Unmarshal(body, in); err != nil {
		return errorf(http.StatusBadRequest, "SerializationException", "malformed request body")
	}
	return nil
}

// pause waits d, or less if the request or the server ends first.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// scopeRegion reads the region of a SigV4 credential scope:
// "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ssm/aws4_request, …".
func scopeRegion(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[2]
}

// epoch is an AWS JSON timestamp: seconds since the epoch, fractional.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)), nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// pageToken and readToken make opaque NextTokens from an offset, checked on
// the way back in.
func pageToken(kind string, offset int) *string {
	t := base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(offset)))
	return &t
}

func readToken(kind, invalidCode string, token *string) (int, *apiError) {
	if token == nil || *token == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*token)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), kind+":"); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, errorf(http.StatusBadRequest, invalidCode, "The NextToken value is invalid.")
}

// page returns the bounds of one page of n items from offset, at most
// limit (or the page size) long, and the next offset (0 when done).
func (s *Server) page(n, offset int, limit *int32) (lo, hi, next int) {
	size := s.pageSize
	if limit != nil && int(*limit) > 0 && int(*limit) < size {
		size = int(*limit)
	}
	lo = min(offset, n)
	hi = min(lo+size, n)
	if hi < n {
		next = hi
	}
	return lo, hi, next
}
