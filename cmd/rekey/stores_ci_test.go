package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/github/githubfake"
	"github.com/rekeyhq/rekey/providers/gitlab/gitlabfake"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// ciReport is the part of the JSON report the CI store tests read.
type ciReport struct {
	Findings []struct {
		KeyID    string `json:"key_id"`
		Status   string `json:"status"`
		Detail   string `json:"detail"`
		Location struct {
			Kind string `json:"kind"`
			URI  string `json:"uri"`
		} `json:"location"`
	} `json:"findings"`
	Stats struct {
		Errors []struct{ Path, Message string } `json:"errors"`
	} `json:"stats"`
}

func parseCIReport(t *testing.T, out string) ciReport {
	t.Helper()
	var rep ciReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rep
}

const ciWorkflowFile = `name: summarize
on: [push]
jobs:
  run:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Summarize
        env:
          PERPLEXITY_API_KEY: ${{ secrets.LLM_KEY }}
        run: ./summarize.sh
`

func githubCIFake(t *testing.T) (*githubfake.Server, []string) {
	t.Helper()
	g := testkeys.New(71)
	keys := []string{g.Mixed(), g.Hex()}
	f := githubfake.New(t)
	f.AddRepo("acme/app")
	f.Set("acme/app", "actions/LLM_KEY", []byte(keys[0]))
	f.Set("acme/app", "actions/DEPLOY_KEY", []byte("ssh"))
	f.Set("acme/app", "env/production/PPLX_PROD", []byte(keys[0]))
	f.Set("acme/app", "variables/LLM_CONFIG", []byte(`{"key":"`+keys[1]+`"}`))
	f.AddFile("acme/app", ".github/workflows/summarize.yml", ciWorkflowFile)
	t.Setenv("GITHUB_TOKEN", "")
	t.Setenv("GH_TOKEN", f.Token)
	t.Setenv("GITHUB_API_URL", f.URL)
	return f, keys
}

func TestScanGitHubStore(t *testing.T) {
	_, keys := githubCIFake(t)
	r := rekey(t, "", "scan", "--format", "json", "--store", "github://acme/app", t.TempDir())
	assertNoLeak(t, keys, r.stdout, r.stderr)
	if r.code != exitFound {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitFound, r.stderr)
	}
	rep := parseCIReport(t, r.stdout)
	var got []string
	for _, fd := range rep.Findings {
		if fd.Location.Kind != "github-actions" {
			t.Errorf("finding of kind %s", fd.Location.Kind)
		}
		got = append(got, fd.Location.URI+" "+fd.Status)
		if fd.Status == "write-only" && !strings.Contains(fd.Detail, "cannot be read back") {
			t.Errorf("%s: detail %q does not say the value cannot be read", fd.Location.URI, fd.Detail)
		}
	}
	slices.Sort(got)
	want := []string{
		"github://acme/app/actions/LLM_KEY write-only",
		"github://acme/app/env/production/PPLX_PROD write-only",
		"github://acme/app/variables/LLM_CONFIG#key ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, fd := range rep.Findings {
		if fd.Location.URI == "github://acme/app/actions/LLM_KEY" && !strings.Contains(fd.Detail, "feeds env PERPLEXITY_API_KEY in .github/workflows/summarize.yml") {
			t.Errorf("LLM_KEY detail %q does not name the workflow", fd.Detail)
		}
	}

	text := rekey(t, "", "scan", "--store", "github://acme/app", t.TempDir())
	assertNoLeak(t, keys, text.stdout, text.stderr)
	if !strings.Contains(text.stdout, "github://acme/app/actions/LLM_KEY") || !strings.Contains(text.stdout, "write-only") {
		t.Errorf("text report does not show the write-only secret:\n%s", text.stdout)
	}
}

func TestScanGitHubStoreFromConfig(t *testing.T) {
	f, keys := githubCIFake(t)
	f.Set("acme/app", "env/staging/PPLX_STAGING", []byte("x"))
	f.Set("acme/app", "actions/SONAR_TOKEN", []byte("x"))
	dir := t.TempDir()
	config := "stores:\n  - uri: github://acme/app\n    environments: [production]\n    name_patterns: [SONAR]\n"
	if err := os.WriteFile(filepath.Join(dir, ".rekey.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r := rekey(t, "", "scan", "--format", "json", dir)
	assertNoLeak(t, keys, r.stdout, r.stderr)
	rep := parseCIReport(t, r.stdout)
	var got []string
	for _, fd := range rep.Findings {
		got = append(got, fd.Location.URI)
	}
	slices.Sort(got)
	// SONAR counts besides PERPLEXITY and PPLX; the staging environment
	// is not listed.
	want := []string{
		"github://acme/app/actions/LLM_KEY",
		"github://acme/app/actions/SONAR_TOKEN",
		"github://acme/app/env/production/PPLX_PROD",
		"github://acme/app/variables/LLM_CONFIG#key",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v; stderr:\n%s", got, want, r.stderr)
	}
}

func TestScanGitHubStorePartial(t *testing.T) {
	f, keys := githubCIFake(t)
	f.AddFile("acme/app", ".github/workflows/broken.yml", "jobs: [\n")
	r := rekey(t, "", "scan", "--format", "json", "--store", "github://acme/app", t.TempDir())
	assertNoLeak(t, keys, r.stdout, r.stderr)
	rep := parseCIReport(t, r.stdout)
	if len(rep.Stats.Errors) != 1 || rep.Stats.Errors[0].Path != "github://acme/app/.github/workflows/broken.yml" {
		t.Errorf("stats.errors %+v, want the broken workflow", rep.Stats.Errors)
	}
	if r.code != exitFound {
		t.Errorf("exit %d, want %d (keys found beats partial)", r.code, exitFound)
	}
}

func TestScanGitLabStore(t *testing.T) {
	g := testkeys.New(72)
	keys := []string{g.Mixed(), g.Hex()}
	f := gitlabfake.New(t)
	f.AddProject("acme/platform/app")
	f.Set("acme/platform/app", gitlabfake.Variable{Key: "PERPLEXITY_API_KEY", Value: keys[0], Scope: "production", Masked: true})
	f.Set("acme/platform/app", gitlabfake.Variable{Key: "PERPLEXITY_API_KEY", Value: "placeholder", Scope: "*"})
	f.Set("acme/platform/app", gitlabfake.Variable{Key: "PPLX_HIDDEN", Value: keys[1], Hidden: true})
	t.Setenv("GITLAB_TOKEN", f.Token)
	t.Setenv("CI_API_V4_URL", f.URL)

	r := rekey(t, "", "scan", "--format", "json", "--store", "gitlab://acme/platform/app", t.TempDir())
	assertNoLeak(t, keys, r.stdout, r.stderr)
	if r.code != exitFound {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitFound, r.stderr)
	}
	rep := parseCIReport(t, r.stdout)
	var got []string
	for _, fd := range rep.Findings {
		got = append(got, fd.Location.Kind+" "+fd.Location.URI+" "+fd.Status)
	}
	slices.Sort(got)
	want := []string{
		"gitlab-ci gitlab://acme/platform/app/PERPLEXITY_API_KEY@production ",
		"gitlab-ci gitlab://acme/platform/app/PPLX_HIDDEN@* write-only",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScanGitHubStoreMissingRepository(t *testing.T) {
	githubCIFake(t)
	r := rekey(t, "", "scan", "--store", "github://acme/nope", t.TempDir())
	// A store that cannot be read is partial, not fatal: the files are still scanned.
	if r.code != exitPartial || !strings.Contains(r.stderr, "acme/nope") || !strings.Contains(r.stderr, "404") {
		t.Errorf("missing repository: exit %d, want %d naming it; stderr:\n%s", r.code, exitPartial, r.stderr)
	}
}

func TestScanCIStoreWithoutToken(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "")
	t.Setenv("GH_TOKEN", "")
	t.Setenv("GITLAB_TOKEN", "")
	for _, uri := range []string{"github://acme/app", "gitlab://acme/app"} {
		r := rekey(t, "", "scan", "--store", uri, t.TempDir())
		if r.code != exitUsage || !strings.Contains(r.stderr, "TOKEN") {
			t.Errorf("%s without a token: exit %d, want %d naming the variable; stderr:\n%s", uri, r.code, exitUsage, r.stderr)
		}
	}
}
