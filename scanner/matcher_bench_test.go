package scanner

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sourceText returns size bytes of real, key-free source code: the Go
// standard library's sources, repeated.
func sourceText(tb testing.TB, size int) []byte {
	tb.Helper()
	var corpus bytes.Buffer
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		tb.Skipf("go env GOROOT: %v", err)
	}
	root := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || corpus.Len() > 64<<20 {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && !bytes.Contains(b, []byte(Prefix)) {
			corpus.Write(b)
		}
		return nil
	})
	if corpus.Len() == 0 {
		tb.Skip("no Go sources found under GOROOT to build realistic text from")
	}
	out := make([]byte, 0, size)
	for len(out) < size {
		out = append(out, corpus.Bytes()[:min(corpus.Len(), size-len(out))]...)
	}
	return out
}

// BenchmarkMatcherVsIndex measures FindKeys on 256 MB of key-free source
// text against a bare bytes.Index for the prefix over the same data, in the
// same run, and reports the ratio (target: ≤ 1.5).
func BenchmarkMatcherVsIndex(b *testing.B) {
	data := sourceText(b, 256<<20)
	var indexTime, matchTime time.Duration
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if bytes.Index(data, []byte(Prefix)) >= 0 { //nolint:gocritic,staticcheck // bytes.Index is the baseline being measured
			b.Fatal("corpus holds the prefix")
		}
		indexTime += time.Since(start)

		start = time.Now()
		if m := FindKeys(nil, data, true); len(m) != 0 {
			b.Fatalf("found %d keys in key-free text", len(m))
		}
		matchTime += time.Since(start)
	}
	mb := float64(len(data)) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/indexTime.Seconds(), "index-MB/s")
	b.ReportMetric(mb/matchTime.Seconds(), "matcher-MB/s")
	b.ReportMetric(float64(matchTime)/float64(indexTime), "ratio")
}
