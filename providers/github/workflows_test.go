package github

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// ciWorkflow is shaped like real workflows: env at workflow, job,
// container, service and step level, a matrix choosing the secret, a
// Perplexity action, a curl script, and calls to reusable workflows (local
// with explicit secrets, local with inherit, remote).
const ciWorkflow = `name: CI
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
env:
  PERPLEXITY_API_KEY: ${{ secrets.LLM_KEY }}
  OTHER: ${{ secrets.NOT_THIS }}
jobs:
  test:
    runs-on: ${{ matrix.os }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, macos-latest]
        python: ["3.11", "3.12"]
        include:
          - provider: perplexity
            key_secret: PROVIDER_KEY_A
          - provider: openai
            key_secret: OPENAI_KEY
    env:
      API_KEY: ${{ secrets[matrix.key_secret] }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
      - name: Summarize
        env:
          PPLX_TOKEN: ${{ secrets.SUMMARY_TOKEN || secrets.FALLBACK_TOKEN }}
          GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}
        run: python summarize.py
      - name: Review
        uses: example/perplexity-review-action@v2
        with:
          api-key: ${{ secrets.review_key }}
          github-token: ${{ secrets.GITHUB_TOKEN }}
      - id: curl
        run: |
          curl -sS https://api.perplexity.ai/chat/completions \
            -H "Authorization: Bearer ${{ secrets.RAW_KEY }}" \
            -d @request.json
      - name: Unrelated script
        run: echo "${{ secrets.DEPLOY_KEY }}" | ssh-add -
  deploy:
    needs: test
    environment: production
    runs-on: ubuntu-latest
    container:
      image: node:20
      env:
        PERPLEXITY_KEY: ${{ secrets.CONTAINER_KEY }}
    services:
      worker:
        image: ghcr.io/acme/worker:1
        env:
          PPLX_API_KEY: ${{ secrets['SERVICE_KEY'] }}
    steps:
      - run: npm run deploy
  call:
    uses: ./.github/workflows/reusable.yml
    with:
      model: sonar
    secrets:
      llm_token: ${{ secrets.CALLER_SECRET }}
      unrelated: ${{ secrets.UNRELATED }}
  call-remote:
    uses: acme/shared/.github/workflows/ai.yml@v1
    secrets:
      PERPLEXITY_API_KEY: ${{ secrets.REMOTE_PASSED }}
  call-inherit:
    uses: ./.github/workflows/reusable.yml
    secrets: inherit
  anchors:
    runs-on: ubuntu-latest
    env: &pplx
      PERPLEXITY_API_KEY: ${{ secrets.ANCHORED }}
    steps:
      - run: true
  merged:
    runs-on: ubuntu-latest
    env:
      <<: *pplx
      EXTRA: "1"
    steps:
      - run: true
`

const reusableWorkflow = `on:
  workflow_call:
    inputs:
      model:
        type: string
    secrets:
      llm_token:
        required: true
      unrelated:
        required: false
jobs:
  ask:
    runs-on: ubuntu-latest
    steps:
      - name: Ask
        env:
          PERPLEXITY_API_KEY: ${{ secrets.llm_token }}
          OTHER: ${{ secrets.unrelated }}
        run: ./ask.sh "${{ inputs.model }}"
      - uses: ./.github/workflows/../actions/noop
`

// chainWorkflow calls middle.yml, which passes the secret on to
// reusable.yml: the use is followed through two calls.
const chainWorkflow = `on: push
jobs:
  outer:
    uses: ./.github/workflows/middle.yml
    secrets:
      token: ${{ secrets.CHAINED }}
`

const middleWorkflow = `on:
  workflow_call:
    secrets:
      token:
        required: true
jobs:
  inner:
    uses: ./.github/workflows/reusable.yml
    secrets:
      llm_token: ${{ secrets.token }}
`

func parseAll(t *testing.T, files map[string]string) []Use {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var ws []*Workflow
	for _, n := range names {
		w, err := ParseWorkflow(n, []byte(files[n]), Matcher(DefaultPatterns))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		ws = append(ws, w)
	}
	return Resolve(ws)
}

func usesBySecret(uses []Use) map[string][]Use {
	m := map[string][]Use{}
	for _, u := range uses {
		m[u.Secret] = append(m[u.Secret], u)
	}
	return m
}

func TestParseWorkflowFindsPerplexityUses(t *testing.T) {
	uses := usesBySecret(parseAll(t, map[string]string{
		".github/workflows/ci.yml":       ciWorkflow,
		".github/workflows/reusable.yml": reusableWorkflow,
		".github/workflows/chain.yaml":   chainWorkflow,
		".github/workflows/middle.yml":   middleWorkflow,
	}))
	want := map[string]string{
		"LLM_KEY":        "feeds env PERPLEXITY_API_KEY in .github/workflows/ci.yml",
		"PROVIDER_KEY_A": "feeds env API_KEY in .github/workflows/ci.yml (job test)",
		"SUMMARY_TOKEN":  `feeds env PPLX_TOKEN in .github/workflows/ci.yml (job test, step "Summarize")`,
		"FALLBACK_TOKEN": `feeds env PPLX_TOKEN in .github/workflows/ci.yml (job test, step "Summarize")`,
		"REVIEW_KEY":     `feeds input api-key in .github/workflows/ci.yml (job test, step "Review")`,
		"RAW_KEY":        "is used by a script that calls Perplexity in .github/workflows/ci.yml (job test, step curl)",
		"CONTAINER_KEY":  "feeds env PERPLEXITY_KEY in .github/workflows/ci.yml (job deploy)",
		"SERVICE_KEY":    "feeds env PPLX_API_KEY in .github/workflows/ci.yml (job deploy, service worker)",
		"CALLER_SECRET":  "is passed as secret LLM_TOKEN to .github/workflows/reusable.yml, where it feeds env PERPLEXITY_API_KEY in .github/workflows/ci.yml (job call)",
		"REMOTE_PASSED":  "is passed as secret PERPLEXITY_API_KEY to a reusable workflow in .github/workflows/ci.yml (job call-remote)",
		"LLM_TOKEN":      `feeds env PERPLEXITY_API_KEY in .github/workflows/reusable.yml (job ask, step "Ask")`,
		"ANCHORED":       "feeds env PERPLEXITY_API_KEY in .github/workflows/ci.yml (job anchors)",
		"CHAINED":        "is passed as secret TOKEN to .github/workflows/middle.yml, where it feeds env PERPLEXITY_API_KEY in .github/workflows/chain.yaml (job outer)",
	}
	for secret, text := range want {
		got := uses[secret]
		if len(got) == 0 {
			t.Errorf("%s: no use found, want %q", secret, text)
			continue
		}
		var texts []string
		for _, u := range got {
			texts = append(texts, u.String())
		}
		if !slices.Contains(texts, text) {
			t.Errorf("%s: uses %q, want one %q", secret, texts, text)
		}
	}
	if len(uses["ANCHORED"]) != 2 {
		t.Errorf("ANCHORED: %d uses, want 2 (anchor and merge key)", len(uses["ANCHORED"]))
	}
	for _, secret := range []string{"NOT_THIS", "OPENAI_KEY", "UNRELATED", "DEPLOY_KEY", "GITHUB_TOKEN"} {
		if u := uses[secret]; len(u) > 0 {
			t.Errorf("%s is not handed to Perplexity, but found %v", secret, u)
		}
	}
}

func TestParseWorkflowMatrixWholeList(t *testing.T) {
	// When the target itself says Perplexity, every value the matrix field
	// takes is a candidate.
	w, err := ParseWorkflow("w.yml", []byte(`on: push
jobs:
  smoke:
    strategy:
      matrix:
        key: [PPLX_STAGING, PPLX_PROD]
        include:
          - key: PPLX_CANARY
    runs-on: ubuntu-latest
    steps:
      - env:
          PERPLEXITY_API_KEY: ${{ secrets[matrix.key] }}
        run: ./smoke
`), Matcher(DefaultPatterns))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range w.Uses {
		got = append(got, u.Secret)
	}
	sort.Strings(got)
	if want := []string{"PPLX_CANARY", "PPLX_PROD", "PPLX_STAGING"}; !slices.Equal(got, want) {
		t.Errorf("matrix secrets %v, want %v", got, want)
	}
}

func TestParseWorkflowCustomPatterns(t *testing.T) {
	w, err := ParseWorkflow("w.yml", []byte(`on: push
jobs:
  a:
    runs-on: ubuntu-latest
    env:
      SONAR_KEY: ${{ secrets.S1 }}
      PERPLEXITY_API_KEY: ${{ secrets.S2 }}
    steps: [{run: "true"}]
`), Matcher{"sonar"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Uses) != 1 || w.Uses[0].Secret != "S1" {
		t.Errorf("uses %v, want only S1 (patterns are configurable)", w.Uses)
	}
}

func TestParseWorkflowBadYAMLHoldsNoContent(t *testing.T) {
	key := testkeys.New(7).Mixed()
	_, err := ParseWorkflow(".github/workflows/bad.yml", []byte("jobs:\n  a: [\n    "+key+"\n  b: {"), Matcher(DefaultPatterns))
	if err == nil {
		t.Fatal("bad YAML parsed")
	}
	if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), key[5:]) {
		t.Fatalf("error quotes the file: %s", err)
	}
	if !strings.Contains(err.Error(), "bad.yml") {
		t.Errorf("error does not name the file: %v", err)
	}
}

func TestParseWorkflowOddShapes(t *testing.T) {
	// Shapes that must not crash the parser: scalars where maps are
	// expected, matrix from an expression, empty documents.
	for _, doc := range []string{
		"",
		"on: push\njobs: 3\n",
		"jobs:\n  a: text\n",
		"jobs:\n  a:\n    steps: nope\n    env: [1, 2]\n",
		"jobs:\n  a:\n    strategy:\n      matrix: ${{ fromJSON(needs.x.outputs.m) }}\n    env:\n      PPLX: ${{ secrets[matrix.k] }}\n",
		"jobs:\n  a:\n    steps:\n      - 42\n      - env: {PPLX_KEY: 7}\n",
	} {
		if _, err := ParseWorkflow("w.yml", []byte(doc), Matcher(DefaultPatterns)); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}
