package scanner

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// growPipe enlarges the pipe git writes objects into from 64 KiB to 1 MiB
// (the unprivileged maximum): a gigabyte of history then takes 16 times
// fewer wake-ups of the reading goroutine, which roughly halves the cost
// of moving it between the processes. Failure is harmless.
func growPipe(r io.Reader) {
	if f, ok := r.(*os.File); ok {
		_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	}
}
