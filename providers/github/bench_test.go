package github

import (
	"context"
	"fmt"
	"testing"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/github/githubfake"
)

func BenchmarkParseWorkflow(b *testing.B) {
	data := []byte(ciWorkflow)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseWorkflow(".github/workflows/ci.yml", data, Matcher(DefaultPatterns)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListRepository lists a large repository through the fake: 500
// repository secrets, 5 environments of 50 secrets and 10 variables, 60
// variables and 2 workflows; the cost is dominated by requests (pages of
// 100 secrets, 30 variables).
func BenchmarkListRepository(b *testing.B) {
	f := githubfake.New(b)
	f.AddRepo(repoName)
	for i := range 500 {
		f.Set(repoName, fmt.Sprintf("actions/SECRET_%03d", i), []byte("x"))
	}
	for e := range 5 {
		for i := range 50 {
			f.Set(repoName, fmt.Sprintf("env/env%d/SECRET_%03d", e, i), []byte("x"))
		}
		for i := range 10 {
			f.Set(repoName, fmt.Sprintf("env/env%d/variables/VAR_%03d", e, i), []byte("value"))
		}
	}
	for i := range 60 {
		f.Set(repoName, fmt.Sprintf("variables/VAR_%03d", i), []byte("value"))
	}
	f.AddFile(repoName, ".github/workflows/ci.yml", ciWorkflow)
	f.AddFile(repoName, ".github/workflows/reusable.yml", reusableWorkflow)
	s, err := New(repoName, Options{Token: f.Token, BaseURL: f.URL})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		n := 0
		if err := s.List(context.Background(), func(providers.Entry) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != 860 {
			b.Fatalf("listed %d entries, want 860", n)
		}
	}
}
