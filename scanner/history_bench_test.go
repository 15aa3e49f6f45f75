package scanner

import (
	"context"
	"os"
	"testing"
)

// BenchmarkHistory scans the history of the repository named by
// $REKEY_BENCH_REPO (for example one kept by .ci/bench/history.sh --keep),
// through the git CLI and through go-git alone. Without it, it is skipped.
func BenchmarkHistory(b *testing.B) {
	repo := os.Getenv("REKEY_BENCH_REPO")
	if repo == "" {
		b.Skip("set REKEY_BENCH_REPO to a repository, e.g. one kept by .ci/bench/history.sh --keep")
	}
	for _, tc := range []struct {
		name     string
		noGitCLI bool
	}{{"git-cli", false}, {"go-git", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var bytes int64
			for b.Loop() {
				scan := NewScan("", nil)
				h, err := NewHistory(repo, HistoryOptions{NoGitCLI: tc.noGitCLI}, scan)
				if err != nil {
					b.Fatal(err)
				}
				r, err := scan.Run(context.Background(), h)
				if err != nil {
					b.Fatal(err)
				}
				_ = h.Close()
				bytes = r.Stats.Bytes
			}
			b.SetBytes(bytes)
		})
	}
}
