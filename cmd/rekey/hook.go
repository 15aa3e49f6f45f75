package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/scanner/githook"
)

func newHookCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Install or remove rekey's git pre-commit hook",
		Long: `Manage a native git pre-commit hook that runs 'rekey scan --staged' and blocks
any commit that would add a Perplexity API key.

The hook goes into the repository's hooks directory as git resolves it
(core.hooksPath is respected). A pre-commit hook that is already there is kept
as pre-commit.rekey-chained: it runs first and its failure still blocks the
commit. 'rekey hook uninstall' puts it back exactly as it was.

With the pre-commit framework, use the hooks in rekey's .pre-commit-hooks.yaml
instead (see the README).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return withHint(errors.New("hook: missing subcommand"), "use 'rekey hook install' or 'rekey hook uninstall'")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "install [PATH]",
		Short: "Install the pre-commit hook in the repository at PATH (default \".\")",
		Example: `  rekey hook install
  rekey hook install ~/src/myapp`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := hooksDir(cmd, args)
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the rekey executable: %w", err)
			}
			res, err := githook.Install(dir, self)
			if err != nil {
				return hookError(err)
			}
			switch {
			case !res.Changed:
				_, err = fmt.Fprintf(a.stdout, "rekey pre-commit hook already installed: %s\n", res.Hook)
			case res.Chained != "":
				_, err = fmt.Fprintf(a.stdout, "installed rekey pre-commit hook: %s\nthe existing hook was kept as %s and runs first\n", res.Hook, res.Chained)
			default:
				_, err = fmt.Fprintf(a.stdout, "installed rekey pre-commit hook: %s\n", res.Hook)
			}
			return err
		},
	}, &cobra.Command{
		Use:   "uninstall [PATH]",
		Short: "Remove the pre-commit hook and restore the hook it chained",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := hooksDir(cmd, args)
			if err != nil {
				return err
			}
			res, err := githook.Uninstall(dir)
			if err != nil {
				return hookError(err)
			}
			switch {
			case !res.Changed:
				_, err = fmt.Fprintf(a.stdout, "no rekey pre-commit hook installed in %s: nothing changed\n", dir)
			case res.Chained != "":
				_, err = fmt.Fprintf(a.stdout, "removed rekey pre-commit hook; restored the previous hook %s\n", res.Hook)
			default:
				_, err = fmt.Fprintf(a.stdout, "removed rekey pre-commit hook %s\n", res.Hook)
			}
			return err
		},
	})
	return cmd
}

// hooksDir resolves the hooks directory of the repository at args[0] or ".".
func hooksDir(cmd *cobra.Command, args []string) (string, error) {
	repo := "."
	if len(args) == 1 {
		repo = args[0]
	}
	if info, err := os.Stat(repo); err != nil || !info.IsDir() {
		return "", usagef("%s is not a directory", repo)
	}
	dir, err := githook.HooksDir(cmd.Context(), repo)
	if err != nil {
		return "", withHint(err, "run 'rekey hook install' inside a git repository, or give its path")
	}
	return dir, nil
}

// hookError gives a conflict in the hooks directory a hint.
func hookError(err error) error {
	if errors.Is(err, githook.ErrConflict) {
		return withHint(err, "rekey never overwrites a hook it did not write")
	}
	return err
}
