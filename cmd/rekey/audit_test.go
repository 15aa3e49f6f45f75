package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/awsfake"
	"github.com/rekeyhq/rekey/providers/github/githubfake"
	"github.com/rekeyhq/rekey/providers/gitlab/gitlabfake"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/gittest"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

const auditWorkflow = `on: push
jobs:
  summarize:
    runs-on: ubuntu-latest
    env:
      PERPLEXITY_API_KEY: ${{ secrets.LLM_KEY }}
    steps:
      - run: ./summarize
`

// auditFixture is a repository with a key in a file, a key only in
// history, a workflow feeding a secret to Perplexity, and a key in an AWS
// store; it returns the repository and the keys (live, revoked, history-only,
// store).
func auditFixture(t *testing.T) (*gittest.Repo, []string) {
	t.Helper()
	gitEnv(t)
	g := testkeys.New(88)
	keys := []string{g.Mixed(), g.Mixed(), g.Hex(), g.Mixed()}
	repo := gittest.Init(t)
	repo.Write("app/client.py", "KEY = '"+keys[2]+"'\n")
	historic := repo.Commit("add client")
	repo.Write("app/client.py", "KEY = os.environ['PERPLEXITY_API_KEY']\n")
	repo.Write(".github/workflows/summarize.yml", auditWorkflow)
	repo.Write(".gitignore", ".env\n")
	repo.Commit("read the key from the environment")
	repo.Write(".env", "PERPLEXITY_API_KEY="+keys[0]+"\nOLD_KEY=\"Bearer "+keys[1]+"\"\n")
	f := awsFake(t)
	f.PutSecretString("prod/app", `{"llm":{"key":"`+keys[1]+`"}}`)
	repo.Write(".rekey.yaml", "stores:\n  - uri: aws-sm://placeholder\n    region: us-east-1\n    prefix: prod/\n")
	api := fakeAPI(t)
	api.AddKey(keys[0], true)
	api.AddKey(keys[1], false)
	api.AddKey(keys[2], false)
	_ = historic
	return repo, keys
}

func TestAuditGroundTruth(t *testing.T) {
	repo, keys := auditFixture(t)
	r := rekey(t, "", "audit", "--verify", "--format", "json", repo.Dir)
	assertNoLeak(t, keys, r.stdout, r.stderr)
	if r.code != exitFound {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var report scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range report.Findings {
		got = append(got, strings.Join([]string{string(f.Location.Kind), f.Location.Path, f.Location.URI, f.KeyID, f.Status}, " "))
	}
	hist := repo.Git("log", "--format=%H", "--reverse")
	first := strings.Split(hist, "\n")[0]
	want := []string{
		"aws-secretsmanager  aws-sm://us-east-1/prod/app#llm.key " + scanner.KeyID(keys[1]) + " invalid",
		"file .env file:.env:1 " + scanner.KeyID(keys[0]) + " live",
		"file .env file:.env:2 " + scanner.KeyID(keys[1]) + " invalid",
		"git-history app/client.py git:" + first + ":app/client.py:1 " + scanner.KeyID(keys[2]) + " invalid",
		"github-actions .github/workflows/summarize.yml github-workflow:.github/workflows/summarize.yml#secrets.LLM_KEY  write-only",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	steps := map[string]scanner.KeySummary{}
	for _, k := range report.Keys {
		steps[k.KeyID] = k
	}
	if k := steps[scanner.KeyID(keys[1])]; k.NextStep != "rotate it: the key is revoked or invalid but still configured, so whatever reads these places fails" ||
		k.Command != "rekey rotate --old-env OLD_KEY --new-env NEW_KEY --store aws-sm://us-east-1/prod/" || !slices.Contains(k.Problems, "bearer-prefix") {
		t.Errorf("revoked key in a file and a store: %+v", k)
	}
	if k := steps[scanner.KeyID(keys[2])]; !strings.HasPrefix(k.NextStep, "nothing urgent") {
		t.Errorf("revoked key only in history: %+v", k)
	}
	if k := steps[scanner.KeyID(keys[0])]; k.Status != "live" || k.Command != "" {
		t.Errorf("live key in an ignored file only: %+v", k)
	}
}

func TestAuditFormats(t *testing.T) {
	repo, keys := auditFixture(t)
	text := rekey(t, "", "audit", repo.Dir)
	if !strings.Contains(text.stdout, "  next: ") || !strings.Contains(text.stdout, "  run:  rekey check --key-env OLD_KEY") ||
		!strings.Contains(text.stdout, "CI secrets presumed to hold a key") || strings.Contains(text.stdout, "\x1b[") {
		t.Errorf("text report (no colour off a terminal):\n%s", text.stdout)
	}
	md := rekey(t, "", "audit", "--format", "markdown", repo.Dir)
	if !strings.HasPrefix(md.stdout, "# rekey report") || !strings.Contains(md.stdout, "| key | status | locations | next step |") {
		t.Errorf("markdown report:\n%s", md.stdout)
	}
	out := filepath.Join(t.TempDir(), "audit.sarif")
	if r := rekey(t, "", "audit", "--output", out, repo.Dir); r.code != exitFound {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	sarif, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, sarif)
	assertNoLeak(t, keys, text.stdout, text.stderr, md.stdout, string(sarif))
}

// auditRepos makes n small repositories, each with its own key in a file
// and in history, and the list file naming them.
func auditRepos(t *testing.T, n int) (string, []string) {
	t.Helper()
	gitEnv(t)
	g := testkeys.New(89)
	var lines, keys []string
	for i := range n {
		k := g.Mixed()
		keys = append(keys, k)
		repo := gittest.Init(t)
		repo.Write("config.yaml", "token: "+k+"\n")
		repo.Commit("config")
		repo.Write("deploy/.env", "PERPLEXITY_API_KEY="+k+"\n")
		lines = append(lines, repo.Dir)
		if i == 0 {
			lines = append(lines, "# a comment", "")
		}
	}
	list := filepath.Join(t.TempDir(), "repos.txt")
	if err := os.WriteFile(list, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return list, keys
}

var durationRe = regexp.MustCompile(`"duration_ms": \d+`)

func TestAuditShardsMergeToTheWhole(t *testing.T) {
	list, keys := auditRepos(t, 5)
	dir := t.TempDir()
	whole := rekey(t, "", "audit", "--repos", list, "--format", "json")
	if whole.code != exitFound {
		t.Fatalf("exit %d: %s", whole.code, whole.stderr)
	}
	var shards []string
	for _, s := range []string{"1/3", "2/3", "3/3"} {
		file := filepath.Join(dir, "shard-"+s[:1]+".json")
		if r := rekey(t, "", "audit", "--repos", list, "--shard", s, "--output", file); r.code != exitFound {
			t.Fatalf("shard %s: exit %d: %s", s, r.code, r.stderr)
		}
		shards = append(shards, file)
	}
	merged := rekey(t, "", append([]string{"merge"}, shards...)...)
	if merged.code != exitFound {
		t.Fatalf("merge: exit %d: %s", merged.code, merged.stderr)
	}
	norm := func(s string) string { return durationRe.ReplaceAllString(s, `"duration_ms": 0`) }
	if norm(merged.stdout) != norm(whole.stdout) {
		t.Fatalf("merged shards differ from the whole audit:\n%s\nwhole:\n%s", merged.stdout, whole.stdout)
	}
	var report scanner.Report
	if err := json.Unmarshal([]byte(whole.stdout), &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Findings) != 15 || len(report.Keys) != 5 || report.Findings[0].Location.Repo == "" {
		t.Fatalf("want 3 findings (2 files, 1 history) in each of 5 repositories, with the repository named: %+v", report.Findings)
	}
	assertNoLeak(t, keys, whole.stdout, merged.stdout)
}

func TestAuditUsageErrors(t *testing.T) {
	list, _ := auditRepos(t, 1)
	for _, args := range [][]string{
		{"audit", "--repos", list, "--shard", "0/2"},
		{"audit", "--repos", list, "--shard", "3/2"},
		{"audit", "--repos", list, "--shard", "x"},
		{"audit", "--shard", "1/2"},
		{"audit", "--repos", filepath.Join(t.TempDir(), "missing.txt")},
		{"audit", "--format", "pdf"},
		{"merge", filepath.Join(t.TempDir(), "missing.json")},
		{"merge", list},
	} {
		if r := rekey(t, "", args...); r.code != exitUsage || !strings.HasPrefix(r.stderr, "rekey: error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestAuditInit(t *testing.T) {
	gitEnv(t)
	repo := gittest.Init(t)
	repo.Git("remote", "add", "origin", "git@github.com:acme/app.git")
	repo.Git("remote", "add", "mirror", "https://gitlab.example.com/acme/platform/app.git")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	r := rekey(t, "", "audit", "--init", repo.Dir)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	cfg, err := loadConfig("", repo.Dir)
	if err != nil {
		t.Fatalf("the starter config does not load: %v", err)
	}
	got := cfg.storeURIs()
	want := []string{"github://acme/app", "gitlab://acme/platform/app", "aws-sm://eu-west-1/", "aws-ssm://eu-west-1/", "vault://secret/"}
	if !slices.Equal(got, want) {
		t.Errorf("stores %v, want %v", got, want)
	}
	before, _ := os.ReadFile(filepath.Join(repo.Dir, configName))
	again := rekey(t, "", "audit", "--init", repo.Dir)
	after, _ := os.ReadFile(filepath.Join(repo.Dir, configName))
	if again.code != exitUsage || !strings.Contains(again.stderr, "exists already") || !bytes.Equal(before, after) {
		t.Errorf("a second --init must refuse and change nothing: exit %d, %s", again.code, again.stderr)
	}
}

func TestStoreForRemote(t *testing.T) {
	for raw, want := range map[string]string{
		"git@github.com:acme/app.git":              "github://acme/app",
		"https://github.com/acme/app":              "github://acme/app",
		"ssh://git@github.com/acme/app.git":        "github://acme/app",
		"https://gitlab.com/group/sub/project.git": "gitlab://group/sub/project",
		"git@gitlab.example.com:group/project.git": "gitlab://group/project",
		"https://bitbucket.org/acme/app.git":       "",
		"/srv/git/app.git":                         "",
		"https://github.com/acme":                  "",
	} {
		if got := storeForRemote(raw); got != want {
			t.Errorf("storeForRemote(%q) = %q, want %q", raw, got, want)
		}
	}
}

// An audit over a repository and every kind of store (the AWS, GitHub and
// GitLab fakes, a real Vault dev server) finds each copy of each key, with
// the write-only CI secrets presumed from their names and the workflows.
func TestAuditEveryStore(t *testing.T) {
	srv := vaulttest.Start(t)
	repo, keys := auditFixture(t)
	g := testkeys.New(90)
	vaultKey, ciKey := g.Mixed(), g.Hex()
	keys = append(keys, vaultKey, ciKey)

	aws := awsFake(t) // a fresh fake: the fixture's store is replaced
	aws.PutSecretString("prod/app", `{"llm":{"key":"`+keys[1]+`"}}`)
	aws.PutParameter(awsfake.Parameter{Name: "/prod/llm/key", Value: keys[1], Type: awsfake.TypeSecureString})
	srv.Seed(t, "secret", 2, map[string]map[string]any{"app/config": {"PERPLEXITY_API_KEY": vaultKey, "region": "eu"}})
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "VAULT_") {
			t.Setenv(name, "")
		}
	}
	t.Setenv("VAULT_ADDR", srv.Addr)
	t.Setenv("VAULT_TOKEN", vaulttest.RootToken)
	gh := githubfake.New(t)
	gh.AddRepo("acme/app")
	gh.Set("acme/app", "actions/PPLX_TOKEN", []byte(ciKey))
	gh.Set("acme/app", "variables/LLM_CONFIG", []byte(`{"key":"`+ciKey+`"}`))
	t.Setenv("GITHUB_TOKEN", gh.Token)
	t.Setenv("GITHUB_API_URL", gh.URL)
	gl := gitlabfake.New(t)
	gl.AddProject("acme/app")
	gl.Set("acme/app", gitlabfake.Variable{Key: "PERPLEXITY_API_KEY", Value: ciKey, Scope: "production"})
	t.Setenv("GITLAB_TOKEN", gl.Token)
	t.Setenv("CI_API_V4_URL", gl.URL)
	repo.Write(".rekey.yaml", `stores:
  - aws-sm://us-east-1/prod/
  - aws-ssm://us-east-1/prod/
  - vault://secret/app
  - github://acme/app
  - gitlab://acme/app
`)

	r := rekey(t, "", "audit", "--format", "json", repo.Dir)
	assertNoLeak(t, keys, r.stdout, r.stderr)
	if r.code != exitFound {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var report scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range report.Findings {
		if f.Location.Kind != scanner.KindFile && f.Location.Kind != scanner.KindGitHistory {
			got = append(got, strings.Join([]string{string(f.Location.Kind), f.Location.URI, f.KeyID, f.Status}, " "))
		}
	}
	slices.Sort(got)
	want := []string{
		"aws-secretsmanager aws-sm://us-east-1/prod/app#llm.key " + scanner.KeyID(keys[1]) + " ",
		"aws-ssm aws-ssm://us-east-1/prod/llm/key " + scanner.KeyID(keys[1]) + " ",
		"github-actions github-workflow:.github/workflows/summarize.yml#secrets.LLM_KEY  write-only",
		"github-actions github://acme/app/actions/PPLX_TOKEN  write-only",
		"github-actions github://acme/app/variables/LLM_CONFIG#key " + scanner.KeyID(ciKey) + " ",
		"gitlab-ci gitlab://acme/app/PERPLEXITY_API_KEY@production " + scanner.KeyID(ciKey) + " ",
		"vault vault://secret/app/config#PERPLEXITY_API_KEY " + scanner.KeyID(vaultKey) + " ",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("store findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, k := range report.Keys {
		if k.KeyID == scanner.KeyID(keys[1]) && k.Kinds["aws-secretsmanager"] != 1 {
			t.Errorf("key summary does not count the store copies: %+v", k)
		}
	}
}
