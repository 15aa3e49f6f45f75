// Package fakeperplexity is an in-process fake of the parts of the
// Perplexity API that rekey uses, for tests of the client, the rotation
// engine and the CLI. It listens on loopback only and speaks the documented
// wire format:
//
//   - POST /chat/completions: 401 (an HTML page, as the real API's proxy
//     sends) unless the header is exactly "Authorization: Bearer <live key>";
//     400 invalid_model for a model it does not serve; a small completion
//     for one it does (counted by Completions, since that would be billed).
//   - POST /generate_auth_token {"token_name"}: mints a live key and answers
//     {"auth_token", "created_at_epoch_seconds", "token_name"}.
//   - POST /revoke_auth_token {"auth_token"}: revokes that key, answers 200.
//
// Keys are registered as live or revoked with AddKey. Faults are injected
// per path (a status such as 429 with retry-after, a 5xx, a slow answer),
// every request is counted per path, and SetEcho makes error answers echo
// the Authorization header and body back, to prove callers scrub them.
package fakeperplexity

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/scanner"
)

// The endpoints the fake serves.
const (
	PathChat     = "/chat/completions"
	PathGenerate = "/generate_auth_token"
	PathRevoke   = "/revoke_auth_token"
)

// Models are the model names the fake serves; any other is refused with
// 400 invalid_model, as the real API does.
var Models = []string{"sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro", "sonar-deep-research"}

// Fault is one injected answer. Status 0 with a Delay makes a slow but
// otherwise normal answer.
type Fault struct {
	Status       int
	RetryAfter   string        // the retry-after header, "" for none
	RetryAfterMS string        // the retry-after-ms header, "" for none
	Header       http.Header   // more headers, e.g. Cf-Mitigated
	Body         string        // "" for a JSON error body
	Delay        time.Duration // before answering
}

// Server is the fake API. URL is its base URL (http://127.0.0.1:port).
type Server struct {
	URL string

	srv       *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	keys        map[string]bool // key → live
	minted      []string
	requests    map[string]int
	faults      map[string][]Fault
	delay       time.Duration
	echo        bool
	completions int
}

// New starts a fake on a loopback port over plain HTTP.
func New() *Server {
	s := newServer()
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// NewTLS starts a fake over HTTPS with a self-signed certificate that only
// Client trusts, to prove that callers verify certificates.
func NewTLS() *Server {
	s := newServer()
	s.srv = httptest.NewUnstartedServer(s)
	// Handshakes refused by clients that verify certificates are the
	// expected outcome, not news for the test log.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s
}

func newServer() *Server {
	return &Server{
		closing:  make(chan struct{}),
		keys:     map[string]bool{},
		requests: map[string]int{},
		faults:   map[string][]Fault{},
	}
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close stops the server, cutting short any delayed answers.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.Close()
}

// AddKey registers key as live or revoked.
func (s *Server) AddKey(key string, live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = live
}

// Live reports whether key is registered and live.
func (s *Server) Live(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[key]
}

// Minted returns the keys created through /generate_auth_token, oldest first.
func (s *Server) Minted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.minted)
}

// Requests counts the requests received for path, faulted ones included.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// TotalRequests counts every request received.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

// Completions counts answered chat completions: what a real API would bill.
func (s *Server) Completions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completions
}

// Inject queues faults for the next requests to path, one per request.
func (s *Server) Inject(path string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], faults...)
}

// FailNext makes the next request to path answer status, with a
// retry-after header when retryAfter is not "".
func (s *Server) FailNext(path string, status int, retryAfter string) {
	s.Inject(path, Fault{Status: status, RetryAfter: retryAfter})
}

// SetDelay delays every answer by d.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetEcho makes every error answer echo the request's Authorization header
// and body, as a careless server might.
func (s *Server) SetEcho(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echo = on
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	s.mu.Lock()
	s.requests[path]++
	var fault Fault
	if q := s.faults[path]; len(q) > 0 {
		fault, s.faults[path] = q[0], q[1:]
	}
	delay, echo := s.delay, s.echo
	s.mu.Unlock()

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if !s.pause(r.Context(), delay+fault.Delay) {
		return
	}
	a := answer{w: w}
	auth := r.Header.Get("Authorization")
	if echo {
		a.echo = fmt.Sprintf(" (received Authorization: %s; body: %s)", auth, body)
	}
	if fault.Status != 0 {
		a.fault(fault)
		return
	}
	if r.Method != http.MethodPost {
		a.json(http.StatusMethodNotAllowed, errorBody(http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed"+a.echo))
		return
	}
	switch path {
	case PathChat, PathGenerate, PathRevoke:
	default:
		a.json(http.StatusNotFound, errorBody(http.StatusNotFound, "not_found", "Not Found"+a.echo))
		return
	}
	if !s.authorised(auth) {
		a.unauthorised()
		return
	}
	switch path {
	case PathChat:
		s.chat(a, body)
	case PathGenerate:
		s.generate(a, body)
	case PathRevoke:
		s.revoke(a, body)
	}
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

// authorised accepts exactly "Bearer " and a live key, nothing else: no
// other case, no extra spaces, no quotes.
func (s *Server) authorised(header string) bool {
	key, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[key]
}

func (s *Server) chat(a answer, body []byte) {
	var req struct {
		Model    string            `json:"model"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		a.json(http.StatusBadRequest, errorBody(http.StatusBadRequest, "invalid_request_error", "Invalid JSON body"+a.echo))
		return
	}
	if !slices.Contains(Models, req.Model) {
		a.json(http.StatusBadRequest, errorBody(http.StatusBadRequest, "invalid_model", fmt.Sprintf(
			"Invalid model '%s'. Permitted models can be found in the documentation at https://docs.perplexity.ai/getting-started/models.%s",
			req.Model, a.echo)))
		return
	}
	if len(req.Messages) == 0 {
		a.json(http.StatusBadRequest, errorBody(http.StatusBadRequest, "invalid_request_error", "messages must not be empty"+a.echo))
		return
	}
	s.mu.Lock()
	s.completions++
	s.mu.Unlock()
	a.json(http.StatusOK, map[string]any{
		"id": "fake-completion", "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]string{"role": "assistant", "content": "ok"}}},
		"usage": map[string]int{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
	})
}

func (s *Server) generate(a answer, body []byte) {
	var req struct {
		TokenName string `json:"token_name"`
	}
	// The body is optional for this endpoint.
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			a.json(http.StatusBadRequest, errorBody(http.StatusBadRequest, "invalid_request_error", "Invalid JSON body"+a.echo))
			return
		}
	}
	key := newKey()
	s.mu.Lock()
	s.keys[key] = true
	s.minted = append(s.minted, key)
	s.mu.Unlock()
	resp := map[string]any{"auth_token": key, "created_at_epoch_seconds": time.Now().Unix()}
	if req.TokenName != "" {
		resp["token_name"] = req.TokenName
	}
	a.json(http.StatusOK, resp)
}

func (s *Server) revoke(a answer, body []byte) {
	var req struct {
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.AuthToken == "" {
		a.json(http.StatusBadRequest, errorBody(http.StatusBadRequest, "invalid_request_error", "auth_token is required"+a.echo))
		return
	}
	s.mu.Lock()
	s.keys[req.AuthToken] = false
	s.mu.Unlock()
	a.w.WriteHeader(http.StatusOK)
}

// answer writes responses, with the echo text for error answers.
type answer struct {
	w    http.ResponseWriter
	echo string
}

func (a answer) json(status int, v any) {
	a.w.Header().Set("Content-Type", "application/json")
	a.w.WriteHeader(status)
	_ = json.NewEncoder(a.w).Encode(v)
}

// unauthorised answers as the real API's proxy does: an HTML page.
func (a answer) unauthorised() {
	a.w.Header().Set("Content-Type", "text/html")
	a.w.WriteHeader(http.StatusUnauthorized)
	_, _ = fmt.Fprintf(a.w, "<html>\n<head><title>401 Authorization Required</title></head>\n<body>\n"+
		"<center><h1>401 Authorization Required</h1></center>\n<hr><center>openresty</center>%s\n</body>\n</html>\n",
		html.EscapeString(a.echo))
}

func (a answer) fault(f Fault) {
	h := a.w.Header()
	for k, vs := range f.Header {
		h[k] = vs
	}
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	if f.RetryAfterMS != "" {
		h.Set("Retry-After-Ms", f.RetryAfterMS)
	}
	if f.Body != "" {
		a.w.WriteHeader(f.Status)
		_, _ = io.WriteString(a.w, f.Body+a.echo)
		return
	}
	typ := "server_error"
	if f.Status == http.StatusTooManyRequests {
		typ = "rate_limit_exceeded"
	} else if f.Status < 500 {
		typ = "invalid_request_error"
	}
	a.json(f.Status, errorBody(f.Status, typ, http.StatusText(f.Status)+a.echo))
}

// errorBody is the API's JSON error shape.
func errorBody(code int, typ, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}}
}

// newKey makes a random mixed-case key, as the real API issues.
func newKey() string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, scanner.BodyLen)
	for i := range b {
		b[i] = set[int(randByte())%len(set)]
	}
	return scanner.Prefix + string(b)
}

// randByte draws a byte below 248 (a multiple of 62), so keys are uniform.
func randByte() byte {
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if b[0] < 248 {
			return b[0]
		}
	}
}
