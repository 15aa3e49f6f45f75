package main

import (
	"errors"
	"fmt"

	"github.com/rekeyhq/rekey/scanner"
)

// Exit codes, DESIGN.md §2. When several apply, usage beats found beats
// partial.
const (
	exitOK      = 0
	exitFound   = 1 // keys found (scan, audit) or a location failed (rotate)
	exitUsage   = 2 // usage or input error
	exitPartial = 3 // some source or location could not be read or written
)

// Outcomes that are not failures of rekey itself: the report has already
// said what happened, so they print nothing more.
var (
	errFound   = errors.New("keys found")
	errPartial = errors.New("some sources could not be read")
)

// usageError marks a mistake in the command line or its input; hint, when
// set, tells the user what to do instead.
type usageError struct {
	err  error
	hint string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

func withHint(err error, hint string) error {
	return &usageError{err: err, hint: hint}
}

// exit prints err, if it needs printing, and returns the exit code. This is
// the one place that maps errors to exit codes.
func (a *app) exit(err error) int {
	var usage *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		a.printError(err, usage.hint)
		return exitUsage
	case errors.Is(err, errFound):
		return exitFound
	case errors.Is(err, errPartial):
		return exitPartial
	default: // an input rekey could not work with
		a.printError(err, "")
		return exitUsage
	}
}

// printError is the last line of defence for messages: whatever an error
// quotes (a config line, a server reply, a path) is scrubbed of keys.
func (a *app) printError(err error, hint string) {
	fmt.Fprintf(a.stderr, "rekey: error: %s\n", scanner.Scrub(err.Error()))
	if hint != "" {
		fmt.Fprintf(a.stderr, "rekey: hint: %s\n", hint)
	}
}
