package awssm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/awsfake"
	"github.com/rekeyhq/rekey/providers/awssm"
	"github.com/rekeyhq/rekey/providers/providertest"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

const (
	region = "eu-west-1"
	list   = awsfake.SecretsManager + "ListSecrets"
	batch  = awsfake.SecretsManager + "BatchGetSecretValue"
	get    = awsfake.SecretsManager + "GetSecretValue"
	put    = awsfake.SecretsManager + "PutSecretValue"
	stage  = awsfake.SecretsManager + "UpdateSecretVersionStage"
)

// fast retries: the tests throttle on purpose.
var fast = awssm.Options{MaxBackoff: time.Millisecond}

// open starts a fake and opens uri against it through the standard AWS
// chain (AWS_ENDPOINT_URL and static credentials in the environment).
func open(t *testing.T, uri string, o awssm.Options) (*awsfake.Server, *awssm.Store) {
	t.Helper()
	f := awsfake.New()
	t.Cleanup(f.Close)
	f.Setenv(t)
	return f, openURI(t, uri, o)
}

func openURI(t *testing.T, uri string, o awssm.Options) *awssm.Store {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	s, err := awssm.OpenWith(context.Background(), u, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// collect lists the store into entries by name.
func collect(t *testing.T, p providers.Provider) map[string]providers.Entry {
	t.Helper()
	got := map[string]providers.Entry{}
	err := p.List(context.Background(), func(e providers.Entry) error {
		if _, dup := got[e.Name]; dup {
			t.Errorf("%s listed twice", e.Name)
		}
		got[e.Name] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

type backend struct {
	f      *awsfake.Server
	prefix string
}

func (b backend) Seed(_ *testing.T, name string, value []byte) string {
	b.f.PutSecretString(b.prefix+name, string(value))
	return b.prefix + name
}

func (b backend) Throttle(n int) { b.f.Throttle(n) }

func TestContract(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/test/", fast)
	f.PutSecretString("elsewhere/x", "not under the prefix")
	providertest.Run(t, s, backend{f: f, prefix: "test/"})
	if got := f.Regions(); !slices.Equal(got, []string{region}) {
		t.Errorf("requests signed for regions %v, want the URI's [%s]", got, region)
	}
}

// seed stores n secrets under prefix, each holding its own key, and
// returns the keys by name.
func seed(f *awsfake.Server, g *testkeys.Gen, prefix string, n int) map[string]string {
	keys := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("%s%03d", prefix, i)
		keys[name] = g.Mixed()
		f.PutSecretString(name, "PERPLEXITY_API_KEY="+keys[name])
	}
	return keys
}

func TestListPaginatesAndBatches(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", fast)
	keys := seed(f, testkeys.New(1), "app/", 45)
	seed(f, testkeys.New(2), "application/", 3) // shares the prefix "app", not "app/"
	seed(f, testkeys.New(3), "other/", 3)
	f.ResetCalls()

	got := collect(t, s)
	if len(got) != len(keys) {
		t.Fatalf("listed %d secrets, want %d", len(got), len(keys))
	}
	for name, key := range keys {
		e := got[name]
		if e.Err != nil || !bytes.Contains(e.Value, []byte(key)) {
			t.Errorf("%s: err %v, value does not hold its key", name, e.Err)
		}
		if want := "aws-sm://" + region + "/" + name; e.URI != want || e.Kind != scanner.KindAWSSecretsManager || e.Version == "" {
			t.Errorf("%s: uri %q kind %q version %q; want uri %q", name, e.URI, e.Kind, e.Version, want)
		}
	}
	// The fake pages by 5: 45 secrets are 9 pages, read in 3 batches of at
	// most 20, and never one by one.
	if n := f.Calls(list); n != 9 {
		t.Errorf("ListSecrets called %d times, want 9 (pages of 5)", n)
	}
	if n := f.Calls(batch); n != 3 {
		t.Errorf("BatchGetSecretValue called %d times, want 3", n)
	}
	if n := f.Calls(get); n != 0 {
		t.Errorf("GetSecretValue called %d times while batching, want 0", n)
	}
}

func TestListWholeRegion(t *testing.T) {
	f, s := open(t, "aws-sm://"+region, fast)
	seed(f, testkeys.New(1), "a/", 2)
	seed(f, testkeys.New(2), "b/", 2)
	if got := collect(t, s); len(got) != 4 {
		t.Errorf("listed %d secrets, want all 4", len(got))
	}
}

func TestListFallsBackWhenBatchDenied(t *testing.T) {
	var logged bytes.Buffer
	f, s := open(t, "aws-sm://"+region+"/app/", awssm.Options{MaxBackoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	keys := seed(f, testkeys.New(1), "app/", 45)
	f.DenyBatch(true)
	f.ResetCalls()

	got := collect(t, s)
	for name, key := range keys {
		if e := got[name]; e.Err != nil || !bytes.Contains(e.Value, []byte(key)) {
			t.Errorf("%s: err %v, value does not hold its key", name, e.Err)
		}
	}
	if n := f.Calls(get); n != len(keys) {
		t.Errorf("GetSecretValue called %d times, want one per secret (%d)", n, len(keys))
	}
	// Once refused, the store stops asking: at most the batches already
	// under way when the first refusal came back.
	if n := f.Calls(batch); n < 1 || n > 3 {
		t.Errorf("BatchGetSecretValue called %d times, want 1 to 3", n)
	}
	f.ResetCalls()
	collect(t, s)
	if n := f.Calls(batch); n != 0 {
		t.Errorf("a second listing tried BatchGetSecretValue %d times after it was refused", n)
	}
	if n := strings.Count(logged.String(), "BatchGetSecretValue is not allowed"); n != 1 {
		t.Errorf("the fallback was logged %d times, want once:\n%s", n, logged.String())
	}
}

func TestAccessDeniedOnOneSecret(t *testing.T) {
	for _, batched := range []bool{true, false} {
		t.Run(map[bool]string{true: "batch", false: "one by one"}[batched], func(t *testing.T) {
			f, s := open(t, "aws-sm://"+region+"/app/", fast)
			g := testkeys.New(7)
			keys := seed(f, g, "app/", 25)
			// The denied secret's name holds a key too: AWS names the
			// resource in the message, which must be scrubbed.
			hidden := "app/z-" + g.Mixed()
			f.PutSecretString(hidden, g.Mixed())
			f.DenySecret(hidden)
			f.DenyBatch(!batched)

			got := collect(t, s)
			denied := got[hidden]
			if !errors.Is(denied.Err, providers.ErrAccessDenied) {
				t.Fatalf("denied secret: err %v, want ErrAccessDenied", denied.Err)
			}
			if denied.Value != nil || strings.Contains(denied.URI, hidden) {
				t.Errorf("denied secret: value %q, uri %q (must be scrubbed)", denied.Value, denied.URI)
			}
			assertNoKey(t, denied.Err.Error(), hidden[len("app/z-"):])
			for name, key := range keys {
				if e := got[name]; e.Err != nil || !bytes.Contains(e.Value, []byte(key)) {
					t.Errorf("%s: err %v; the rest must be read", name, e.Err)
				}
			}
		})
	}
}

func TestJSONFieldsAndBinary(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", fast)
	g := testkeys.New(9)
	k1, k2, k3 := g.Mixed(), g.Hex(), g.Mixed()
	doc, err := json.Marshal(map[string]any{
		"PERPLEXITY_API_KEY": k1,
		"llm":                map[string]any{"perplexity": map[string]string{"key": k2}, "model": "sonar"},
		"port":               8080,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.PutSecretString("app/json", string(doc))
	f.PutSecretBinary("app/blob", append([]byte{0, 1, 2, 0xff}, []byte("token="+k3+"\x00")...))

	scan := scanner.NewScan("", nil)
	report, err := scan.Run(context.Background(), &providers.Source{Provider: s, Reporter: scan})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{} // uri → redacted
	for _, fd := range report.Findings {
		found[fd.Location.URI] = fd.KeyID
	}
	base := "aws-sm://" + region + "/app/"
	for uri, key := range map[string]string{
		base + "json#PERPLEXITY_API_KEY": k1,
		base + "json#llm.perplexity.key": k2,
		base + "blob":                    k3,
	} {
		if found[uri] != scanner.Secret(key).KeyID() {
			t.Errorf("no finding of its key at %s; findings: %v", uri, found)
		}
	}
	if len(report.Findings) != 3 {
		t.Errorf("%d findings, want 3: %v", len(report.Findings), found)
	}
}

func TestPutKeepsTheFormAndStages(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", fast)
	g := testkeys.New(11)
	oldKey, newKey := g.Mixed(), g.Mixed()
	ctx := context.Background()

	t.Run("string", func(t *testing.T) {
		first := f.PutSecretString("app/s", `{"PERPLEXITY_API_KEY":"`+oldKey+`","other":"kept"}`)
		value := []byte(`{"PERPLEXITY_API_KEY":"` + newKey + `","other":"kept"}`)
		e, err := s.Put(ctx, "app/s", value)
		if err != nil {
			t.Fatal(err)
		}
		cur, curID, _ := f.SecretValue("app/s", awsfake.StageCurrent)
		_, prevID, _ := f.SecretValue("app/s", awsfake.StagePrevious)
		if !bytes.Equal(cur, value) || curID != e.Version || prevID != first || f.SecretIsBinary("app/s") {
			t.Errorf("after put: current %s (entry says %s), previous %s (want %s), binary %v",
				curID, e.Version, prevID, first, f.SecretIsBinary("app/s"))
		}
		// Putting the same value again writes nothing: AWSPREVIOUS must
		// keep the old key for a rollback.
		f.ResetCalls()
		if _, err := s.Put(ctx, "app/s", value); err != nil {
			t.Fatal(err)
		}
		if n := f.Calls(put); n != 0 || f.SecretVersions("app/s") != 2 {
			t.Errorf("a repeated put wrote %d times; %d versions, want 2", n, f.SecretVersions("app/s"))
		}
	})

	t.Run("binary", func(t *testing.T) {
		f.PutSecretBinary("app/b", []byte("\x00"+oldKey))
		value := []byte("\x00" + newKey)
		if _, err := s.Put(ctx, "app/b", value); err != nil {
			t.Fatal(err)
		}
		cur, _, _ := f.SecretValue("app/b", awsfake.StageCurrent)
		if !bytes.Equal(cur, value) || !f.SecretIsBinary("app/b") {
			t.Errorf("a SecretBinary must stay one with the new value; binary %v", f.SecretIsBinary("app/b"))
		}
	})

	t.Run("not text", func(t *testing.T) {
		f.PutSecretString("app/t", oldKey)
		_, err := s.Put(ctx, "app/t", []byte{0xff, 0xfe})
		if err == nil || f.SecretVersions("app/t") != 1 {
			t.Errorf("non-UTF-8 into a SecretString: err %v, %d versions; want an error and nothing written", err, f.SecretVersions("app/t"))
		}
	})
}

// A write whose answer is lost is retried by the SDK with the same
// ClientRequestToken, and AWS makes no second version.
func TestPutRetryIsIdempotent(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", fast)
	g := testkeys.New(12)
	f.PutSecretString("app/s", g.Mixed())
	f.Inject(put, awsfake.Fault{Status: 500, Code: "InternalServiceError", Message: "lost", Applied: true})
	value := []byte(g.Mixed())
	e, err := s.Put(context.Background(), "app/s", value)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Calls(put); n != 2 {
		t.Errorf("PutSecretValue called %d times, want 2 (one retry)", n)
	}
	cur, curID, _ := f.SecretValue("app/s", awsfake.StageCurrent)
	if got := f.SecretVersions("app/s"); got != 2 || curID != e.Version || !bytes.Equal(cur, value) {
		t.Errorf("%d versions (want 2), current %s (want %s)", got, curID, e.Version)
	}
}

func TestRollbackMovesTheStage(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", fast)
	g := testkeys.New(13)
	oldKey := g.Mixed()
	first := f.PutSecretString("app/s", oldKey)
	ctx := context.Background()
	after, err := s.Put(ctx, "app/s", []byte(g.Mixed()))
	if err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	e, err := s.Rollback(ctx, "app/s", first)
	if err != nil {
		t.Fatal(err)
	}
	_, curID, _ := f.SecretValue("app/s", awsfake.StageCurrent)
	_, prevID, _ := f.SecretValue("app/s", awsfake.StagePrevious)
	if curID != first || prevID != after.Version || e.Version != first || string(e.Value) != oldKey {
		t.Errorf("after rollback: current %s previous %s; want %s and %s", curID, prevID, first, after.Version)
	}
	if f.SecretVersions("app/s") != 2 || f.Calls(stage) != 1 || f.Calls(put) != 0 {
		t.Errorf("rollback must move the stage, not write: %d versions, %d stage moves, %d puts",
			f.SecretVersions("app/s"), f.Calls(stage), f.Calls(put))
	}
	if _, err := s.Rollback(ctx, "app/s", "00000000-0000-0000-0000-000000000000"); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("rollback to a version that does not exist: %v, want ErrNotFound", err)
	}
}

func TestThrottlingAndServerErrors(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", awssm.Options{MaxAttempts: 3, MaxBackoff: time.Millisecond})
	keys := seed(f, testkeys.New(14), "app/", 30)

	t.Run("retried", func(t *testing.T) {
		// Three tries each: a throttle and a 500 on the first page, a 503
		// on the first batch.
		f.Throttle(1)
		f.Inject(batch, awsfake.Fault{Status: 503, Code: "ServiceUnavailable", Message: "try again"})
		f.Inject(list, awsfake.Fault{Status: 500, Code: "InternalServiceError", Message: "oops"})
		got := collect(t, s)
		for name := range keys {
			if e := got[name]; e.Err != nil || e.Value == nil {
				t.Errorf("%s: %v", name, e.Err)
			}
		}
	})

	t.Run("beyond the bound", func(t *testing.T) {
		// One at a time, so that the first batch gets all three refusals.
		one := openURI(t, "aws-sm://"+region+"/app/?concurrency=1", awssm.Options{MaxAttempts: 3, MaxBackoff: time.Millisecond})
		throttled := awsfake.Fault{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}
		f.Inject(batch, throttled, throttled, throttled)
		f.ResetCalls()
		got := collect(t, one)
		failed := 0
		for _, e := range got {
			if e.Err != nil {
				failed++
				if !errors.Is(e.Err, providers.ErrThrottled) {
					t.Errorf("%s: %v, want ErrThrottled", e.Name, e.Err)
				}
			}
		}
		// The first batch of 20 gave up after 3 tries; the other was read.
		if failed != 20 || len(got) != len(keys) {
			t.Errorf("%d of %d entries failed; want exactly one batch's", failed, len(got))
		}
		if n := f.Calls(batch); n != 4 {
			t.Errorf("BatchGetSecretValue called %d times, want 3 tries + 1", n)
		}
	})

	t.Run("get", func(t *testing.T) {
		f.Throttle(3)
		_, err := s.Get(context.Background(), "app/000")
		if !errors.Is(err, providers.ErrThrottled) {
			t.Errorf("get throttled beyond the bound: %v, want ErrThrottled", err)
		}
	})
}

func TestListFailsOnlyWhenListingFails(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", awssm.Options{MaxAttempts: 2, MaxBackoff: time.Millisecond})
	seed(f, testkeys.New(15), "app/", 3)
	denied := awsfake.Fault{Status: 400, Code: "AccessDeniedException", Message: "no ListSecrets for you"}
	f.Inject(list, denied)
	err := s.List(context.Background(), func(providers.Entry) error { return nil })
	if !errors.Is(err, providers.ErrAccessDenied) {
		t.Errorf("list refused: %v, want ErrAccessDenied", err)
	}
}

func TestListStopsWhenTheCallbackFails(t *testing.T) {
	f, s := open(t, "aws-sm://"+region+"/app/", fast)
	seed(f, testkeys.New(16), "app/", 60)
	stop := errors.New("stop")
	calls := 0
	err := s.List(context.Background(), func(providers.Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("list returned %v after %d callbacks; want the callback's error after 1", err, calls)
	}
}

func TestOpen(t *testing.T) {
	f := awsfake.New()
	t.Cleanup(f.Close)
	f.Setenv(t)
	ctx := context.Background()
	for uri, want := range map[string]string{
		"aws-sm://prod/app":                    "not an AWS region name",
		"aws-sm://us-east-1/app?workers=2":     `unknown parameter "workers"`,
		"aws-sm://us-east-1/app?concurrency=0": "concurrency",
		"aws-sm://default/app":                 "no AWS region",
		"aws-sm://user@us-east-1/app":          "AWS chain",
	} {
		u, _ := url.Parse(uri)
		if _, err := awssm.Open(ctx, u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", uri, err, want)
		}
	}
	t.Setenv("AWS_REGION", "ap-southeast-2")
	s := openURI(t, "aws-sm://default/app/?concurrency=2", awssm.Options{})
	f.PutSecretString("app/x", "v")
	got := collect(t, s)
	if e := got["app/x"]; e.URI != "aws-sm://ap-southeast-2/app/x" {
		t.Errorf("region from the chain: uri %q", e.URI)
	}
}

func assertNoKey(t *testing.T, text string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if strings.Contains(text, k) || strings.Contains(text, k[len(scanner.Prefix):]) {
			t.Errorf("text leaks a key: %s", scanner.Scrub(text))
		}
	}
}
