// Command rekey finds every copy of a Perplexity API key and rotates a
// revoked or leaked key everywhere it lives.
//
// This package is wiring only: flag parsing, building sources and writers,
// printing, and mapping errors to exit codes. The work happens in the
// scanner, providers and rotators packages.
package main

import (
	"io"
	"log/slog"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	slog.SetDefault(app.log) // libraries' warnings take rekey's shape too
	cmd := newRootCmd(app)
	cmd.SetArgs(args)
	return app.exit(cmd.Execute())
}
