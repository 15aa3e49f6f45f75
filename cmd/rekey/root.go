package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// app holds what every command shares: the standard streams and the logger.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, log: slog.New(newLogHandler(stderr, slog.LevelInfo))}
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "rekey",
		Short: "Find and rotate Perplexity API keys everywhere they live",
		Long: `rekey finds every copy of a Perplexity API key (pplx- followed by 48 letters
and digits) in files, .env files, git history and secret stores, and rotates a
revoked or leaked key to a new one everywhere, verifying each place.

Keys are never read from the command line: use stdin or an environment
variable named by a flag. Keys are never printed: output shows a redacted form
(pplx-d7m9…2eT) and a key id (sha256:3f2a9c0d41be) that names a key without
holding it.

Exit codes: 0 nothing found or all done; 1 keys found (scan) or a location
failed (rotate); 2 usage or input error; 3 partial: something could not be
read or written (the report says what).`,
		Example: `  # Find keys in the current directory, ignored .env files included
  rekey scan

  # Pre-commit: block commits that add a key
  rekey hook install

  # After a revocation: is the key live, and what is wrong with the stored value?
  rekey check --key-env PERPLEXITY_API_KEY

  # Rotate it everywhere (files and stores), verifying each place, then revoke it
  rekey rotate --old-env OLD_KEY --new-env NEW_KEY --store aws-sm://us-east-1/prod/ --revoke-old

  # Audit: working tree, git history, CI workflows and stores, with the next step per key
  rekey audit --verify --format markdown --output audit.md`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withHint(err, "run 'rekey --help' for usage")
	})
	root.SetContext(context.Background())
	root.AddCommand(newScanCmd(a), newCheckCmd(a), newRotateCmd(a), newHookCmd(a), newAuditCmd(a), newMergeCmd(a), newVersionCmd(a))
	return root
}
