package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rekeyhq/rekey/scanner"
)

func newMergeCmd(a *app) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:   "merge REPORT.json...",
		Short: "Combine JSON reports (the shards of an audit) into one",
		Long: `Merge reads rekey JSON reports of disjoint scans, such as the shards of
'rekey audit --repos FILE --shard I/N', and writes one report in any format,
with the findings in the order a single audit would give and the key summary
recomputed. It exits like scan: 1 when the merged report holds findings, 3
when a shard could not read something.`,
		Example: `  rekey merge shard-1.json shard-2.json shard-3.json --output org.json
  rekey merge shard-*.json --format markdown >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.resolve(cmd.Flags().Changed("format")); err != nil {
				return err
			}
			reports := make([]*scanner.Report, 0, len(args))
			for _, file := range args {
				f, err := os.Open(file)
				if err != nil {
					return usagef("merge: %w", err)
				}
				r, err := scanner.ReadReport(f)
				_ = f.Close()
				if err != nil {
					return withHint(fmt.Errorf("merge %s: %w", file, err), "merge takes reports written with --format json")
				}
				reports = append(reports, r)
			}
			merged := scanner.MergeReports(reports...)
			if err := out.write(a.stdout, merged); err != nil {
				return err
			}
			return scanOutcome(merged)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out.format, "format", "f", "json", "report format: text, json, sarif or markdown")
	f.StringVarP(&out.file, "output", "o", "", "write the report to `FILE` (mode 0600)")
	f.BoolVarP(&out.quiet, "quiet", "q", false, "no summary line")
	return cmd
}
