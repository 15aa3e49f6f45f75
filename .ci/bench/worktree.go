// Command worktree is the helper of worktree.sh, the working-tree benchmark
// of rekey scan against ripgrep. It has two jobs that a shell script does
// badly:
//
//	worktree gen -dir DIR [-files N] [-mb N] [-keys N] [-seed N] -corpus DIR
//	    writes a tree of source-like text files of a realistic size
//	    distribution under DIR and plants keys made at run time, one per file
//	    and line, so both tools must count exactly -keys of them;
//	worktree measure -out FILE -- CMD [ARG...]
//	    runs CMD with stdout to FILE and prints "WALL_S MAXRSS_KB EXIT CPU_S"
//	    (CPU_S: user + system time); the peak resident set size comes from wait4's rusage, the figure
//	    /usr/bin/time -v prints as "Maximum resident set size".
//
// It lives under .ci, outside the packages that ./... matches, and is built
// by file name: go build -o X .ci/bench/worktree.go.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: worktree gen|measure [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "measure":
		err = measure(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worktree:", err)
		os.Exit(2)
	}
}

// sizeSigma is the spread of the log-normal file-size distribution. Source
// trees have a median file of a few KB and a long tail of generated code,
// vendored bundles and fixtures; with sigma 1.7 and a 25 KB mean the median
// is about 6 KB, 1% of files exceed 300 KB and the largest are a few MB.
const sizeSigma = 1.7

// maxFile caps one file, so that one outlier cannot hold most of the bytes.
const maxFile = 32 << 20

// extensions are the file kinds of a polyglot repository, with weights.
var extensions = []struct {
	ext    string
	weight int
}{
	{".go", 20}, {".ts", 12}, {".js", 10}, {".py", 12}, {".java", 6}, {".md", 8},
	{".json", 8}, {".yaml", 6}, {".txt", 4}, {".html", 3}, {".css", 3}, {".sh", 3},
	{".c", 3}, {".env", 1},
}

// keyLines are the contexts keys are planted in, by file extension; the
// line is the key's own, so ripgrep's per-line count equals the key count.
var keyLines = map[string]string{
	".env":  "PERPLEXITY_API_KEY=%s",
	".go":   "\tconst perplexityKey = \"%s\"",
	".ts":   "const client = new Perplexity({ apiKey: '%s' });",
	".js":   "  apiKey: \"%s\",",
	".py":   "client = OpenAI(api_key=\"%s\", base_url=\"https://api.perplexity.ai\")",
	".json": "  \"apiKey\": \"%s\",",
	".yaml": "  api_key: %s",
	".sh":   "export PPLX_API_KEY='%s'",
	"":      "# PERPLEXITY_API_KEY: %s",
}

func gen(args []string) error {
	fl := flag.NewFlagSet("gen", flag.ContinueOnError)
	dir := fl.String("dir", "", "directory to create the tree in (must not exist)")
	files := fl.Int("files", 20000, "number of files")
	mb := fl.Int("mb", 500, "total size in MiB")
	keys := fl.Int("keys", 50, "number of keys to plant, one per file")
	seed := fl.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (the same seed gives the same tree)")
	corpusDir := fl.String("corpus", "", "directory of source text to sample from (e.g. $(go env GOROOT)/src)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *corpusDir == "" || *files < 1 || *keys < 0 || *keys > *files {
		return errors.New("gen needs -dir and -corpus, -files ≥ 1 and 0 ≤ -keys ≤ -files")
	}
	corpus, err := loadCorpus(*corpusDir, 64<<20)
	if err != nil {
		return err
	}
	keyGen := testkeys.New(*seed)
	r := rand.New(rand.NewPCG(*seed, 1)) //nolint:gosec // test data: a seed must reproduce the tree
	paths := layout(r, *files)
	sizes := fileSizes(r, *files, int64(*mb)<<20)

	holders := map[int]bool{}
	for _, i := range r.Perm(*files)[:*keys] {
		holders[i] = true
	}
	var written int64
	for i, p := range paths {
		data := sample(r, corpus, sizes[i])
		if isDotenv(p) {
			data = dotenv(r, sizes[i])
		}
		if holders[i] {
			key := keyGen.Mixed()
			if i%3 == 0 {
				key = keyGen.Hex() // hex keys must count too
			}
			data = plant(r, data, keyLine(p, key))
		}
		if err := os.MkdirAll(filepath.Join(*dir, filepath.Dir(p)), 0o750); err != nil {
			return fmt.Errorf("create tree: %w", err)
		}
		if err := os.WriteFile(filepath.Join(*dir, p), data, 0o644); err != nil {
			return fmt.Errorf("create tree: %w", err)
		}
		written += int64(len(data))
	}
	slices.Sort(sizes)
	fmt.Printf("generated %d files, %d bytes (%.0f MiB), %d keys, seed %d; file size median %d B, p90 %d B, p99 %d B, max %d B\n",
		*files, written, float64(written)/(1<<20), *keys, *seed,
		sizes[len(sizes)/2], sizes[len(sizes)*9/10], sizes[len(sizes)*99/100], sizes[len(sizes)-1])
	return nil
}

// loadCorpus concatenates the text files under dir, up to limit bytes,
// leaving out any file that holds the key prefix so the only keys in the
// tree are the planted ones.
func loadCorpus(dir string, limit int) ([]byte, error) {
	var corpus bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || corpus.Len() >= limit {
			return nil // an unreadable corpus file is just left out
		}
		b, err := os.ReadFile(p) //nolint:gosec // the corpus is the Go distribution, read only
		if err != nil || bytes.IndexByte(b, 0) >= 0 || bytes.Contains(b, []byte(scanner.Prefix)) {
			return nil // as above; binaries and key-like text too
		}
		corpus.Write(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read corpus: %w", err)
	}
	if corpus.Len() < 1<<20 {
		return nil, fmt.Errorf("read corpus: only %d bytes of text under %s", corpus.Len(), dir)
	}
	return corpus.Bytes(), nil
}

// fileSizes draws n log-normal sizes and scales them to sum to total.
func fileSizes(r *rand.Rand, n int, total int64) []int64 {
	raw := make([]float64, n)
	var sum float64
	for i := range raw {
		raw[i] = math.Exp(sizeSigma * r.NormFloat64())
		sum += raw[i]
	}
	sizes := make([]int64, n)
	var got int64
	for i, v := range raw {
		sizes[i] = min(int64(v/sum*float64(total)), maxFile)
		got += sizes[i]
	}
	// Capping and rounding lose a little; spread it over random files.
	for got < total {
		i := r.IntN(n)
		add := min(total-got, maxFile-sizes[i], 64<<10)
		sizes[i] += add
		got += add
	}
	return sizes
}

// layout names n files in a tree of nested directories, about 15 files to
// a directory and at most 6 levels deep, as in a monorepo.
func layout(r *rand.Rand, n int) []string {
	dirs := []string{"."}
	depth := []int{0}
	for range max(1, n/15) {
		parent := r.IntN(len(dirs))
		for depth[parent] >= 6 {
			parent = r.IntN(len(dirs))
		}
		dirs = append(dirs, filepath.Join(dirs[parent], fmt.Sprintf("%s%d", dirWords[r.IntN(len(dirWords))], len(dirs))))
		depth = append(depth, depth[parent]+1)
	}
	total := 0
	for _, e := range extensions {
		total += e.weight
	}
	paths := make([]string, n)
	for i := range paths {
		w := r.IntN(total)
		ext := ""
		for _, e := range extensions {
			if w -= e.weight; w < 0 {
				ext = e.ext
				break
			}
		}
		name := fmt.Sprintf("%s_%d%s", fileWords[r.IntN(len(fileWords))], i, ext)
		if ext == ".env" {
			name = fmt.Sprintf(".env.%d", i) // the dotenv spelling
		}
		paths[i] = filepath.Join(dirs[r.IntN(len(dirs))], name)
	}
	return paths
}

var (
	dirWords  = []string{"src", "pkg", "internal", "lib", "cmd", "api", "web", "docs", "test", "config", "deploy", "tools", "vendor", "app"}
	fileWords = []string{"main", "util", "handler", "client", "server", "model", "types", "index", "config", "service", "helpers", "README", "schema", "routes"}
)

// sample returns size bytes of corpus from a random line start, wrapping.
func sample(r *rand.Rand, corpus []byte, size int64) []byte {
	out := make([]byte, 0, size+int64(scanner.KeyLen)+128)
	at := r.IntN(len(corpus))
	if nl := bytes.IndexByte(corpus[at:], '\n'); nl >= 0 {
		at += nl + 1
	} else {
		at = 0
	}
	for int64(len(out)) < size {
		take := min(int64(len(corpus)-at), size-int64(len(out)))
		out = append(out, corpus[at:at+int(take)]...)
		at = 0
	}
	return out
}

// isDotenv reports the dotenv files of the tree, which hold settings, not code.
func isDotenv(p string) bool { return strings.HasPrefix(filepath.Base(p), ".env") }

// dotenv returns NAME=value lines, as in a real .env file: small, since
// nobody keeps megabytes of settings, so the size drawn is capped at 4 KiB.
func dotenv(r *rand.Rand, size int64) []byte {
	size = min(size, 4<<10)
	var b bytes.Buffer
	for int64(b.Len()) < size {
		name := strings.ToUpper(fileWords[r.IntN(len(fileWords))] + "_" + dirWords[r.IntN(len(dirWords))])
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "# %s settings\n", strings.ToLower(name))
		case 1:
			fmt.Fprintf(&b, "%s_URL=\"https://%s.example.internal:%d/v1\"\n", name, dirWords[r.IntN(len(dirWords))], 1024+r.IntN(60000))
		case 2:
			fmt.Fprintf(&b, "%s_ENABLED=%t\n", name, r.IntN(2) == 0)
		default:
			fmt.Fprintf(&b, "%s_TIMEOUT=%ds\n", name, 1+r.IntN(120))
		}
	}
	return b.Bytes()
}

// keyLine returns the line that carries key in a file named p.
func keyLine(p, key string) string {
	ext := filepath.Ext(p)
	if isDotenv(p) {
		ext = ".env"
	}
	format, ok := keyLines[ext]
	if !ok {
		format = keyLines[""]
	}
	return fmt.Sprintf(format, key) + "\n"
}

// plant inserts line at a random line start of data.
func plant(r *rand.Rand, data []byte, line string) []byte {
	at := 0
	if len(data) > 0 {
		at = r.IntN(len(data))
		if nl := bytes.IndexByte(data[at:], '\n'); nl >= 0 {
			at += nl + 1
		} else {
			at = len(data)
		}
	}
	if at > 0 && data[at-1] != '\n' {
		line = "\n" + line
	}
	out := make([]byte, 0, len(data)+len(line))
	out = append(out, data[:at]...)
	out = append(out, line...)
	return append(out, data[at:]...)
}

func measure(args []string) error {
	fl := flag.NewFlagSet("measure", flag.ContinueOnError)
	out := fl.String("out", os.DevNull, "file to write the command's stdout to")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() == 0 {
		return errors.New("measure needs a command after --")
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	defer func() { _ = f.Close() }()
	cmd := exec.CommandContext(context.Background(), fl.Arg(0), fl.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return fmt.Errorf("measure: %w", err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return errors.New("measure: no rusage on this platform")
	}
	// Linux reports ru_maxrss in KiB.
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Println(seconds(wall), ru.Maxrss, cmd.ProcessState.ExitCode(), seconds(cpu))
	return nil
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
