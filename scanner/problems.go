package scanner

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problems of a stored key value that make the API answer 401 even though
// the key itself is fine. The names are part of the JSON contract.
const (
	ProblemBearerPrefix     = "bearer-prefix"
	ProblemWhitespace       = "surrounding-whitespace"
	ProblemCarriageReturn   = "carriage-return"
	ProblemExtraQuotes      = "extra-quotes"
	ProblemInvisible        = "invisible-character"
	ProblemWrongPrefix      = "wrong-prefix"
	ProblemWrongLength      = "wrong-length"
	ProblemInvalidCharacter = "invalid-character"
)

// Diagnose lists what is wrong with value as an application would send it
// (the whole stored value, not only the key inside it). A clean key gives
// no problems. The order of the result is stable.
func Diagnose(value string) []string {
	var problems []string
	add := func(p string) {
		if !slices.Contains(problems, p) {
			problems = append(problems, p)
		}
	}
	v := value
	if strings.ContainsRune(v, '\r') {
		add(ProblemCarriageReturn)
		v = strings.ReplaceAll(v, "\r", "")
	}
	for {
		trimmed := strings.TrimFunc(v, isInvisible)
		if trimmed != v {
			add(ProblemInvisible)
		}
		trimmed = strings.TrimFunc(trimmed, unicode.IsSpace)
		if trimmed != strings.TrimFunc(v, isInvisible) {
			add(ProblemWhitespace)
		}
		unquoted := strings.Trim(trimmed, "\"'`")
		if unquoted != trimmed {
			add(ProblemExtraQuotes)
		}
		if len(unquoted) > 7 && strings.EqualFold(unquoted[:7], "bearer ") {
			add(ProblemBearerPrefix)
			unquoted = unquoted[7:]
		}
		if unquoted == v {
			break
		}
		v = unquoted
	}
	if strings.IndexFunc(v, isInvisible) >= 0 {
		add(ProblemInvisible)
		v = strings.Map(func(r rune) rune {
			if isInvisible(r) {
				return -1
			}
			return r
		}, v)
	}
	if !strings.HasPrefix(v, Prefix) {
		add(ProblemWrongPrefix)
	}
	if len(v) != KeyLen {
		add(ProblemWrongLength)
	}
	body := v
	if i := strings.IndexByte(v, '-'); i >= 0 {
		body = v[i+1:]
	}
	if strings.IndexFunc(body, func(r rune) bool { return r >= utf8.RuneSelf || !isAlnum[r] }) >= 0 {
		add(ProblemInvalidCharacter)
	}
	return problems
}

// isInvisible reports characters that do not show in an editor but are
// sent to the API: zero-width characters, byte-order marks, non-breaking
// spaces, control characters and invalid UTF-8.
func isInvisible(r rune) bool {
	switch r {
	case '\u00a0', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', utf8.RuneError:
		return true
	}
	return r != '\r' && r != '\n' && r != '\t' && r != ' ' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r))
}
