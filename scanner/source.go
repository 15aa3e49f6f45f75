package scanner

import "context"

// Chunk is a piece of one object's content (a file, a blob, a secret value)
// on its way from a Source to the Detector.
//
// Large objects arrive as several chunks that overlap by MaxContext bytes,
// so a key spanning a chunk boundary is still seen whole: Data[:Fresh] is
// the tail of the previous chunk.
type Chunk struct {
	// Location addresses the object; Line, Column and Offset are filled in
	// per finding. A non-empty URI is used as the prefix of each finding's uri.
	Location Location
	Data     []byte
	Offset   int64 // byte offset of Data[0] in the object
	Line     int   // line number of Data[0], from 1
	Fresh    int   // Data[:Fresh] repeats the end of the previous chunk
	Final    bool  // the object ends with this chunk
	Binary   bool  // report byte offsets, not lines
}

// first reports whether the chunk starts its object.
func (c *Chunk) first() bool { return c.Offset == 0 && c.Fresh == 0 }

// Source pushes the content of the objects it knows to emit, possibly from
// several goroutines at once. Non-fatal problems (an unreadable file) go to
// the Reporter the source was built with; only fatal ones are returned.
// emit may keep no reference to the chunk's data after it returns.
type Source interface {
	Scan(ctx context.Context, emit func(Chunk) error) error
}

// Reporter receives the problems a Source meets without stopping.
type Reporter interface {
	// Error records an object that could not be read.
	Error(path string, err error)
	// Warn records an object that was read, with a caveat.
	Warn(path string, msg string)
	// Skip records an object deliberately not read, and why.
	Skip(path string, reason string)
}
