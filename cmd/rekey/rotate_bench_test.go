package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// BenchmarkRotateVsScan measures plan + apply + verify of 10,000 files
// holding OLD inside a 50,000-file tree against a plain 'rekey scan' of
// the same tree, in the same run. The target is rotate/scan <= 3. Both run
// in-process through the CLI, so flag parsing and reporting are included;
// the rotation is offline (no API) and each iteration rotates back,
// untimed, to start from the same tree. floor-ms is the least an atomic
// replacement of the same files costs on this file system (see
// atomicReplaceFloor).
//
//	go test ./cmd/rekey -run XXX -bench RotateVsScan -benchtime 3x
func BenchmarkRotateVsScan(b *testing.B) {
	g := testkeys.New(2026)
	oldKey, newKey := g.Mixed(), g.Mixed()
	root := b.TempDir()
	b.Setenv("XDG_STATE_HOME", b.TempDir())
	b.Setenv("BENCH_OLD", oldKey)
	b.Setenv("BENCH_NEW", newKey)
	filler := strings.Repeat("some configuration = value # and a comment\n", 30)
	for i := range 50000 {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		content := filler
		if i%5 == 0 {
			content += "PERPLEXITY_API_KEY=" + oldKey + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.env", i%100)), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cli := func(args ...string) int { return run(args, strings.NewReader(""), io.Discard, io.Discard) }
	rotate := func(from, to string) {
		if code := cli("rotate", "--old-env", from, "--new-env", to, "--offline", "--yes", "--no-history", root); code != 0 {
			b.Fatalf("rotate exit %d", code)
		}
	}
	cli("scan", root) // warm the page cache for both
	var scanTime, rotateTime, floorTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if code := cli("scan", root); code != exitFound {
			b.Fatalf("scan exit %d", code)
		}
		scanTime += time.Since(start)
		start = time.Now()
		rotate("BENCH_OLD", "BENCH_NEW")
		rotateTime += time.Since(start)
		b.StopTimer()
		rotate("BENCH_NEW", "BENCH_OLD")
		floorTime += atomicReplaceFloor(b, root)
		b.StartTimer()
	}
	b.ReportMetric(float64(scanTime.Milliseconds())/float64(b.N), "scan-ms")
	b.ReportMetric(float64(rotateTime.Milliseconds())/float64(b.N), "rotate-ms")
	b.ReportMetric(float64(floorTime.Milliseconds())/float64(b.N), "floor-ms")
	b.ReportMetric(float64(rotateTime)/float64(scanTime), "rotate/scan")
}

// atomicReplaceFloor times the least any atomic rotation of the same files
// costs on this file system: for each of the 10,000 files holding a key,
// create a temporary file beside it, write the same content and rename it
// over the original, 16 at a time, spread over the directories, with no
// reading, checking, syncing or journal. Where creating files is slow this
// floor, not rekey, bounds the rotation.
func atomicReplaceFloor(b *testing.B, root string) time.Duration {
	b.Helper()
	var files []string
	for f := 0; f < 100; f += 5 {
		for d := range 500 {
			files = append(files, filepath.Join(root, fmt.Sprintf("d%03d", d), fmt.Sprintf("f%02d.env", f)))
		}
	}
	contents := make([][]byte, len(files))
	for i, p := range files {
		var err error
		if contents[i], err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(16)
	for i, p := range files {
		g.Go(func() error {
			tmp := p + ".floor"
			if err := os.WriteFile(tmp, contents[i], 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, p)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
