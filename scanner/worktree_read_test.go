package scanner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// TestEOFAtSizeReadsWholeFile streams files of sizes around the chunk
// boundaries through eofAtSize with a right, a stale-small and a stale-large
// size, and with reads that all come back short: ending at the size must
// never cut a file short or read past it.
func TestEOFAtSizeReadsWholeFile(t *testing.T) {
	r := testkeys.New(7).Rand()
	dir := t.TempDir()
	buf := make([]byte, MaxContext+ChunkSize)
	for _, size := range []int{0, 1, 4096, ChunkSize - 1, ChunkSize, ChunkSize + MaxContext, ChunkSize + MaxContext + 1, 3*ChunkSize + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte('a' + r.IntN(26))
		}
		p := filepath.Join(dir, fmt.Sprint(size))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			hint    int
			oneByte bool // every read short, as on a slow or interrupted file system
		}{{size, false}, {size - 1, false}, {size + 1, false}, {0, false}, {size, true}, {size + 1, true}, {0, true}} {
			if tc.oneByte && size > 4096 {
				continue
			}
			f, err := openFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var in io.Reader = f
			if tc.oneByte {
				in = iotest.OneByteReader(f)
			}
			var got []byte
			chunks, final := 0, false
			err = StreamChunks(&eofAtSize{f: in, size: int64(tc.hint)}, buf, Chunk{}, func(c Chunk) error {
				chunks++
				got = append(got, c.Data[c.Fresh:]...)
				if final = c.Final; final && len(got) != size {
					return fmt.Errorf("chunk %d: final after %d of %d bytes", chunks, len(got), size)
				}
				return nil
			})
			_ = f.Close()
			if err != nil || !final || !bytes.Equal(got, data) {
				t.Fatalf("size %d, size hint %d, one byte a read %v: err %v, final %v, read %d bytes in %d chunks, equal %v",
					size, tc.hint, tc.oneByte, err, final, len(got), chunks, bytes.Equal(got, data))
			}
		}
	}
}

// TestOpenFileErrorLikeOSOpen keeps the error text of os.Open, which
// reports and tests show users.
func TestOpenFileErrorLikeOSOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing")
	_, err := openFile(p)
	_, want := os.Open(p)
	var pathErr *fs.PathError
	if err == nil || !errors.As(err, &pathErr) || !errors.Is(err, fs.ErrNotExist) || err.Error() != want.Error() {
		t.Fatalf("openFile error %v, want %v", err, want)
	}
}
