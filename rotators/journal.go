package rotators

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rekeyhq/rekey/scanner"
)

// StateDir returns the directory for journals: $XDG_STATE_HOME/rekey when
// XDG_STATE_HOME is an absolute path, else ~/.local/state/rekey. It lives
// in the user's home, never in the repository being rotated.
func StateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "rekey"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "rekey"), nil
}

// ensureStateDir creates dir with mode 0700, and tightens it if it exists:
// journals say where keys live.
func ensureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // a directory needs the x bit; 0700 is owner-only
		return fmt.Errorf("create the state directory: %w", err)
	}
	return nil
}

// runIDPattern is the shape of a run id; checked before an id given on the
// command line becomes part of a path.
var runIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

func newRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ValidRunID reports whether id has the shape of a run id.
func ValidRunID(id string) bool { return runIDPattern.MatchString(id) }

// Record types of the journal, one JSON object per line.
const (
	recRun        = "run"    // header: what the run is
	recResume     = "resume" // a later process took the run over
	recPlan       = "plan"   // a location about to be written, with its hash before
	recMinted     = "minted" // the run minted its new key
	recDone       = "done"   // a location's outcome
	recEnd        = "end"    // the run finished
	recRolledBack = "rolled-back"
)

// record is one journal line. Fields that do not apply are left out. It
// holds addresses, key ids and content hashes, never a key.
type record struct {
	Type string `json:"type"`
	At   string `json:"at,omitempty"`

	RunID      string   `json:"run_id,omitempty"`
	Mode       string   `json:"mode,omitempty"`
	RollbackOf string   `json:"rollback_of,omitempty"`
	OldKeyID   string   `json:"old_key_id,omitempty"`
	NewKeyID   string   `json:"new_key_id,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	Stores     []string `json:"stores,omitempty"`

	Kind          scanner.Kind `json:"kind,omitempty"`
	URI           string       `json:"uri,omitempty"`
	Path          string       `json:"path,omitempty"`
	Ref           string       `json:"ref,omitempty"`
	Before        string       `json:"before,omitempty"`
	BeforeVersion string       `json:"before_version,omitempty"`
	After         string       `json:"after,omitempty"`
	Old           int          `json:"old,omitempty"`
	New           int          `json:"new,omitempty"`
	Action        Action       `json:"action,omitempty"`
	Verified      bool         `json:"verified,omitempty"`
	Detail        string       `json:"detail,omitempty"`

	WrittenTo string `json:"written_to,omitempty"`
	Failed    int    `json:"failed,omitempty"`
	By        string `json:"by,omitempty"`
}

// journal appends records to one run's file. Records are buffered and
// written by sync and close: the engine syncs the plan records before the
// first write, which is what a rollback needs; the later records only
// inform.
type journal struct {
	id   string
	path string
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	err  error // the first write error; later appends are skipped
}

func journalPath(dir, id string) string { return filepath.Join(dir, id+".jsonl") }

// createJournal starts the journal of a new run.
func createJournal(dir, id string, header record) (*journal, error) {
	p := journalPath(dir, id)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the journal: %w", err)
	}
	j := &journal{id: id, path: p, f: f, w: bufio.NewWriterSize(f, 64<<10)}
	header.Type, header.RunID = recRun, id
	j.append(header)
	return j, j.sync()
}

// appendJournal reopens the journal of an earlier run to add to it.
func appendJournal(dir, id string) (*journal, error) {
	p := journalPath(dir, id)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the journal of run %s: %w", id, err)
	}
	return &journal{id: id, path: p, f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// append adds one record. A crash can leave the last line torn; readers
// skip it. Errors are kept for sync and close.
func (j *journal) append(r record) {
	if r.At == "" {
		r.At = time.Now().UTC().Format(time.RFC3339Nano)
	}
	line, err := json.Marshal(r)
	if err != nil {
		panic(err) // records hold only strings and numbers
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	if _, err := j.w.Write(append(line, '\n')); err != nil {
		j.err = fmt.Errorf("write the journal: %w", err)
	}
}

// sync makes the records so far durable.
func (j *journal) sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if err := j.w.Flush(); err != nil {
		j.err = fmt.Errorf("write the journal: %w", err)
	} else if err := j.f.Sync(); err != nil {
		j.err = fmt.Errorf("sync the journal: %w", err)
	}
	return j.err
}

func (j *journal) close() error {
	err := j.sync()
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close the journal: %w", cerr)
	}
	return err
}

// runLog is a journal read back.
type runLog struct {
	header   record
	plans    []record          // the last plan record per ref, in first-seen order
	done     map[string]record // the last done record per ref
	newKeyID string            // from the header or the minted record
	minted   *record
	ended    bool
	rolledBy string
}

// readJournal parses the journal of run id. A torn last line (a crash in
// the middle of a write) is ignored.
func readJournal(dir, id string) (*runLog, error) {
	f, err := os.Open(journalPath(dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no journal for run %s in %s", id, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read the journal of run %s: %w", id, err)
	}
	defer func() { _ = f.Close() }()
	l := &runLog{done: map[string]record{}}
	index := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	first := true
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // torn by a crash
		}
		if first {
			if r.Type != recRun {
				return nil, fmt.Errorf("journal of run %s: not a rekey journal", id)
			}
			l.header, l.newKeyID, first = r, r.NewKeyID, false
			continue
		}
		switch r.Type {
		case recPlan:
			if i, ok := index[r.Ref]; ok {
				l.plans[i] = r
			} else {
				index[r.Ref] = len(l.plans)
				l.plans = append(l.plans, r)
			}
		case recDone:
			l.done[r.Ref] = r
		case recMinted:
			l.minted, l.newKeyID = &r, r.NewKeyID
		case recEnd:
			l.ended = true
		case recRolledBack:
			l.rolledBy = r.By
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the journal of run %s: %w", id, err)
	}
	if first {
		return nil, fmt.Errorf("journal of run %s is empty", id)
	}
	return l, nil
}

// unfinishedRuns returns the runs of mode rotate for old key id oldID that
// never recorded their end, newest first.
func unfinishedRuns(dir, oldID string) ([]*runLog, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list journals: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".jsonl"); ok && ValidRunID(id) {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	var runs []*runLog
	for _, id := range ids {
		l, err := readJournal(dir, id)
		if err != nil {
			continue // not ours to judge; it stays listed in the directory
		}
		if !l.ended && l.header.Mode == ModeRotate && l.header.OldKeyID == oldID {
			runs = append(runs, l)
		}
	}
	return runs, nil
}
