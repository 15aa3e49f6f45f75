// Package rewrite finds and replaces one exact key in content, in its plain
// form and in its standard base64 forms, changing no other byte.
//
// It is the single definition of "a copy of the key" for rotation: planning
// counts copies with it, files and stores rewrite with it, and verification
// counts again with it, so the three can never disagree. Unlike the
// scanner's matcher it looks for one known value, not for the shape of a
// key, so it needs no boundary rules: a 53-byte known secret is never a
// coincidence, and a copy glued to other text (key%3Dpplx-…) is still a copy.
//
// A key inside base64 text is rewritten at the same alignment: the
// characters carrying only key bits are replaced by those of the new key,
// and the one or two characters that share bits with neighbouring bytes
// keep the neighbours' bits. Keys of equal length therefore give content of
// equal length, and replacing back restores the original bytes exactly.
package rewrite

import (
	"bytes"
	"encoding/base64"
	"slices"
)

// alphabet is the standard base64 alphabet, the one Kubernetes Secrets,
// basic-auth headers and most tools use.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// invalid marks bytes outside the alphabet in value.
const invalid = 0xff

// value maps a base64 character to its 6 bits.
var value = func() (t [256]byte) {
	for i := range t {
		t[i] = invalid
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// Counts says how many copies of a key a content holds, by form.
type Counts struct {
	Plain  int `json:"plain"`
	Base64 int `json:"base64"`
}

// Total is the number of copies in any form.
func (c Counts) Total() int { return c.Plain + c.Base64 }

// form is one way a key can appear: plainly, or base64-encoded starting
// align bytes into a 3-byte group.
type form struct {
	core  []byte // bytes that depend on the key alone
	align int    // -1 for the plain form
	// lead and trail are the partial characters before and after core
	// (0 or 1 each); the masks select their bits that belong to the key.
	lead, trail         int
	leadMask, trailMask byte
	leadBits, trailBits byte
}

// Key is a key prepared for searching and replacing. Build it once per run
// with NewKey; it is safe for concurrent use.
type Key struct {
	raw   string
	forms []form // plain first, then base64 alignments 0, 1, 2
}

// NewKey prepares key. The key must be at least a few bytes long; any value
// works, but rotation uses it for Perplexity keys only.
func NewKey(key string) *Key {
	k := &Key{raw: key}
	k.forms = append(k.forms, form{core: []byte(key), align: -1})
	for align := range 3 {
		k.forms = append(k.forms, base64Form(key, align))
	}
	return k
}

// base64Form computes the base64 text of key when it starts align bytes
// into a 3-byte group.
func base64Form(key string, align int) form {
	raw := make([]byte, align+len(key))
	copy(raw[align:], key)
	for len(raw)%3 != 0 {
		raw = append(raw, 0)
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	startBit, endBit := 8*align, 8*(align+len(key))
	firstFull := (startBit + 5) / 6 // first character wholly inside the key
	lastFull := endBit/6 - 1        // last character wholly inside the key
	f := form{core: []byte(enc[firstFull : lastFull+1]), align: align}
	if startBit%6 != 0 {
		bits := 6*firstFull - startBit // low bits of the lead character
		f.lead, f.leadMask = 1, byte(1<<bits-1)
		f.leadBits = value[enc[firstFull-1]] & f.leadMask
	}
	if endBit%6 != 0 {
		bits := endBit - 6*(lastFull+1) // high bits of the trail character
		f.trail, f.trailMask = 1, byte(1<<bits-1)<<(6-bits)
		f.trailBits = value[enc[lastFull+1]] & f.trailMask
	}
	return f
}

// Span is one copy of a key in content: data[Start:End] are the bytes that
// carry it (for base64, including the partial characters at both ends).
type Span struct {
	Start, End int
	Base64     bool
	form       int // index into Key.forms
}

// Contains reports whether data holds at least one copy of the key.
func (k *Key) Contains(data []byte) bool {
	for i := range k.forms {
		if k.next(data, 0, i) >= 0 {
			return true
		}
	}
	return false
}

// Count counts the copies of the key in data.
func (k *Key) Count(data []byte) Counts {
	var c Counts
	for _, s := range k.Spans(data) {
		if s.Base64 {
			c.Base64++
		} else {
			c.Plain++
		}
	}
	return c
}

// Spans returns every copy of the key in data, in order, without overlaps.
func (k *Key) Spans(data []byte) []Span {
	var spans []Span
	for i, f := range k.forms {
		for from := 0; ; {
			at := k.next(data, from, i)
			if at < 0 {
				break
			}
			spans = append(spans, Span{Start: at - f.lead, End: at + len(f.core) + f.trail, Base64: f.align >= 0, form: i})
			from = at + len(f.core)
		}
	}
	slices.SortFunc(spans, func(a, b Span) int { return a.Start - b.Start })
	// Copies of one key cannot overlap in real content; drop any the
	// search found twice so a rewrite never writes one byte twice.
	kept := spans[:0]
	for _, s := range spans {
		if len(kept) == 0 || s.Start >= kept[len(kept)-1].End {
			kept = append(kept, s)
		}
	}
	return kept
}

// next finds the next copy of form i at or after from, returning the index
// of its core or -1.
func (k *Key) next(data []byte, from, i int) int {
	f := &k.forms[i]
	for from <= len(data) {
		j := bytes.Index(data[from:], f.core)
		if j < 0 {
			return -1
		}
		at := from + j
		if f.edgesMatch(data, at) {
			return at
		}
		from = at + 1
	}
	return -1
}

// edgesMatch checks the partial characters around a core found at data[at:]:
// they must be base64 characters whose key bits are the key's.
func (f *form) edgesMatch(data []byte, at int) bool {
	if f.lead > 0 {
		if at == 0 || !bitsMatch(data[at-1], f.leadMask, f.leadBits) {
			return false
		}
	}
	if f.trail > 0 {
		end := at + len(f.core)
		if end >= len(data) || !bitsMatch(data[end], f.trailMask, f.trailBits) {
			return false
		}
	}
	return true
}

func bitsMatch(c, mask, bits byte) bool {
	v := value[c]
	return v != invalid && v&mask == bits
}

// Replace returns a copy of data with every copy of from replaced by the
// same form of to, and how many copies it replaced. from and to must have
// the same length, so the result has the length of data and every byte
// outside the copies is unchanged. When there is nothing to replace, data
// itself is returned.
func Replace(data []byte, from, to *Key) ([]byte, Counts) {
	if len(from.raw) != len(to.raw) {
		panic("rewrite: keys of different lengths")
	}
	spans := from.Spans(data)
	if len(spans) == 0 {
		return data, Counts{}
	}
	out := bytes.Clone(data)
	var c Counts
	for _, s := range spans {
		f, t := &from.forms[s.form], &to.forms[s.form]
		core := s.Start + f.lead
		copy(out[core:], t.core)
		if f.lead > 0 {
			out[s.Start] = alphabet[value[out[s.Start]]&^t.leadMask|t.leadBits]
		}
		if f.trail > 0 {
			end := core + len(t.core)
			out[end] = alphabet[value[out[end]]&^t.trailMask|t.trailBits]
		}
		if s.Base64 {
			c.Base64++
		} else {
			c.Plain++
		}
	}
	return out, c
}
