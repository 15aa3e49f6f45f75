package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/rekeyhq/rekey/providers/github"
	"github.com/rekeyhq/rekey/scanner"
)

type auditOptions struct {
	path        string
	out         output
	baseline    string
	config      string
	stores      []string
	verify      bool
	api         apiOptions
	noGitCLI    bool
	init        bool
	repos       string
	shard       string
	concurrency int
}

func newAuditCmd(a *app) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit [PATH]",
		Short: "Audit a repository: working tree, history, CI configuration and every store, one report",
		Long: `Audit runs every check in one pass and reports by key: the working tree
(ignored .env files included), the whole git history, the CI configuration
(which workflow secrets feed Perplexity), and every store configured in
.rekey.yaml or named with --store. Each key is listed with all its locations,
its stored-value problems, its status (with --verify) and the one next step,
with the exact rekey rotate command where one is needed.

Many repositories: --repos FILE (one local path per line) audits them with
bounded concurrency into one report; --shard I/N takes every N-th repository so
a CI matrix can split the work, and 'rekey merge' combines the shard reports.`,
		Example: `  # Audit this repository, checking each key with the Perplexity API
  rekey audit --verify

  # A report for an incident ticket or a CI job summary
  rekey audit --format markdown --output audit.md

  # Write a commented .rekey.yaml from what can be detected here
  rekey audit --init

  # Shard 2 of 4 of an organisation's repositories, then merge
  rekey audit --repos repos.txt --shard 2/4 --output shard-2.json
  rekey merge shard-*.json --format sarif --output org.sarif`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = "."
			if len(args) == 1 {
				o.path = args[0]
			}
			if o.init {
				return writeStarterConfig(a, o.path)
			}
			if err := o.out.resolve(cmd.Flags().Changed("format")); err != nil {
				return err
			}
			return runAudit(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.out.format, "format", "f", "text", "report format: text, json, sarif or markdown")
	f.StringVarP(&o.out.file, "output", "o", "", "write the report to `FILE` (mode 0600; format from .json/.sarif/.md extension)")
	f.BoolVarP(&o.out.quiet, "quiet", "q", false, "print the report only: no summary, no warnings")
	f.StringVar(&o.baseline, "baseline", "", "suppress findings (same key id and path) of an earlier JSON report `FILE`")
	f.StringArrayVar(&o.stores, "store", nil, "also audit the secret store at `URI` (repeatable)")
	f.StringVar(&o.config, "config", "", "read settings from `FILE` instead of .rekey.yaml at the repository root")
	f.BoolVar(&o.verify, "verify", false, "ask the Perplexity API whether each distinct key is live (one request per key)")
	o.api.addFlags(f, true)
	f.BoolVar(&o.noGitCLI, "no-git-cli", false, "read git objects with go-git only, never running git")
	f.BoolVar(&o.init, "init", false, "write a commented starter .rekey.yaml for the repository and exit")
	f.StringVar(&o.repos, "repos", "", "audit every repository listed in `FILE` (one local path per line, # comments)")
	f.StringVar(&o.shard, "shard", "", "with --repos, audit only shard `I/N`: repositories I, I+N, I+2N… (1-based)")
	f.IntVar(&o.concurrency, "concurrency", 2, "with --repos, how many repositories to audit at once")
	return cmd
}

func runAudit(ctx context.Context, a *app, o *auditOptions) error {
	repos := []string{o.path}
	multi := o.repos != ""
	if multi {
		var err error
		if repos, err = readRepoList(o.repos, o.shard); err != nil {
			return err
		}
	} else if o.shard != "" {
		return usagef("--shard needs --repos")
	}
	if o.concurrency < 1 {
		return usagef("--concurrency must be at least 1")
	}
	reports := make([]*scanner.Report, len(repos))
	storeSets := make([][]string, len(repos))
	rates := make([]float64, len(repos))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency)
	for i, repo := range repos {
		g.Go(func() error {
			r, stores, rate, err := auditRepo(gctx, a, o, repo)
			if err != nil {
				if multi {
					return fmt.Errorf("audit %s: %w", repo, err)
				}
				return err
			}
			if multi {
				r.SetRepo(repo)
			}
			reports[i], storeSets[i], rates[i] = r, stores, rate
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	report := scanner.MergeReports(reports...)
	if o.verify {
		if err := verifyFindings(ctx, a, &o.api, rates[0], report, o.out.quiet); err != nil {
			return err
		}
	}
	var stores []string
	for _, s := range storeSets {
		stores = append(stores, s...)
	}
	report.Keys = scanner.SummarizeKeys(report.Findings, stores)
	o.out.color = o.out.file == "" && isTerminal(a.stdout)
	if err := o.out.write(a.stdout, report); err != nil {
		return err
	}
	if !o.out.quiet {
		a.logProblems(report)
	}
	return scanOutcome(report)
}

// auditRepo audits one repository (or plain directory) and returns its
// report, the store URIs it read and its configured verify rate.
func auditRepo(ctx context.Context, a *app, o *auditOptions, path string) (*scanner.Report, []string, float64, error) {
	cfg, err := loadConfig(o.config, path)
	if err != nil {
		return nil, nil, 0, err
	}
	allow, err := cfg.allowlist(o.baseline)
	if err != nil {
		return nil, nil, 0, err
	}
	scan := scanner.NewScan("", allow)
	git := gitOptions{history: true, noGitCLI: o.noGitCLI}
	sources, treePaths, closeGit, err := git.sources(a, []string{path}, scan)
	defer closeGit()
	switch {
	case errors.Is(err, scanner.ErrNotRepository):
		a.log.Warn(path + " is not a git repository: auditing its files without history")
		sources, treePaths = nil, []string{path}
	case err != nil:
		return nil, nil, 0, err
	}
	if len(treePaths) > 0 {
		tree, err := scanner.NewWorkTree(treePaths, scan)
		if err != nil {
			return nil, nil, 0, withHint(err, "give the path of a repository or directory")
		}
		tree.SetWorkers(cfg.Concurrency)
		sources = append([]scanner.Source{tree}, sources...)
	}
	sources = append(sources, &workflowSource{root: repoRoot(path), sink: scan})
	storeURIs := append(cfg.storeURIs(), o.stores...)
	stores, err := openStores(ctx, storeURIs)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(stores) > 0 && !o.out.quiet && isTerminal(a.stderr) {
		a.log.Info(fmt.Sprintf("listing %d secret stores", len(stores)))
	}
	report, err := scan.Run(ctx, append(sources, storeSources(stores, storeURIs, scan)...)...)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("audit: %w", err)
	}
	report.RelativeTo(path)
	return report, storeURIs, cfg.Verify.Rate, nil
}

// workflowSource maps the repository's GitHub workflows: every secret a
// workflow hands to something named for Perplexity becomes a write-only
// finding on the workflow file, whether or not the GitHub store is
// configured.
type workflowSource struct {
	root string
	sink interface {
		scanner.FindingSink
		scanner.Reporter
	}
}

func (w *workflowSource) Scan(context.Context, func(scanner.Chunk) error) error {
	files, _ := filepath.Glob(filepath.Join(w.root, ".github", "workflows", "*.y*ml"))
	var workflows []*github.Workflow
	for _, file := range files {
		rel := filepath.ToSlash(mustRel(w.root, file))
		data, err := os.ReadFile(file)
		if err == nil {
			var wf *github.Workflow
			if wf, err = github.ParseWorkflow(rel, data, github.Matcher(github.DefaultPatterns)); err == nil {
				workflows = append(workflows, wf)
				continue
			}
		}
		w.sink.Warn(rel, "workflow not mapped: "+err.Error())
	}
	for _, use := range github.Resolve(workflows) {
		w.sink.AddFinding(scanner.Finding{
			Location: scanner.Location{Kind: scanner.KindGitHubActions, URI: "github-workflow:" + use.File + "#secrets." + use.Secret,
				Path: use.File, Variable: use.Secret},
			Status: scanner.StatusWriteOnly,
			Detail: "secret " + use.Secret + " " + use.String(),
		})
	}
	return nil
}

func mustRel(base, target string) string {
	if rel, err := filepath.Rel(base, target); err == nil {
		return rel
	}
	return target
}

// readRepoList reads one repository path per line (blank lines and #
// comments skipped) and keeps shard I of N: entries I, I+N, I+2N….
func readRepoList(file, shard string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, usagef("read repository list: %w", err)
	}
	defer func() { _ = f.Close() }()
	var repos []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			repos = append(repos, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("read repository list: %w", err)
	}
	if len(repos) == 0 {
		return nil, usagef("repository list %s names no repository", file)
	}
	if shard == "" {
		return repos, nil
	}
	i, n, err := parseShard(shard)
	if err != nil {
		return nil, err
	}
	var mine []string
	for k, r := range repos {
		if k%n == i-1 {
			mine = append(mine, r)
		}
	}
	return mine, nil
}

func parseShard(s string) (i, n int, err error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, withHint(fmt.Errorf("--shard %q is not I/N with 1 <= I <= N", s), "in a CI matrix of N jobs, job I (from 1) runs --shard I/N")
	}
	return i, n, nil
}

// isTerminal reports whether w is a terminal (colour, progress).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // a file descriptor fits in an int
}
