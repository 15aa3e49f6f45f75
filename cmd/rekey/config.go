package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"

	"github.com/rekeyhq/rekey/scanner"
)

// configName is the per-repository configuration file.
const configName = ".rekey.yaml"

// config is the schema of .rekey.yaml. Unknown fields are errors, so a typo
// never silently disables a setting.
type config struct {
	// Stores are secret stores scanned and rotated with the files, by URI
	// (aws-sm://us-east-1/prod/, vault://secret/myapp, github://owner/repo…).
	Stores []string `yaml:"stores"`
	Allow  struct {
		// KeyIDs are key ids ("sha256:3f2a9c0d41be") whose findings are accepted.
		KeyIDs []string `yaml:"key_ids"`
		// Paths are globs (** allowed) of paths whose findings are accepted.
		Paths []string `yaml:"paths"`
	} `yaml:"allow"`
}

// loadConfig reads the file named by explicit, or else .rekey.yaml at the
// root of the repository holding dir (or in dir itself); a missing default
// file is an empty config.
func loadConfig(explicit, dir string) (*config, string, error) {
	file := explicit
	if file == "" {
		file = filepath.Join(repoRoot(dir), configName)
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return &config{}, "", nil
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, file, fmt.Errorf("read config: %w", err)
	}
	var c config
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict()); err != nil {
		return nil, file, withHint(fmt.Errorf("config %s: %s", file, yaml.FormatError(err, false, true)),
			"see the .rekey.yaml section of the README for the schema")
	}
	return &c, file, nil
}

// allowlist builds the scanner's allow-list from the config and a baseline.
func (c *config) allowlist(baseline string) (*scanner.Allowlist, error) {
	a, err := scanner.NewAllowlist(c.Allow.KeyIDs, c.Allow.Paths)
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("config: %w", err)}
	}
	if baseline != "" {
		if err := a.LoadBaseline(baseline); err != nil {
			return nil, &usageError{err: err, hint: "a baseline is a report written by 'rekey scan --format json'"}
		}
	}
	return a, nil
}

// repoRoot returns the nearest directory at or above dir holding .git, or
// dir itself when there is none.
func repoRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	if info, err := os.Stat(abs); err == nil && !info.IsDir() {
		abs = filepath.Dir(abs)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return abs
		}
	}
}
