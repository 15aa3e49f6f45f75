//go:build linux

package filerot

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// durability makes written data durable with syncfs, shared by every
// write in flight on the same file system ("group commit"). One fsync per
// file costs one journal commit and one small write each, which on many
// disks serialises thousands of files; one syncfs writes back all of them
// together and commits once.
type durability struct {
	mu     sync.Mutex
	groups map[uint64]*group // by device
}

// group runs the syncfs rounds of one file system.
type group struct {
	mu       sync.Mutex
	cond     *sync.Cond
	started  uint64 // rounds begun
	finished uint64 // rounds ended
	running  bool
	err      error // sticky: a failed syncfs fails every later write too
}

func (d *durability) group(dev uint64) *group {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.groups == nil {
		d.groups = map[uint64]*group{}
	}
	g, ok := d.groups[dev]
	if !ok {
		g = &group{}
		g.cond = sync.NewCond(&g.mu)
		d.groups[dev] = g
	}
	return g
}

// sync returns once everything written to f before the call is durable:
// after a syncfs of f's file system that began after the call.
func (d *durability) sync(f *os.File, dev uint64) error {
	g := d.group(dev)
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1 // the first round to begin after now
	for g.finished < need && g.err == nil {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		round := g.started
		g.mu.Unlock()
		err := unix.Syncfs(int(f.Fd()))
		g.mu.Lock()
		g.running, g.finished = false, round
		if err != nil {
			g.err = fmt.Errorf("syncfs: %w", err)
		}
		g.cond.Broadcast()
	}
	return g.err
}

// flush makes every change so far durable, renames included: one syncfs
// per file system written to.
func (d *durability) flush(dirs []string) error {
	done := map[uint64]bool{}
	for _, dir := range dirs {
		f, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("sync directory: %w", err)
		}
		id, err := fstat(f)
		if err == nil && !done[id.dev] {
			done[id.dev] = true
			err = d.sync(f, id.dev)
		}
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return nil
}
