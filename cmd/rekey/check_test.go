package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/perplexity"
	"github.com/rekeyhq/rekey/providers/perplexity/fakeperplexity"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// fakeAPI starts a fake Perplexity API, points rekey at it and lifts the
// rate limit so that tests do not wait a second per request.
func fakeAPI(t *testing.T) *fakeperplexity.Server {
	t.Helper()
	srv := fakeperplexity.New()
	t.Cleanup(srv.Close)
	t.Setenv(perplexity.BaseURLEnv, srv.URL)
	t.Setenv(rateEnv, "1000")
	return srv
}

// checkJSON runs rekey check --format json and decodes its output.
func checkJSON(t *testing.T, stdin string, args ...string) (cliResult, map[string]any) {
	t.Helper()
	r := rekey(t, stdin, append([]string{"check", "--format", "json"}, args...)...)
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("output is not JSON (%v): %q; stderr %q", err, r.stdout, r.stderr)
	}
	return r, doc
}

func TestCheckLiveKey(t *testing.T) {
	srv := fakeAPI(t)
	key := testkeys.New(101).Mixed()
	srv.AddKey(key, true)
	r := rekey(t, key+"\n", "check")
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"key:      " + scanner.Secret(key).Redacted() + " (" + scanner.KeyID(key) + ")",
		"status:   live (HTTP 400)",
		"no tokens were spent",
		"problems: none",
		"next:     Nothing to do",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if srv.Requests(fakeperplexity.PathChat) != 1 || srv.Completions() != 0 {
		t.Errorf("%d probes, %d billed answers; want 1 and 0", srv.Requests(fakeperplexity.PathChat), srv.Completions())
	}
	assertNoLeak(t, []string{key}, r.stdout, r.stderr)
}

func TestCheckStatusesAndExitCodes(t *testing.T) {
	key := testkeys.New(102).Mixed()
	for _, tc := range []struct {
		name   string
		live   bool
		faults []fakeperplexity.Fault
		status string
		http   float64
		code   int
		next   string
	}{
		{"live", true, nil, "live", 400, exitOK, "Nothing to do"},
		{"revoked", false, nil, "invalid", 401, exitFound, "revoked or wrong"},
		{"forbidden", true, []fakeperplexity.Fault{{Status: 403}}, "invalid", 403, exitFound, "revoked or wrong"},
		{"throttled", true, slices.Repeat([]fakeperplexity.Fault{{Status: 429, RetryAfterMS: "0"}}, 4), "rate-limited", 429, exitPartial, "throttled"},
		{"server error", true, slices.Repeat([]fakeperplexity.Fault{{Status: 503, RetryAfterMS: "0"}}, 4), "unknown", 503, exitPartial, "Try again"},
		{"recovers after retries", true, slices.Repeat([]fakeperplexity.Fault{{Status: 502, RetryAfterMS: "0"}}, 3), "live", 400, exitOK, "Nothing to do"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeAPI(t)
			srv.AddKey(key, tc.live)
			srv.Inject(fakeperplexity.PathChat, tc.faults...)
			r, doc := checkJSON(t, key+"\n")
			if r.code != tc.code || doc["status"] != tc.status || doc["http_status"] != tc.http {
				t.Errorf("exit %d, status %v, http %v; want %d, %s, %v", r.code, doc["status"], doc["http_status"], tc.code, tc.status, tc.http)
			}
			if next, _ := doc["next"].(string); !strings.Contains(next, tc.next) {
				t.Errorf("next step %q lacks %q", next, tc.next)
			}
			if usable := doc["usable"] == true; usable != (tc.code == exitOK) {
				t.Errorf("usable %v with exit %d", usable, r.code)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}

func TestCheckUnreachableAPIIsUnknown(t *testing.T) {
	t.Setenv(perplexity.BaseURLEnv, "http://perplexity.example.invalid") // refused before any request: plain http
	key := testkeys.New(103).Mixed()
	r, doc := checkJSON(t, key+"\n")
	if r.code != exitPartial || doc["status"] != "unknown" || !strings.Contains(doc["reason"].(string), "https") {
		t.Errorf("exit %d, %v; want 3 and unknown with the reason", r.code, doc)
	}
}

func TestCheckDiagnosesStoredValue(t *testing.T) {
	g := testkeys.New(104)
	key := g.Mixed()
	body := key[len(scanner.Prefix):]
	for _, tc := range []struct {
		name    string
		value   string // given in the environment, exactly
		problem string
		cleaned bool // a well-formed key is inside and is checked
	}{
		{"bearer prefix", "Bearer " + key, scanner.ProblemBearerPrefix, true},
		{"leading and trailing spaces", "  " + key + " ", scanner.ProblemWhitespace, true},
		{"trailing newline", key + "\n", scanner.ProblemWhitespace, true},
		{"carriage return", key + "\r", scanner.ProblemCarriageReturn, true},
		{"double quotes", `"` + key + `"`, scanner.ProblemExtraQuotes, true},
		{"single quotes", "'" + key + "'", scanner.ProblemExtraQuotes, true},
		{"zero-width space before", "\u200b" + key, scanner.ProblemInvisible, true},
		{"byte-order mark", "\ufeff" + key, scanner.ProblemInvisible, true},
		{"zero-width space inside", key[:20] + "\u200b" + key[20:], scanner.ProblemInvisible, true},
		{"all at once", "\"Bearer " + key + "\"\r", scanner.ProblemBearerPrefix, true},
		{"wrong prefix", "sk-" + body, scanner.ProblemWrongPrefix, false},
		{"too long", key + "Q", scanner.ProblemWrongLength, false},
		{"too short", key[:len(key)-1], scanner.ProblemWrongLength, false},
		{"non-ASCII letter", key[:30] + "é" + key[31:], scanner.ProblemInvalidCharacter, false},
		{"punctuation", key[:30] + "_" + key[31:], scanner.ProblemInvalidCharacter, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeAPI(t)
			srv.AddKey(key, true)
			t.Setenv("APP_KEY", tc.value)
			r, doc := checkJSON(t, "", "--key-env", "APP_KEY")
			problems, _ := doc["problems"].([]any)
			if !slices.Contains(problems, any(tc.problem)) {
				t.Errorf("problems %v lack %s", problems, tc.problem)
			}
			if r.code != exitFound || doc["usable"] != false {
				t.Errorf("exit %d, usable %v; want 1 and false: the value as given is refused", r.code, doc["usable"])
			}
			if tc.cleaned {
				if doc["cleaned"] != true || doc["status"] != "live" || doc["key_id"] != scanner.KeyID(key) {
					t.Errorf("want the key inside checked: %v", doc)
				}
				if n := srv.Requests(fakeperplexity.PathChat); n != 1 {
					t.Errorf("%d requests, want 1", n)
				}
				if next := doc["next"].(string); !strings.Contains(next, "keep it") {
					t.Errorf("next step %q does not say to keep the live key", next)
				}
			} else {
				if doc["status"] != "invalid" || doc["key_id"] != nil || doc["redacted"] != nil || doc["http_status"] != nil {
					t.Errorf("want invalid without a key id or HTTP status: %v", doc)
				}
				if n := srv.TotalRequests(); n != 0 {
					t.Errorf("a value holding no key was sent to the API (%d requests)", n)
				}
			}
			assertNoLeak(t, []string{key}, r.stdout, r.stderr)
		})
	}
}

func TestCheckTextListsProblemsAndNextStep(t *testing.T) {
	srv := fakeAPI(t)
	key := testkeys.New(105).Mixed()
	srv.AddKey(key, false)
	t.Setenv("PPLX", "Bearer "+key+"\r")
	r := rekey(t, "", "check", "--key-env", "PPLX")
	if r.code != exitFound {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{
		"status:   invalid (HTTP 401), for the key found inside the value",
		"problems: carriage-return: a carriage return",
		"bearer-prefix: the value starts with \"Bearer \"",
		"API Keys page",
		"Usage & Limits",
		"Billing",
		"rekey rotate --old-env PPLX",
		"without the problems listed above",
	} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for line := range strings.SplitSeq(r.stdout, "\n") {
		if len([]rune(line)) > 80 && !strings.Contains(line, "pplx-") {
			t.Errorf("line longer than 80 columns: %q", line)
		}
	}
}

func TestCheckJSONShape(t *testing.T) {
	srv := fakeAPI(t)
	key := testkeys.New(106).Hex()
	srv.AddKey(key, true)
	r, doc := checkJSON(t, key)
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	var fields []string
	for k := range doc {
		fields = append(fields, k)
	}
	slices.Sort(fields)
	want := []string{"http_status", "key_id", "next", "reason", "redacted", "schema", "status", "usable"}
	if !slices.Equal(fields, want) {
		t.Errorf("fields %v, want %v (problems and cleaned are left out when empty)", fields, want)
	}
	if doc["schema"] != checkSchema || doc["redacted"] != scanner.Secret(key).Redacted() {
		t.Errorf("got %v", doc)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	srv := fakeAPI(t)
	g := testkeys.New(107)
	key, other := g.Mixed(), g.Mixed()
	srv.AddKey(key, true)
	t.Setenv("EMPTY_KEY", "")
	t.Setenv("TWO_KEYS", key+" "+other)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"key as argument", "", []string{key}, "never read from the command line"},
		{"both sources", key, []string{"--key-stdin", "--key-env", "X"}, "not both"},
		{"unset variable", "", []string{"--key-env", "REKEY_TEST_UNSET_VARIABLE"}, "is not set"},
		{"variable named like a key", "", []string{"--key-env", key}, "is not set"},
		{"empty variable", "", []string{"--key-env", "EMPTY_KEY"}, "is empty"},
		{"empty stdin", "", nil, "nothing on standard input"},
		{"blank stdin", " \n", nil, "nothing on standard input"},
		{"several lines", key + "\n" + other + "\n", nil, "2 lines"},
		{"huge stdin", strings.Repeat("x", maxCheckInput+1), nil, "far longer than a key"},
		{"two keys in one value", "", []string{"--key-env", "TWO_KEYS"}, "2 different keys"},
		{"bad format", key, []string{"--format", "sarif"}, "unknown format"},
		{"bad rate", key, []string{"--rate", "0"}, "not a positive number"},
		{"negative rate", key, []string{"--rate=-1"}, "not a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rekey(t, tc.stdin, append([]string{"check"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want 2 and %q", r.code, r.stderr, r.stdout, tc.want)
			}
			assertNoLeak(t, []string{key, other}, r.stdout, r.stderr)
		})
	}
	if n := srv.TotalRequests(); n != 0 {
		t.Errorf("%d requests for usage errors", n)
	}
	t.Setenv(rateEnv, "fast")
	if r := rekey(t, key, "check"); r.code != exitUsage || !strings.Contains(r.stderr, rateEnv) {
		t.Errorf("bad $%s: exit %d, stderr %q", rateEnv, r.code, r.stderr)
	}
}

// TestCheckNeverLeaksTheKey runs check against a server that echoes the
// Authorization header and body back in every error answer.
func TestCheckNeverLeaksTheKey(t *testing.T) {
	g := testkeys.New(108)
	live, revoked := g.Mixed(), g.Hex()
	for _, tc := range []struct {
		name   string
		key    string
		faults []fakeperplexity.Fault
	}{
		{"revoked", revoked, nil},
		{"server error", live, slices.Repeat([]fakeperplexity.Fault{{Status: 500, RetryAfterMS: "0"}}, 4)},
		{"throttled", live, slices.Repeat([]fakeperplexity.Fault{{Status: 429, RetryAfterMS: "0"}}, 4)},
		{"odd status", live, []fakeperplexity.Fault{{Status: 418, Body: "I echo: "}}},
		{"cloudflare", live, []fakeperplexity.Fault{{Status: 403, Body: "challenge ", Header: map[string][]string{"Cf-Mitigated": {"challenge"}}}}},
	} {
		for _, format := range []string{"text", "json"} {
			srv := fakeAPI(t)
			srv.SetEcho(true)
			srv.AddKey(live, true)
			srv.AddKey(revoked, false)
			srv.Inject(fakeperplexity.PathChat, tc.faults...)
			r := rekey(t, "Bearer "+tc.key+"\n", "check", "--format", format)
			if r.code == exitOK || r.code == exitUsage {
				t.Errorf("%s/%s: exit %d", tc.name, format, r.code)
			}
			if tc.name == "server error" && !strings.Contains(r.stdout, "received Authorization") {
				t.Errorf("%s/%s: the echo did not reach the output, so the test proves nothing:\n%s", tc.name, format, r.stdout)
			}
			assertNoLeak(t, []string{live, revoked}, r.stdout, r.stderr)
		}
	}
}

func TestRatePrecedence(t *testing.T) {
	t.Setenv(rateEnv, "")
	var o apiOptions
	if _, r, err := o.client(0); err != nil || r != 1 {
		t.Errorf("default rate %g (%v), want 1", r, err)
	}
	if _, r, _ := o.client(3); r != 3 {
		t.Errorf("configured rate %g, want 3", r)
	}
	t.Setenv(rateEnv, "5")
	if _, r, _ := o.client(3); r != 5 {
		t.Errorf("$%s rate %g, want 5 over the configuration", rateEnv, r)
	}
	if err := o.rate.Set("7"); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := o.client(3); r != 7 {
		t.Errorf("--rate %g, want 7 over everything", r)
	}
}
