package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/awsfake"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// awsFake starts the AWS fake and points the standard AWS chain at it.
func awsFake(t *testing.T) *awsfake.Server {
	t.Helper()
	f := awsfake.New()
	t.Cleanup(f.Close)
	f.Setenv(t)
	return f
}

type awsScanReport struct {
	Findings []struct {
		KeyID    string `json:"key_id"`
		Location struct {
			Kind string `json:"kind"`
			URI  string `json:"uri"`
		} `json:"location"`
	} `json:"findings"`
	Stats struct {
		Errors []struct{ Path, Message string } `json:"errors"`
	} `json:"stats"`
}

func TestScanAWSStores(t *testing.T) {
	f := awsFake(t)
	g := testkeys.New(61)
	keys := []string{g.Mixed(), g.Hex(), g.Mixed(), g.Mixed()}
	f.PutSecretString("prod/app", `{"PERPLEXITY_API_KEY":"`+keys[0]+`","db":{"password":"hunter2"}}`)
	f.PutSecretString("prod/clean", "nothing here")
	f.PutSecretString("prod/locked", "PERPLEXITY_API_KEY="+keys[2])
	f.DenySecret("prod/locked")
	f.PutSecretString("staging/app", keys[3]) // outside the prefix
	f.PutParameter(awsfake.Parameter{Name: "/prod/llm/key", Value: keys[1], Type: awsfake.TypeSecureString, KeyID: "alias/llm"})
	f.PutParameter(awsfake.Parameter{Name: "/prod/llm/model", Value: "sonar"})

	r := rekey(t, "", "scan", "--format", "json",
		"--store", "aws-sm://us-east-1/prod/", "--store", "aws-ssm://us-east-1/prod/", t.TempDir())
	assertNoLeak(t, keys, r.stdout, r.stderr)
	if r.code != exitFound {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitFound, r.stderr)
	}
	var rep awsScanReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fd := range rep.Findings {
		got = append(got, fd.Location.Kind+" "+fd.Location.URI)
	}
	slices.Sort(got)
	want := []string{
		"aws-secretsmanager aws-sm://us-east-1/prod/app#PERPLEXITY_API_KEY",
		"aws-ssm aws-ssm://us-east-1/prod/llm/key",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(rep.Stats.Errors) != 1 || rep.Stats.Errors[0].Path != "aws-sm://us-east-1/prod/locked" ||
		!strings.Contains(rep.Stats.Errors[0].Message, "AccessDeniedException") {
		t.Errorf("stats.errors %+v, want the locked secret, access denied", rep.Stats.Errors)
	}
	if !strings.Contains(r.stderr, "aws-sm://us-east-1/prod/locked") {
		t.Errorf("stderr does not name the secret that could not be read:\n%s", r.stderr)
	}
}

// A store read in part, with no key in what could be read, is a partial
// scan (exit 3), whether the store comes from --store or .rekey.yaml.
func TestScanAWSStorePartial(t *testing.T) {
	f := awsFake(t)
	g := testkeys.New(62)
	key := g.Mixed()
	f.PutSecretString("prod/clean", "nothing here")
	f.PutSecretString("prod/locked", key)
	f.DenySecret("prod/locked")
	f.DenyBatch(true) // one by one: the same outcome

	dir := t.TempDir()
	config := "stores:\n  - uri: aws-sm://placeholder\n    region: eu-west-3\n    prefix: prod/\n    concurrency: 2\n"
	if err := os.WriteFile(filepath.Join(dir, ".rekey.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r := rekey(t, "", "scan", dir)
	assertNoLeak(t, []string{key}, r.stdout, r.stderr)
	if r.code != exitPartial || !strings.Contains(r.stderr, "aws-sm://eu-west-3/prod/locked") {
		t.Errorf("exit %d, want %d naming the locked secret; stderr:\n%s", r.code, exitPartial, r.stderr)
	}
	if got := f.Regions(); !slices.Equal(got, []string{"eu-west-3"}) {
		t.Errorf("regions used %v, want the configured eu-west-3", got)
	}
}

func TestScanAWSStoreBadURI(t *testing.T) {
	awsFake(t)
	for _, uri := range []string{"aws-sm://prod/app", "aws-ssm://eu-west-1/app/?threads=3"} {
		r := rekey(t, "", "scan", "--store", uri, t.TempDir())
		if r.code != exitUsage || !strings.Contains(r.stderr, "rekey: hint:") {
			t.Errorf("%s: exit %d, want %d with a hint; stderr:\n%s", uri, r.code, exitUsage, r.stderr)
		}
	}
}
