package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rekeyhq/rekey/scanner"
)

// keySource says where a key comes from: stdin or an environment variable,
// never argv (visible in ps and shell history).
type keySource struct {
	fromStdin bool
	envVar    string
}

func (k keySource) given() bool { return k.fromStdin || k.envVar != "" }

// read returns the key, checked for shape. The error never holds the value.
func (k keySource) read(what string, stdin *bufio.Reader) (scanner.Secret, error) {
	var raw string
	switch {
	case k.fromStdin && k.envVar != "":
		return "", usagef("%s: give either stdin or an environment variable, not both", what)
	case k.fromStdin:
		line, err := stdin.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", usagef("%s: nothing on standard input", what)
		}
		raw = strings.TrimRight(line, "\r\n")
	case k.envVar != "":
		v, ok := os.LookupEnv(k.envVar)
		if !ok || v == "" {
			return "", usagef("%s: environment variable %s is not set", what, k.envVar)
		}
		raw = v
	default:
		return "", usagef("%s: not given", what)
	}
	if problems := scanner.Diagnose(raw); len(problems) > 0 {
		return "", withHint(fmt.Errorf("%s is not a well-formed Perplexity key (%s)", what, strings.Join(problems, ", ")),
			"a key is pplx- followed by 48 letters and digits, with nothing around it")
	}
	return scanner.Secret(raw), nil
}
