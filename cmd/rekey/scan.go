package main

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/scanner"
)

type scanOptions struct {
	paths    []string
	key      keySource
	out      output
	baseline string
	config   string
	stores   []string
	git      gitOptions // --staged, --history and friends
	verify   bool       // ask the Perplexity API about each distinct key
	api      apiOptions // --rate, for --verify
}

func newScanCmd(a *app) *cobra.Command {
	o := &scanOptions{}
	cmd := &cobra.Command{
		Use:   "scan [PATH...]",
		Short: "Find Perplexity API keys in files, git history and secret stores",
		Long: `Scan every regular file under each PATH (default ".") for Perplexity API keys,
untracked and git-ignored files included: ignored .env files are where keys
live. Only .git internals are skipped. Symbolic links are not followed, binary
files are scanned too, and base64-encoded keys (as in Kubernetes Secrets) are
found as well.

For .env files the variable holding the key is named, and stored-value
problems that make the API answer 401 are flagged: bearer-prefix,
surrounding-whitespace, carriage-return, extra-quotes, invisible-character.

Findings are suppressed by a "rekey:allow" comment on the key's line, by the
allow list in .rekey.yaml (key ids and path globs), or by --baseline.`,
		Example: `  # Scan the current directory
  rekey scan

  # Scan two trees, write a JSON report (format from the extension, mode 0600)
  rekey scan --output report.json src/ deploy/

  # SARIF for GitHub code scanning
  rekey scan --format sarif --output rekey.sarif

  # Only report keys not already in an accepted earlier report
  rekey scan --baseline rekey-baseline.json

  # Look for one known key only (read from stdin, never from the command line)
  printenv PERPLEXITY_API_KEY | rekey scan --key-stdin

  # Only what the next commit would add (the pre-commit mode; see 'rekey hook')
  rekey scan --staged

  # Also every blob, commit and tag message in history; or only commits since origin/main
  rekey scan --history
  rekey scan --since-commit origin/main`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			if len(o.paths) == 0 {
				o.paths = []string{"."}
			}
			if err := o.out.resolve(cmd.Flags().Changed("format")); err != nil {
				return err
			}
			return runScan(cmd, a, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.key.fromStdin, "key-stdin", false, "look for one known key only, read from the first line of stdin")
	f.StringVar(&o.key.envVar, "key-env", "", "look for one known key only, read from environment variable `VAR`")
	f.StringVarP(&o.out.format, "format", "f", "text", "report format: text, json, sarif or markdown")
	f.StringVarP(&o.out.file, "output", "o", "", "write the report to `FILE` (mode 0600; format from .json/.sarif/.md extension)")
	f.BoolVarP(&o.out.quiet, "quiet", "q", false, "print findings only: no summary, no warnings")
	f.StringVar(&o.baseline, "baseline", "", "suppress findings (same key id and path) of an earlier JSON report `FILE`")
	f.StringArrayVar(&o.stores, "store", nil, "also scan the secret store at `URI` (repeatable; e.g. aws-sm://us-east-1/prod/)")
	f.StringVar(&o.config, "config", "", "read settings from `FILE` instead of .rekey.yaml at the repository root")
	o.git.register(f)
	f.BoolVar(&o.verify, "verify", false, "ask the Perplexity API whether each distinct key is live (one request per key, no tokens spent)")
	o.api.addFlags(f, true)
	return cmd
}

func runScan(cmd *cobra.Command, a *app, o *scanOptions) error {
	var only scanner.Secret
	if o.key.given() {
		var err error
		if only, err = o.key.read("the key to look for", bufio.NewReader(a.stdin)); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(o.config, o.paths[0])
	if err != nil {
		return err
	}
	allow, err := cfg.allowlist(o.baseline)
	if err != nil {
		return err
	}
	scan := scanner.NewScan(only, allow)
	gitSources, treePaths, closeGit, err := o.git.sources(a, o.paths, scan)
	defer closeGit()
	if err != nil {
		return err
	}
	var tree scanner.Source = noSource{}
	if len(treePaths) > 0 {
		wt, err := scanner.NewWorkTree(treePaths, scan)
		if err != nil {
			return withHint(err, "give paths to existing files or directories")
		}
		wt.SetWorkers(cfg.Concurrency)
		tree = wt
	}
	storeURIs := o.git.storeURIs(append(cfg.storeURIs(), o.stores...))
	stores, err := openStores(cmd.Context(), storeURIs)
	if err != nil {
		return err
	}
	report, err := scan.Run(cmd.Context(), append(append([]scanner.Source{tree}, gitSources...), storeSources(stores, storeURIs, scan)...)...)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if o.verify {
		if err := verifyFindings(cmd.Context(), a, &o.api, cfg.Verify.Rate, report, o.out.quiet); err != nil {
			return err
		}
	}
	if err := o.out.write(a.stdout, report); err != nil {
		return err
	}
	if !o.out.quiet {
		a.logProblems(report)
		o.git.explain(a, report)
	}
	return scanOutcome(report)
}

// logProblems tells the user on stderr what could not be read or was skipped.
func (a *app) logProblems(r *scanner.Report) {
	for _, p := range r.Stats.Errors {
		a.log.Warn("could not read " + p.Path + ": " + p.Message)
	}
	for _, p := range r.Stats.Warnings {
		a.log.Warn(p.Path + ": " + p.Message)
	}
	if n := len(r.Stats.Skipped); n > 0 {
		a.log.Info(fmt.Sprintf("skipped %d special files and symbolic links (not followed); the JSON report lists them under stats.skipped", n))
	}
}

// scanOutcome maps a report to the scan's exit: found beats partial.
func scanOutcome(r *scanner.Report) error {
	switch {
	case len(r.Findings) > 0:
		return errFound
	case len(r.Stats.Errors) > 0:
		return errPartial
	}
	return nil
}
