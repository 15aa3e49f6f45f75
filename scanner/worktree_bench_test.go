package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// BenchmarkWorkTree scans a tree with the whole engine (NewScan, WorkTree,
// Detector) and, in the same run, reads the same tree with a bare parallel
// walk-and-read, reporting the ratio: what scanning costs over the I/O
// floor. The tree is REKEY_BENCH_TREE when set (.ci/bench/worktree.sh
// --keep leaves one of 20,000 files / 500 MiB), else a small one built here.
// Profile with -cpuprofile; the comparison with ripgrep is worktree.sh's.
func BenchmarkWorkTree(b *testing.B) {
	root, keys := os.Getenv("REKEY_BENCH_TREE"), -1
	if root == "" {
		root, keys = b.TempDir(), 20
		writeBenchTree(b, root, 2000, 64<<20, keys)
	}
	var readTime, scanTime time.Duration
	var size int64
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		n, err := readTree(root)
		if err != nil {
			b.Fatal(err)
		}
		readTime += time.Since(start)

		start = time.Now()
		r, err := NewScan("", nil).Run(context.Background(), mustWorkTree(b, root))
		if err != nil {
			b.Fatal(err)
		}
		scanTime += time.Since(start)
		if r.Stats.Bytes != n || keys >= 0 && len(r.Findings) != keys || len(r.Stats.Errors) != 0 {
			b.Fatalf("scan read %d bytes (want %d), found %d keys (want %d), errors %v",
				r.Stats.Bytes, n, len(r.Findings), keys, r.Stats.Errors)
		}
		size = n
	}
	b.SetBytes(size)
	mb := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/readTime.Seconds(), "read-MB/s")
	b.ReportMetric(mb/scanTime.Seconds(), "scan-MB/s")
	b.ReportMetric(float64(scanTime)/float64(readTime), "ratio")
}

func mustWorkTree(tb testing.TB, root string) *WorkTree {
	tb.Helper()
	w, err := NewWorkTree([]string{root}, NewScan("", nil))
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// readTree is the floor a scan is measured against: walk, open and read
// every regular file with one reused buffer per CPU, nothing else.
func readTree(root string) (int64, error) {
	files := make(chan string, 256)
	g := new(errgroup.Group)
	g.Go(func() error {
		defer close(files)
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files <- p
			}
			return err
		})
	})
	total := make([]int64, runtime.GOMAXPROCS(0))
	for w := range total {
		g.Go(func() error {
			buf := make([]byte, ChunkSize)
			for p := range files {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				for {
					n, err := f.Read(buf)
					total[w] += int64(n)
					if errors.Is(err, io.EOF) {
						break
					} else if err != nil {
						_ = f.Close()
						return err
					}
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	var sum int64
	for _, n := range total {
		sum += n
	}
	return sum, err
}

// writeBenchTree writes files files of source text, totalling about size
// bytes with log-normal sizes (median a few KB, a long tail), in nested
// directories, and plants keys keys, one per file.
func writeBenchTree(tb testing.TB, root string, files, size, keys int) {
	tb.Helper()
	text := sourceText(tb, 8<<20)
	gen := testkeys.New(42)
	r := gen.Rand()
	weights := make([]float64, files)
	var sum float64
	for i := range weights {
		weights[i] = math.Exp(1.7 * r.NormFloat64())
		sum += weights[i]
	}
	for i, w := range weights {
		n := int(w / sum * float64(size))
		at := r.IntN(len(text) - min(n, len(text)-1))
		data := append([]byte(nil), text[at:at+min(n, len(text)-at)]...)
		if i < keys {
			data = append(data, "\nPERPLEXITY_API_KEY="+gen.Mixed()+"\n"...)
		}
		p := filepath.Join(root, fmt.Sprintf("d%d", i%40), fmt.Sprintf("e%d", i%7), fmt.Sprintf("f%d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
