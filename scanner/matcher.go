package scanner

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
)

// The shape of a Perplexity API key: the literal prefix followed by exactly
// BodyLen ASCII letters and digits.
const (
	Prefix  = "pplx-"
	BodyLen = 48
	KeyLen  = len(Prefix) + BodyLen
)

// Encoding says how a key was stored where it was found.
type Encoding string

// The encodings the matcher recognises.
const (
	Plain  Encoding = "plain"
	Base64 Encoding = "base64"
)

// Match is one key found in a byte slice.
type Match struct {
	Secret   Secret
	Encoding Encoding
	// Start and End delimit the key's bytes (for base64, the characters that
	// carry its bits) in the searched data.
	Start, End int
	// Need is one past the last byte the matcher had to look at to decide
	// (the byte after the key, for the boundary check). Streaming callers use
	// it to report a match exactly once across overlapping chunks.
	Need int
}

// MaxContext is the most bytes a match decision needs from Start-Context to
// Need. Streaming sources must overlap consecutive chunks by at least this.
const MaxContext = 128

// base64Needle is the part of the base64 text of Prefix that does not depend
// on the bytes around the key, for one of the three alignments of the key
// inside a 3-byte group.
type base64Needle struct {
	text      []byte
	align     int // bytes of the first 3-byte group that precede the key
	charsBack int // base64 characters from the group start to text
}

var base64Needles = makeBase64Needles()

func makeBase64Needles() []base64Needle {
	needles := make([]base64Needle, 0, 3)
	for align := 0; align < 3; align++ {
		raw := make([]byte, align+len(Prefix)+3)
		copy(raw[align:], Prefix)
		enc := base64.StdEncoding.EncodeToString(raw)
		// Character i carries bits [6i, 6i+6): keep those wholly inside the prefix.
		first := (8*align + 5) / 6
		last := 8*(align+len(Prefix))/6 - 1
		needles = append(needles, base64Needle{
			text:      []byte(enc[first : last+1]),
			align:     align,
			charsBack: first,
		})
	}
	return needles
}

var isAlnum = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	return t
}()

// The hot path looks for a rare anchor byte of each needle with
// bytes.IndexByte (SIMD) and compares the needle only around it. Two base64
// needles share their anchor "H", so three cache-resident passes over each
// block cost little more than one bytes.Index for the prefix over memory.
type anchored struct {
	needle []byte
	at     int // index of the anchor byte in needle
	check  func(dst []Match, data []byte, start int, atEOF bool) []Match
}

var anchors = makeAnchors()

func makeAnchors() map[byte][]anchored {
	m := map[byte][]anchored{}
	add := func(needle []byte, check func([]Match, []byte, int, bool) []Match) {
		// Bytes ordered from rarest in source text and configuration files.
		const rarest = "GH-BL4wCbgxp"
		anchor := rarest[strings.IndexAny(rarest, string(needle))]
		m[anchor] = append(m[anchor], anchored{needle: needle, at: bytes.IndexByte(needle, anchor), check: check})
	}
	add([]byte(Prefix), matchPlain)
	for _, n := range base64Needles {
		add(n.text, func(dst []Match, data []byte, start int, atEOF bool) []Match {
			return matchBase64(dst, data, start-n.charsBack, n.align, atEOF)
		})
	}
	return m
}

// searchBlock bounds how far one anchor is searched before the next one, so
// the data stays in the CPU cache between the two passes.
const searchBlock = 32 << 10

// FindKeys appends to dst every key in data, in order of Start. atEOF says
// data ends the input: without it, a key whose boundary cannot be decided
// yet (it touches the end of data) is left for the next, overlapping chunk.
func FindKeys(dst []Match, data []byte, atEOF bool) []Match {
	before := len(dst)
	for blockStart := 0; blockStart < len(data); blockStart += searchBlock {
		blockEnd := min(blockStart+searchBlock, len(data))
		for anchor, needles := range anchors {
			dst = findAnchor(dst, data, blockStart, blockEnd, anchor, needles, atEOF)
		}
	}
	found := dst[before:]
	if len(found) > 1 {
		slices.SortFunc(found, func(a, b Match) int { return a.Start - b.Start })
	}
	return dst
}

// findAnchor checks every needle around each anchor byte in data[blockStart:blockEnd].
func findAnchor(dst []Match, data []byte, blockStart, blockEnd int, anchor byte, needles []anchored, atEOF bool) []Match {
	for i := blockStart; i < blockEnd; i++ {
		j := bytes.IndexByte(data[i:blockEnd], anchor)
		if j < 0 {
			return dst
		}
		i += j
		for _, n := range needles {
			start := i - n.at
			if start >= 0 && start+len(n.needle) <= len(data) && bytes.Equal(data[start:start+len(n.needle)], n.needle) {
				dst = n.check(dst, data, start, atEOF)
			}
		}
	}
	return dst
}

// matchPlain validates a prefix found at data[at:].
func matchPlain(dst []Match, data []byte, at int, atEOF bool) []Match {
	end := at + KeyLen
	if end > len(data) {
		return dst // too short now; the next chunk overlaps, or it is no key
	}
	if !boundaryBefore(data, at) {
		return dst
	}
	if end == len(data) && !atEOF {
		return dst // the byte after decides; it is in the next chunk
	}
	if end < len(data) && isAlnum[data[end]] {
		return dst
	}
	key := data[at:end]
	if !isKeyBody(key[len(Prefix):]) {
		return dst
	}
	return append(dst, Match{Secret: Secret(key), Encoding: Plain, Start: at, End: end, Need: min(end+1, len(data))})
}

// boundaryBefore reports whether the byte before data[at] cannot belong to
// the key: start of data, a non-alphanumeric byte, or the letter of a
// backslash escape such as the "n" of a literal \n.
func boundaryBefore(data []byte, at int) bool {
	if at == 0 || !isAlnum[data[at-1]] {
		return true
	}
	return at >= 2 && data[at-2] == '\\'
}

// isKeyBody checks the 48 characters after the prefix: letters and digits
// only, and not a placeholder.
func isKeyBody(body []byte) bool {
	if len(body) != BodyLen {
		return false
	}
	for _, c := range body {
		if !isAlnum[c] {
			return false
		}
	}
	return !isPlaceholder(body)
}

// isPlaceholder recognises bodies no generator would produce: very few
// distinct characters ("xxxx…", "0000…", "abab…") or a short repeating
// pattern ("0123456789abcdef0123…"). Real keys, mixed-case or lower-case hex,
// use far more variety, so no entropy threshold is needed.
func isPlaceholder(body []byte) bool {
	var seen [256]bool
	distinct := 0
	for _, c := range body {
		if !seen[c] {
			seen[c] = true
			distinct++
		}
	}
	if distinct < 8 {
		return true
	}
	for period := 1; period <= 16; period++ {
		if bytes.Equal(body[period:], body[:len(body)-period]) {
			return true
		}
	}
	return false
}

var base64Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// matchBase64 validates a base64 needle whose 4-character group starts at
// data[group:], with the key starting align bytes into that group.
func matchBase64(dst []Match, data []byte, group, align int, atEOF bool) []Match {
	if group < 0 {
		return dst
	}
	// Decode the key and the byte after it (when the base64 run goes on).
	want := align + KeyLen + 1
	var buf [KeyLen + 4]byte
	decoded, looked, ranOut := decodeBase64Run(buf[:0], data[group:], want)
	if ranOut && !atEOF {
		return dst // the run may go on in the next chunk
	}
	if len(decoded) < align+KeyLen {
		return dst
	}
	key := decoded[align : align+KeyLen]
	if !bytes.HasPrefix(key, []byte(Prefix)) || !isKeyBody(key[len(Prefix):]) {
		return dst
	}
	if len(decoded) > align+KeyLen && isAlnum[decoded[align+KeyLen]] {
		return dst
	}
	if align > 0 && isAlnum[decoded[align-1]] {
		return dst
	}
	if align == 0 && group >= 4 {
		var prevBuf [3]byte
		if prev, _, _ := decodeBase64Run(prevBuf[:0], data[group-4:group], 3); len(prev) == 3 && isAlnum[prev[2]] {
			return dst
		}
	}
	end := group + (8*(align+KeyLen)+5)/6
	return append(dst, Match{Secret: Secret(key), Encoding: Base64, Start: group, End: end, Need: group + looked})
}

// decodeBase64Run decodes whole 4-character groups (and a final partial one)
// from the start of text until want bytes are decoded or the run of base64
// characters ends. It returns the decoded bytes, how many characters of text
// it looked at (the one that ended the run included), and whether it ran out
// of text before it could decide.
func decodeBase64Run(dst, text []byte, want int) (decoded []byte, looked int, ranOut bool) {
	var acc uint32
	n := 0
	for i, c := range text {
		v := base64Value[c]
		if v < 0 {
			return dst, i + 1, false
		}
		acc = acc<<6 | uint32(v)
		n++
		switch n % 4 { // each character adds 6 bits; a byte is complete after 2, 3 and 4
		case 2:
			dst = append(dst, byte(acc>>4&0xff))
		case 3:
			dst = append(dst, byte(acc>>2&0xff))
		case 0:
			dst = append(dst, byte(acc&0xff))
			acc = 0
		}
		if len(dst) >= want {
			return dst[:want], i + 1, false
		}
	}
	return dst, len(text), true
}
