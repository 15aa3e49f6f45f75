package scanner

import (
	"bytes"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/joho/godotenv"
)

// allowMarker on the same line as a key suppresses the finding.
const allowMarker = "rekey:allow"

// Detector turns the matches in a chunk into findings.
type Detector struct {
	// Only, when set, restricts findings to this one key.
	Only Secret
	// Reporter receives warnings about content (a malformed .env file).
	Reporter Reporter
}

// Detect returns the findings in c and how many were suppressed inline.
func (d *Detector) Detect(c Chunk) (findings []Finding, suppressed int) {
	matches := FindKeys(nil, c.Data, c.Final)
	if len(matches) == 0 {
		return nil, 0
	}
	var env *envFile
	line, counted := c.Line, 0
	for _, m := range matches {
		if m.Need <= c.Fresh {
			continue // decided, and reported, with the previous chunk
		}
		if d.Only != "" && m.Secret != d.Only {
			continue
		}
		lineStart := bytes.LastIndexByte(c.Data[:m.Start], '\n') + 1
		lineEnd := len(c.Data)
		if i := bytes.IndexByte(c.Data[m.Start:], '\n'); i >= 0 {
			lineEnd = m.Start + i
		}
		text := c.Data[lineStart:lineEnd]
		if bytes.Contains(text, []byte(allowMarker)) {
			suppressed++
			continue
		}
		loc := c.Location
		loc.Encoding = m.Encoding
		if c.Binary {
			off := c.Offset + int64(m.Start)
			loc.Offset = &off
		} else {
			line += bytes.Count(c.Data[counted:m.Start], []byte{'\n'})
			counted = m.Start
			loc.Line, loc.Column = line, m.Start-lineStart+1
			if v := variableBefore(string(text[:m.Start-lineStart])); v != "" {
				loc.Variable = v // a source's own name (a JSON field path) is kept otherwise
			}
		}
		if loc.Kind.hasLines() {
			loc.URI = fileURI(loc.URI, loc.Line, loc.Offset)
		}
		f := newFinding(m.Secret, loc)
		if !c.Binary && IsEnvFile(loc.Path) {
			if env == nil {
				env = parseEnv(c, d.Reporter)
			}
			f.Location.Variable, f.Problems = env.inspect(m, loc.Variable, string(text))
		} else if !loc.Kind.hasLines() && c.first() && c.Final {
			f.Problems = valueProblems(string(c.Data))
		}
		findings = append(findings, f)
	}
	return findings, suppressed
}

// hasLines reports kinds whose objects are text files with line numbers.
func (k Kind) hasLines() bool {
	return k == KindFile || k == KindStaged || k == KindGitHistory
}

// IsEnvFile reports names that dotenv loaders read: .env, .env.*, *.env and .envrc.
func IsEnvFile(p string) bool {
	base := path.Base(strings.ReplaceAll(p, "\\", "/"))
	return base == ".env" || base == ".envrc" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env")
}

// variablePattern finds the name in `NAME=`, `NAME:`, `"name":`,
// `export NAME=`, `name := "` and the like, right before a value.
var variablePattern = regexp.MustCompile(`(?:^|[\s{,;(\[])["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?::=|=|:)(?:\s|["'` + "`" + `\p{Cf}\x{a0}]|[Bb]earer\s)*$`)

// variableBefore returns the variable or field name that the text before a
// key on its line assigns to, or "".
func variableBefore(before string) string {
	if m := variablePattern.FindStringSubmatch(before); m != nil {
		return m[1]
	}
	return ""
}

// envFile is a parsed dotenv file.
type envFile struct {
	values map[string]string // nil when the file did not parse
}

// parseEnv parses a whole dotenv file with godotenv. A file too big for one
// chunk, or one that does not parse, is still scanned as text.
func parseEnv(c Chunk, r Reporter) *envFile {
	if !c.first() || !c.Final {
		return &envFile{}
	}
	values, err := godotenv.UnmarshalBytes(c.Data)
	if err != nil {
		if r != nil {
			r.Warn(c.Location.Path, "malformed .env file, scanned as plain text: "+shortParseError(err))
		}
		return &envFile{}
	}
	return &envFile{values: values}
}

// shortParseError keeps godotenv's reason but not the file text it quotes
// after "near", which may hold other secrets.
func shortParseError(err error) string {
	msg, _, _ := strings.Cut(err.Error(), " near ")
	msg, _, _ = strings.Cut(msg, "\n")
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return Scrub(msg)
}

// storageProblems are the Diagnose results that describe how a found key is
// stored, as opposed to the key itself being malformed.
var storageProblems = map[string]bool{
	ProblemBearerPrefix: true, ProblemWhitespace: true, ProblemCarriageReturn: true,
	ProblemExtraQuotes: true, ProblemInvisible: true,
}

// inspect names the variable holding match m and lists how its stored value
// would fail: from godotenv's parsed value when it has one, else from the
// raw text after the assignment on the key's line.
func (e *envFile) inspect(m Match, name, line string) (string, []string) {
	value, ok := e.values[name]
	if !ok || !strings.Contains(value, m.Secret.Reveal()) && m.Encoding == Plain {
		value = rawValue(line)
	}
	var problems []string
	for _, p := range Diagnose(value) {
		if storageProblems[p] {
			problems = append(problems, p)
		}
	}
	if strings.HasSuffix(line, "\r") && !slices.Contains(problems, ProblemCarriageReturn) {
		problems = append(problems, ProblemCarriageReturn)
	}
	return name, problems
}

// valueProblems diagnoses a store value that is a single key, perhaps
// decorated ("Bearer …", quotes, a trailing newline); a value holding more
// (a whole config) is not judged.
func valueProblems(value string) []string {
	problems := Diagnose(value)
	var out []string
	for _, p := range problems {
		if !storageProblems[p] {
			return nil // more than a decorated key
		}
		out = append(out, p)
	}
	return out
}

// rawValue is the text after the first = on a dotenv line, with one pair of
// matching quotes and an unquoted trailing comment removed, as loaders do.
func rawValue(line string) string {
	_, v, found := strings.Cut(line, "=")
	if !found {
		return line
	}
	v = strings.TrimLeft(v, " \t")
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if end := strings.LastIndexByte(v, v[0]); end > 0 {
			return v[1:end]
		}
		return v
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimRight(v, " \t")
}

// Scrub replaces every key in s by its redacted form, for text that comes
// from elsewhere (an error message, a server's reply) and may echo a key.
// It is stricter than the matcher: a key-shaped run is redacted even when
// letters are glued to it, since text is safer over-redacted than leaked.
func Scrub(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.Index(s[i:], Prefix)
		if j < 0 {
			break
		}
		at := i + j
		end := at + KeyLen
		if end <= len(s) && isKeyShaped(s[at+len(Prefix):end]) {
			b.WriteString(s[last:at])
			b.WriteString(Secret(s[at:end]).Redacted())
			last, i = end, end
			continue
		}
		i = at + 1
	}
	b.WriteString(s[last:])
	out := b.String()
	// Base64 forms: the matcher's decision is good enough there.
	matches := FindKeys(nil, []byte(out), true)
	if len(matches) == 0 {
		return out
	}
	b.Reset()
	last = 0
	for _, m := range matches {
		b.WriteString(out[last:m.Start])
		b.WriteString(m.Secret.Redacted())
		last = m.End
	}
	b.WriteString(out[last:])
	return b.String()
}

func isKeyShaped(body string) bool {
	for i := 0; i < len(body); i++ {
		if !isAlnum[body[i]] {
			return false
		}
	}
	return true
}

// ScrubError returns err with its text scrubbed of keys, still wrapping
// err for errors.Is and errors.As. Use it on errors that quote foreign
// text (an SDK's message, a server's reply, a user-given name).
func ScrubError(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: Scrub(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
