package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/providers/perplexity"
	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/rotators/filerot"
	"github.com/rekeyhq/rekey/rotators/storerot"
	"github.com/rekeyhq/rekey/scanner"
)

// adminKeyEnv names the environment variable holding a key that may mint
// and revoke keys, when the old key cannot (it is revoked already).
const adminKeyEnv = "PERPLEXITY_ADMIN_KEY"

// errFailed: a location (or the revocation) failed; the report says which.
var errFailed = fmt.Errorf("rotation failed somewhere: %w", errFound)

type rotateOptions struct {
	paths     []string
	old, new  keySource
	mint      bool
	mintTo    string
	dryRun    bool
	yes       bool
	offline   bool
	revokeOld bool
	rollback  string
	noHistory bool
	stores    []string
	config    string
	format    string
	api       apiOptions
}

func newRotateCmd(a *app) *cobra.Command {
	o := &rotateOptions{}
	cmd := &cobra.Command{
		Use:   "rotate [PATH...]",
		Short: "Replace an old key by a new one in every file and store that holds it, verifying each",
		Long: `Replace OLD by NEW in every file under each PATH (default "."), git-ignored
.env files included, plain and base64-encoded copies alike, and in every
secret store named by --store or in .rekey.yaml, and verify each.

Plan: every file holding OLD is listed with its number of copies; files that
already hold NEW are "already-new". --dry-run stops here and changes nothing.
Without --yes, rekey asks for confirmation on a terminal and refuses (exit 2)
when it cannot ask.

Apply: each file is rewritten atomically (temporary file in the same
directory, sync, rename, directory sync); only the key's bytes change, and
mode and owner are kept. A file that changed since the plan, a read-only or
locked file fails on its own; the others go on.

Verify: every file is read back (NEW present as many times as OLD was, OLD
absent), then NEW is checked live (unless --offline). With --revoke-old, OLD
is revoked only after every location verified, and rekey confirms that it
then answers invalid. Copies in git history are listed, not rewritten.

Keys never come from the command line: --old-stdin/--old-env and
--new-stdin/--new-env, or --mint to create NEW with the Perplexity API
(authorised by $PERPLEXITY_ADMIN_KEY, else by OLD if it is still live). When
both keys come from stdin, the first line is OLD and the second NEW.

A journal of each run (addresses and content hashes, never keys) is kept in
$XDG_STATE_HOME/rekey (default ~/.local/state/rekey). Re-running the same
command after a crash finishes the run; --rollback RUN-ID puts OLD back
where that run put NEW.

Exit codes: 0 every location verified (or nothing to do); 1 a location or
the revocation failed; 2 usage or input error; 3 some places could not be
read, or were skipped, and may still hold OLD.`,
		Example: `  # See what would change
  printf '%s\n%s\n' "$OLD" "$NEW" | rekey rotate --old-stdin --new-stdin --dry-run

  # Rotate, then revoke the old key once every copy is replaced
  # (OLD and NEW are environment variables holding the keys)
  rekey rotate --old-env OLD --new-env NEW --yes --revoke-old

  # Mint the new key, keeping a copy in a 0600 file first
  rekey rotate --old-env OLD --mint --mint-to ~/new-pplx-key --yes

  # Undo a run (both keys supplied again)
  rekey rotate --rollback 20260102T030405Z-1a2b3c --old-env OLD --new-env NEW --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			if err := o.validate(); err != nil {
				return err
			}
			return runRotate(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.old.fromStdin, "old-stdin", false, "read the old key (OLD) from the first line of stdin")
	f.StringVar(&o.old.envVar, "old-env", "", "read the old key (OLD) from environment variable `VAR`")
	f.BoolVar(&o.new.fromStdin, "new-stdin", false, "read the new key (NEW) from stdin (the second line when OLD comes from stdin too)")
	f.StringVar(&o.new.envVar, "new-env", "", "read the new key (NEW) from environment variable `VAR`")
	f.BoolVar(&o.mint, "mint", false, "create NEW with the Perplexity API ($"+adminKeyEnv+" authorises it, else OLD if still live)")
	f.StringVar(&o.mintTo, "mint-to", "", "with --mint, first store NEW in new `FILE` (mode 0600), so it is never lost")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan and change nothing")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	f.BoolVar(&o.offline, "offline", false, "never call the Perplexity API: no liveness checks, no --mint, no --revoke-old")
	f.BoolVar(&o.revokeOld, "revoke-old", false, "revoke OLD once every location verified, and confirm it answers invalid")
	f.StringVar(&o.rollback, "rollback", "", "put OLD back where run `RUN-ID` put NEW (give both keys again)")
	f.BoolVar(&o.noHistory, "no-history", false, "do not list copies of OLD in git history")
	f.StringArrayVar(&o.stores, "store", nil, "also rotate the secret store at `URI` (repeatable; e.g. aws-sm://us-east-1/prod/); stores in .rekey.yaml are rotated too")
	f.StringVar(&o.config, "config", "", "read settings from `FILE` instead of .rekey.yaml at the repository root")
	f.StringVarP(&o.format, "format", "f", "text", "report format: text or json")
	o.api.addFlags(f, false)
	return cmd
}

// validate checks the flags before any key is read.
func (o *rotateOptions) validate() error {
	hint := "see 'rekey rotate --help'"
	switch {
	case o.format != "text" && o.format != "json":
		return withHint(fmt.Errorf("unknown format %q", o.format), "use text or json")
	case !o.old.given():
		return withHint(errors.New("the old key is missing"), "give it with --old-stdin or --old-env VAR")
	case o.mint && o.new.given():
		return withHint(errors.New("--mint creates the new key: do not give one as well"), hint)
	case !o.mint && !o.new.given():
		return withHint(errors.New("the new key is missing"), "give it with --new-stdin or --new-env VAR, or create one with --mint")
	case o.mintTo != "" && !o.mint:
		return withHint(errors.New("--mint-to needs --mint"), hint)
	case o.offline && o.mint:
		return withHint(errors.New("--mint needs the Perplexity API and cannot be combined with --offline"), hint)
	case o.offline && o.revokeOld:
		return withHint(errors.New("--revoke-old needs the Perplexity API and cannot be combined with --offline"), hint)
	case o.rollback != "" && (len(o.paths) > 0 || o.mint || o.revokeOld):
		return withHint(errors.New("--rollback takes its locations from the run's journal: give no paths, --mint or --revoke-old"), hint)
	case o.rollback != "" && !rotators.ValidRunID(o.rollback):
		return withHint(fmt.Errorf("%q is not a run id", o.rollback), "run ids look like 20260102T030405Z-1a2b3c; the report of each run prints its id")
	}
	if len(o.paths) == 0 {
		o.paths = []string{"."}
	}
	return nil
}

// readKeys reads OLD and, unless minting, NEW: from one stdin reader, so
// both can come from stdin, OLD on the first line.
func (o *rotateOptions) readKeys(in *bufio.Reader) (rotators.Keys, error) {
	var k rotators.Keys
	var err error
	if k.Old, err = o.old.read("the old key (OLD)", in); err != nil {
		return k, err
	}
	if o.mint {
		return k, nil
	}
	if k.New, err = o.new.read("the new key (NEW)", in); err != nil {
		return k, err
	}
	if k.Old == k.New {
		return k, withHint(fmt.Errorf("OLD and NEW are the same key (%s)", k.Old.KeyID()), "give the new key as NEW, or use --mint to create one")
	}
	return k, nil
}

func runRotate(ctx context.Context, a *app, o *rotateOptions) error {
	stdin := bufio.NewReader(a.stdin)
	keys, err := o.readKeys(stdin)
	if err != nil {
		return err
	}
	admin, err := adminKey()
	if err != nil {
		return err
	}
	stateDir, err := rotators.StateDir()
	if err != nil {
		return err
	}
	e := &rotators.Engine{StateDir: stateDir, Log: a.log}
	if !o.offline {
		client, _, err := o.api.client(0)
		if err != nil {
			return err
		}
		e.API = perplexityAPI{client}
	}
	if o.rollback != "" {
		return runRollback(ctx, a, stdin, o, e, keys)
	}

	files, err := filerot.New(o.paths)
	if err != nil {
		return withHint(err, "give paths to existing files or directories")
	}
	files.Log = a.log
	e.Locators = []rotators.Locator{files}
	cfg, err := loadConfig(o.config, o.paths[0])
	if err != nil {
		return err
	}
	storeURIs := append(cfg.storeURIs(), o.stores...)
	stores, err := storeLocators(ctx, storeURIs)
	if err != nil {
		return err
	}
	for _, s := range stores {
		e.Locators = append(e.Locators, s)
	}
	if !o.noHistory {
		e.Listers = historyListers(o.paths)
	}
	if !o.mint {
		if err := e.CheckNew(ctx, keys.New); err != nil {
			return withHint(err, "check it with 'rekey check --key-env VAR'; --offline skips the check")
		}
	}
	plan, err := e.Plan(ctx, keys)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	dry := e.DryRun(plan)
	if o.dryRun {
		return o.finish(a, dry)
	}
	if dry.Message == "" {
		if o.format == "text" {
			dry.Mode = rotators.ModePlan
			if err := rotators.WriteText(a.stdout, dry); err != nil {
				return err
			}
		}
		if !o.yes {
			if err := confirm(a, stdin, dry.Counts[rotators.ActionPlanned]); err != nil {
				return err
			}
		}
	}
	opts := rotators.RotateOptions{RevokeOld: o.revokeOld, AdminKey: admin, Paths: files.Roots(), Stores: storeURIs}
	if o.mint {
		opts.Mint = &rotators.Mint{To: o.mintTo}
	}
	report, err := e.Rotate(ctx, plan, opts)
	if err != nil {
		return rotateError(err)
	}
	return o.finish(a, report)
}

func runRollback(ctx context.Context, a *app, stdin *bufio.Reader, o *rotateOptions, e *rotators.Engine, keys rotators.Keys) error {
	roots, storeURIs, err := e.RunSources(o.rollback)
	if err != nil {
		return withHint(err, "the report of each run prints its id; journals are in "+e.StateDir)
	}
	files, err := filerot.New(roots)
	if err != nil {
		return fmt.Errorf("the paths of run %s: %w", o.rollback, err)
	}
	resolvers := []rotators.Resolver{files}
	stores, err := storeLocators(ctx, storeURIs)
	if err != nil {
		return err
	}
	for _, s := range stores {
		resolvers = append(resolvers, s)
	}
	if !o.dryRun {
		preview, err := e.Rollback(ctx, o.rollback, keys, resolvers, true)
		if err != nil {
			return rotateError(err)
		}
		if o.format == "text" {
			preview.Mode = rotators.ModePlan
			if err := rotators.WriteText(a.stdout, preview); err != nil {
				return err
			}
		}
		if n := preview.Counts[rotators.ActionPlanned]; n > 0 && !o.yes {
			if err := confirm(a, stdin, n); err != nil {
				return err
			}
		}
	}
	report, err := e.Rollback(ctx, o.rollback, keys, resolvers, o.dryRun)
	if err != nil {
		return rotateError(err)
	}
	if e.API != nil && report.Counts[rotators.ActionReverted] > 0 {
		if st, _ := e.API.Check(ctx, keys.Old); st == rotators.StatusInvalid {
			a.log.Warn("the old key put back answers invalid: it is revoked, and the places rolled back will fail until they get a live key")
		}
	}
	return o.finish(a, report)
}

// finish prints the report and maps it to the exit code.
func (o *rotateOptions) finish(a *app, r *rotators.Report) error {
	var err error
	if o.format == "json" {
		err = rotators.WriteJSON(a.stdout, r)
	} else {
		err = rotators.WriteText(a.stdout, r)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	switch {
	case r.Failed():
		return errFailed
	case r.Incomplete():
		return errPartial
	}
	return nil
}

// confirm asks on the terminal before n locations are written. Without a
// terminal there is no one to ask: refuse, and say how to go on.
func confirm(a *app, stdin *bufio.Reader, n int) error {
	if _, ok := terminalFD(a.stdin); !ok {
		return withHint(errors.New("not confirmed: standard input is not a terminal"),
			"check the plan (--dry-run), then run again with --yes")
	}
	fmt.Fprintf(a.stderr, "rekey: write the new key to %d locations? [y/N] ", n)
	line, err := stdin.ReadString('\n')
	if err != nil && line == "" {
		return usagef("not confirmed")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return usagef("not confirmed: nothing was changed")
}

// adminKey reads $PERPLEXITY_ADMIN_KEY, when set.
func adminKey() (scanner.Secret, error) {
	v, ok := os.LookupEnv(adminKeyEnv)
	if !ok || v == "" {
		return "", nil
	}
	if problems := scanner.Diagnose(v); len(problems) > 0 {
		return "", withHint(fmt.Errorf("%s is not a well-formed Perplexity key (%s)", adminKeyEnv, strings.Join(problems, ", ")),
			"a key is pplx- followed by 48 letters and digits, with nothing around it")
	}
	return scanner.Secret(v), nil
}

// rotateError adds a hint to the engine's errors a user can act on.
func rotateError(err error) error {
	switch {
	case errors.Is(err, rotators.ErrBusy):
		return withHint(err, "wait for it to finish; the lock goes away with the process")
	case errors.Is(err, rotators.ErrCannotMint):
		return withHint(err, "set "+adminKeyEnv+" to a live key of the account, or create a key in the Perplexity console and give it with --new-env")
	case errors.Is(err, rotators.ErrNotLive):
		return withHint(err, "nothing was changed")
	case errors.Is(err, rotators.ErrMismatch):
		return withHint(err, "give the same OLD and NEW as the run being rolled back")
	case errors.Is(err, rotators.ErrUnfinished):
		return withHint(err, "or roll it back with --rollback")
	}
	return err
}

// storeLocators opens the stores named by uris as rotation locations.
func storeLocators(ctx context.Context, uris []string) ([]*storerot.Locator, error) {
	providers, err := openStores(ctx, uris)
	if err != nil {
		return nil, err
	}
	locators := make([]*storerot.Locator, len(providers))
	for i, p := range providers {
		locators[i] = &storerot.Locator{Provider: p, URI: uris[i]}
	}
	return locators, nil
}

// historyListers lists copies of OLD in the history of the repositories
// holding paths; paths outside any repository have no history.
func historyListers(paths []string) []rotators.Lister {
	seen := map[string]bool{}
	var listers []rotators.Lister
	for _, p := range paths {
		root := repoRoot(p)
		if seen[root] {
			continue
		}
		seen[root] = true
		if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
			continue
		}
		listers = append(listers, rotators.SourceLister{New: func(r scanner.Reporter) (scanner.Source, error) {
			return scanner.NewHistory(root, scanner.HistoryOptions{}, r)
		}})
	}
	return listers
}

// perplexityAPI adapts the Perplexity client to the engine's KeyAPI.
type perplexityAPI struct{ c *perplexity.Client }

func (p perplexityAPI) Check(ctx context.Context, key scanner.Secret) (rotators.KeyStatus, string) {
	r := p.c.Check(ctx, key)
	return rotators.KeyStatus(r.Status), r.Reason
}

func (p perplexityAPI) Generate(ctx context.Context, auth scanner.Secret, name string) (scanner.Secret, error) {
	return p.c.Generate(ctx, auth, name)
}

func (p perplexityAPI) Revoke(ctx context.Context, auth, key scanner.Secret) error {
	return p.c.Revoke(ctx, auth, key)
}
