package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
)

// writeStarterConfig writes a commented .rekey.yaml at the repository root
// holding dir, with the stores it can detect switched on: GitHub or GitLab
// from the git remotes, AWS and Vault from the environment. It never
// overwrites a file.
func writeStarterConfig(a *app, dir string) error {
	root := repoRoot(dir)
	file := filepath.Join(root, configName)
	detected := remoteStores(root)
	var notes []string
	region := firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	switch {
	case region != "":
		detected = append(detected, "aws-sm://"+region+"/", "aws-ssm://"+region+"/")
	case firstEnv("AWS_PROFILE", "AWS_ACCESS_KEY_ID") != "":
		detected = append(detected, "aws-sm://default/", "aws-ssm://default/")
		notes = append(notes, "# aws-*://default/ takes the region from your AWS profile.")
	}
	if os.Getenv("VAULT_ADDR") != "" {
		detected = append(detected, "vault://secret/")
		notes = append(notes, "# vault://secret/ is the default KV mount; narrow it to your path (vault://secret/myapp).")
	}
	var b strings.Builder
	b.WriteString(`# rekey configuration: https://github.com/rekeyhq/rekey#rekeyyaml
# Written by 'rekey audit --init' from what it could detect. Every setting also has a flag.

# Secret stores scanned by 'rekey scan' and 'rekey audit', and rotated by 'rekey rotate'.
# A store is a URI, or a mapping with options (region, mount, prefix, environments, name_patterns,
# concurrency).
`)
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	if len(detected) == 0 {
		b.WriteString("stores: []\n")
	} else {
		b.WriteString("stores:\n")
		for _, uri := range detected {
			fmt.Fprintf(&b, "  - %s\n", uri)
		}
	}
	b.WriteString(`#  - aws-sm://us-east-1/prod/            # Secrets Manager, names starting with prod/
#  - aws-ssm://eu-west-1/myapp/          # Parameter Store, under /myapp
#  - vault://secret/myapp                # Vault KV (VAULT_ADDR, VAULT_TOKEN)
#  - uri: github://owner/repo            # GitHub Actions secrets and variables (GITHUB_TOKEN)
#    environments: [production]
#  - gitlab://group/project              # GitLab CI/CD variables (GITLAB_TOKEN)

# Findings to accept: key ids (a revoked demo key) and path globs (** for any depth).
allow:
  key_ids: []
  paths: []
#   - "testdata/**"

# Calls to the Perplexity API for --verify, per second (request spikes can get a key revoked).
verify:
  rate: 1
`)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) //nolint:gosec // settings, not secrets: meant to be committed
	if errors.Is(err, fs.ErrExist) {
		return withHint(fmt.Errorf("%s exists already", file), "edit it, or move it away to write a new one")
	}
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "wrote %s with %d detected stores; review it, then run: rekey audit\n", file, len(detected))
	return err
}

// remoteStores turns the repository's remotes into github:// and gitlab://
// store URIs.
func remoteStores(root string) []string {
	repo, err := git.PlainOpen(root)
	if err != nil {
		return nil
	}
	remotes, err := repo.Remotes()
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range remotes {
		for _, raw := range r.Config().URLs {
			if uri := storeForRemote(raw); uri != "" && !seen[uri] {
				seen[uri] = true
				out = append(out, uri)
			}
		}
	}
	return out
}

// storeForRemote maps git@github.com:o/r.git, https://github.com/o/r and
// ssh://git@gitlab.example.com/g/sub/p.git to a store URI, or "".
func storeForRemote(raw string) string {
	host, path := "", ""
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		host, path = u.Hostname(), u.Path
	} else if at, rest, ok := strings.Cut(raw, ":"); ok && !strings.Contains(at, "/") {
		host, path = at[strings.LastIndexByte(at, '@')+1:], rest
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if path == "" || !strings.Contains(path, "/") {
		return ""
	}
	switch {
	case host == "github.com":
		return "github://" + path
	case strings.Contains(host, "gitlab"):
		return "gitlab://" + path
	}
	return ""
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
