package awsssm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/awsfake"
	"github.com/rekeyhq/rekey/providers/awsssm"
	"github.com/rekeyhq/rekey/providers/providertest"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

const (
	region  = "eu-central-1"
	byPath  = awsfake.SSM + "GetParametersByPath"
	getOne  = awsfake.SSM + "GetParameter"
	putOne  = awsfake.SSM + "PutParameter"
	history = awsfake.SSM + "GetParameterHistory"
)

// fast retries: the tests throttle on purpose.
var fast = awsssm.Options{MaxBackoff: time.Millisecond}

func open(t *testing.T, uri string, o awsssm.Options) (*awsfake.Server, *awsssm.Store) {
	t.Helper()
	f := awsfake.New()
	t.Cleanup(f.Close)
	f.Setenv(t)
	return f, openURI(t, uri, o)
}

func openURI(t *testing.T, uri string, o awsssm.Options) *awsssm.Store {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	s, err := awsssm.OpenWith(context.Background(), u, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

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

// backend seeds SecureStrings under a customer managed key, so the
// contract also proves decryption and key preservation.
type backend struct {
	f    *awsfake.Server
	path string
}

func (b backend) Seed(_ *testing.T, name string, value []byte) string {
	b.f.PutParameter(awsfake.Parameter{
		Name: b.path + name, Value: string(value), Type: awsfake.TypeSecureString, KeyID: "alias/rekey-test",
	})
	return b.path + name
}

func (b backend) Throttle(n int) { b.f.Throttle(n) }

func TestContract(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/test/", fast)
	f.PutParameter(awsfake.Parameter{Name: "/elsewhere/x", Value: "not under the path"})
	providertest.Run(t, s, backend{f: f, path: "/test/"})
	if got := f.Regions(); !slices.Equal(got, []string{region}) {
		t.Errorf("requests signed for regions %v, want the URI's [%s]", got, region)
	}
	if p, _ := f.Parameter("/test/contract/a"); p.Type != awsfake.TypeSecureString || p.KeyID != "alias/rekey-test" {
		t.Errorf("after put and rollback: type %s key %s; want SecureString under alias/rekey-test", p.Type, p.KeyID)
	}
}

// seed stores n parameters under path, at depths 1 to 3 and of every type,
// each holding its own key, and returns the keys by name.
func seed(f *awsfake.Server, g *testkeys.Gen, path string, n int) map[string]string {
	types := []string{awsfake.TypeString, awsfake.TypeStringList, awsfake.TypeSecureString}
	keys := map[string]string{}
	for i := range n {
		name := path + strings.Repeat("sub/", i%3) + fmt.Sprintf("p%03d", i)
		keys[name] = g.Mixed()
		value := "PERPLEXITY_API_KEY=" + keys[name]
		if types[i%3] == awsfake.TypeStringList {
			value = "a,b," + keys[name]
		}
		f.PutParameter(awsfake.Parameter{Name: name, Value: value, Type: types[i%3]})
	}
	return keys
}

func TestListRecursivePaginatedDecrypted(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/app", fast) // no trailing slash: same path
	keys := seed(f, testkeys.New(1), "/app/", 35)
	seed(f, testkeys.New(2), "/application/", 3) // shares "/app", not "/app/"
	seed(f, testkeys.New(3), "/other/", 3)
	f.ResetCalls()

	got := collect(t, s)
	if len(got) != len(keys) {
		t.Fatalf("listed %d parameters, want %d", len(got), len(keys))
	}
	for name, key := range keys {
		e := got[name]
		if e.Err != nil || !bytes.Contains(e.Value, []byte(key)) {
			t.Errorf("%s: err %v, value does not hold its key (SecureStrings must be decrypted)", name, e.Err)
		}
		if want := "aws-ssm://" + region + name; e.URI != want || e.Kind != scanner.KindAWSSSM || e.Version != "1" {
			t.Errorf("%s: uri %q kind %q version %q; want uri %q, version 1", name, e.URI, e.Kind, e.Version, want)
		}
	}
	if n := f.Calls(byPath); n != 7 {
		t.Errorf("GetParametersByPath called %d times, want 7 (35 in pages of 5)", n)
	}
	if n := f.Calls(getOne); n != 0 {
		t.Errorf("GetParameter called %d times, want 0", n)
	}
}

func TestListRoot(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/", fast)
	seed(f, testkeys.New(1), "/a/", 2)
	seed(f, testkeys.New(2), "/b/", 2)
	if got := collect(t, s); len(got) != 4 {
		t.Errorf("listed %d parameters, want all 4", len(got))
	}
}

func TestPutKeepsWhatTheParameterIs(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/app/", fast)
	g := testkeys.New(5)
	ctx := context.Background()
	// Parameters sorted before these put them on a later DescribeParameters
	// page, whose earlier pages come back empty.
	for i := range 12 {
		f.PutParameter(awsfake.Parameter{Name: fmt.Sprintf("/aaa/%02d", i), Value: "x"})
	}
	for _, p := range []awsfake.Parameter{
		{Type: awsfake.TypeSecureString, KeyID: "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			Tier: awsfake.TierAdvanced, Description: "Perplexity key for the app"},
		{Type: awsfake.TypeSecureString, Description: "under the default key"},
		{Type: awsfake.TypeString, Description: "plain", AllowedPattern: `^PERPLEXITY_API_KEY=pplx-[A-Za-z0-9]+$`},
		{Type: awsfake.TypeStringList, Tier: awsfake.TierAdvanced},
	} {
		t.Run(p.Type+"/"+p.Tier+"/"+p.Description, func(t *testing.T) {
			p.Name = "/app/" + strconv.Itoa(len(p.Description)) + p.Type
			p.Value = "PERPLEXITY_API_KEY=" + g.Mixed()
			f.PutParameter(p)
			before, _ := f.Parameter(p.Name)

			value := "PERPLEXITY_API_KEY=" + g.Mixed()
			e, err := s.Put(ctx, p.Name, []byte(value))
			if err != nil {
				t.Fatal(err)
			}
			after, _ := f.Parameter(p.Name)
			if after.Value != value || e.Version != "2" || after.Version != 2 {
				t.Errorf("value not written as version 2 (entry says %s)", e.Version)
			}
			after.Value, after.Version, after.Modified = before.Value, before.Version, before.Modified
			if after != before {
				t.Errorf("the overwrite changed the parameter:\n before %+v\n after  %+v", redact(before), redact(after))
			}
		})
	}
}

func redact(p awsfake.Parameter) awsfake.Parameter {
	p.Value = scanner.Scrub(p.Value)
	return p
}

func TestPutRetriesTooManyUpdates(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/app/", fast)
	g := testkeys.New(6)
	f.PutParameter(awsfake.Parameter{Name: "/app/k", Value: g.Mixed(), Type: awsfake.TypeSecureString})
	busy := awsfake.Fault{Status: 400, Code: "TooManyUpdates", Message: "There are concurrent updates for the resource that you're trying to update."}
	f.Inject(putOne, busy, busy)
	value := g.Mixed()
	if _, err := s.Put(context.Background(), "/app/k", []byte(value)); err != nil {
		t.Fatal(err)
	}
	if p, _ := f.Parameter("/app/k"); p.Value != value || f.Calls(putOne) != 3 {
		t.Errorf("after two TooManyUpdates: %d PutParameter calls, value written %v", f.Calls(putOne), p.Value == value)
	}
}

func TestRollbackWritesTheOldValue(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/app/", fast)
	g := testkeys.New(7)
	oldKey := g.Mixed()
	for _, v := range []string{g.Mixed(), g.Mixed(), oldKey} { // versions 1 to 3
		f.PutParameter(awsfake.Parameter{Name: "/app/k", Value: v, Type: awsfake.TypeSecureString, KeyID: "alias/app", Description: "d"})
	}
	ctx := context.Background()
	for range 2 { // versions 4 and 5
		if _, err := s.Put(ctx, "/app/k", []byte(g.Mixed())); err != nil {
			t.Fatal(err)
		}
	}
	f.SetPageSize(2) // version 3 is on the second page of the history
	f.ResetCalls()
	e, err := s.Rollback(ctx, "/app/k", "3")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.Parameter("/app/k")
	if p.Value != oldKey || p.Version != 6 || e.Version != "6" || p.KeyID != "alias/app" || p.Description != "d" || p.Type != awsfake.TypeSecureString {
		t.Errorf("after rollback: version %d (entry %s), type %s, key %s, description %q, old value back %v",
			p.Version, e.Version, p.Type, p.KeyID, p.Description, p.Value == oldKey)
	}
	if n := f.Calls(history); n != 2 {
		t.Errorf("GetParameterHistory called %d times, want 2 (pages of 2)", n)
	}
	for _, v := range []string{"9", "x", "0"} {
		if _, err := s.Rollback(ctx, "/app/k", v); err == nil {
			t.Errorf("rollback to version %q: no error", v)
		} else if v == "9" && !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("rollback to a version not in history: %v, want ErrNotFound", err)
		}
	}
}

func TestAccessDeniedOnOneSecureString(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/app/", fast)
	g := testkeys.New(8)
	keys := seed(f, g, "/app/", 24)
	hidden := "/app/sub/" + g.Mixed() // the name holds a key: AWS names it in the message
	f.PutParameter(awsfake.Parameter{Name: hidden, Value: g.Mixed(), Type: awsfake.TypeSecureString, KeyID: "alias/other-team"})
	f.DenyParameter(hidden)
	f.ResetCalls()

	got := collect(t, s)
	e := got[hidden]
	if !errors.Is(e.Err, providers.ErrAccessDenied) || e.Value != nil {
		t.Fatalf("denied parameter: err %v, value %d bytes; want ErrAccessDenied and no value", e.Err, len(e.Value))
	}
	assertNoKey(t, e.Err.Error()+e.URI, hidden[len("/app/sub/"):])
	for name, key := range keys {
		if e := got[name]; e.Err != nil || !bytes.Contains(e.Value, []byte(key)) {
			t.Errorf("%s: err %v; the rest must be read, decrypted", name, e.Err)
		}
	}
	// SecureStrings after the refused page are read one by one; Strings
	// come with the undecrypted listing.
	if n, most := f.Calls(getOne), 9; n < 1 || n > most {
		t.Errorf("GetParameter called %d times, want 1 to %d (the SecureStrings only)", n, most)
	}
}

func TestThrottling(t *testing.T) {
	f, s := open(t, "aws-ssm://"+region+"/app/", awsssm.Options{MaxAttempts: 3, MaxBackoff: time.Millisecond})
	keys := seed(f, testkeys.New(9), "/app/", 12)
	// The first page takes three tries: throttled, 500, answered.
	f.Throttle(1)
	f.Inject(byPath, awsfake.Fault{Status: 500, Code: "InternalServerError", Message: "oops"})
	if got := collect(t, s); len(got) != len(keys) {
		t.Errorf("listed %d of %d after throttling", len(got), len(keys))
	}
	f.Throttle(3)
	err := s.List(context.Background(), func(providers.Entry) error { return nil })
	if !errors.Is(err, providers.ErrThrottled) {
		t.Errorf("list throttled beyond the bound: %v, want ErrThrottled", err)
	}
}

func TestOpen(t *testing.T) {
	f := awsfake.New()
	t.Cleanup(f.Close)
	f.Setenv(t)
	for uri, want := range map[string]string{
		"aws-ssm://myapp/":                      "not an AWS region name",
		"aws-ssm://eu-west-1/app/?x=1":          `unknown parameter "x"`,
		"aws-ssm://eu-west-1/app/?profile=nope": "nope",
	} {
		u, _ := url.Parse(uri)
		if _, err := awsssm.Open(context.Background(), u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", uri, err, want)
		}
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
