package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/rekeyhq/rekey/scanner"
)

// configName is the per-repository configuration file.
const configName = ".rekey.yaml"

// config is the schema of .rekey.yaml. Unknown fields are errors, so a typo
// never silently disables a setting.
type config struct {
	// Stores are secret stores scanned and rotated with the files.
	Stores []storeConfig `yaml:"stores"`
	Allow  struct {
		// KeyIDs are key ids ("sha256:3f2a9c0d41be") whose findings are accepted.
		KeyIDs []string `yaml:"key_ids"`
		// Paths are globs (** allowed) of paths whose findings are accepted.
		Paths []string `yaml:"paths"`
	} `yaml:"allow"`
	Verify struct {
		// Rate is the most Perplexity API requests per second (default 1).
		Rate float64 `yaml:"rate"`
	} `yaml:"verify"`
	// Concurrency bounds files read at once (default: twice the CPUs).
	Concurrency int `yaml:"concurrency"`
}

// storeConfig is one entry of stores: a URI, or a mapping with the URI
// and per-store options, which become the URI's parts and query.
type storeConfig struct {
	URI          string   `yaml:"uri"`
	Region       string   `yaml:"region"`        // aws-sm, aws-ssm: the URI host
	Mount        string   `yaml:"mount"`         // vault: the URI host
	Prefix       string   `yaml:"prefix"`        // the URI path: name prefix, parameter path, secret path
	Environments []string `yaml:"environments"`  // github, gitlab: only these environments
	NamePatterns []string `yaml:"name_patterns"` // github, gitlab: names presumed to hold a key
	Concurrency  int      `yaml:"concurrency"`   // requests at once to this store (default 4)
}

// UnmarshalYAML accepts a bare URI string or the mapping form.
func (s *storeConfig) UnmarshalYAML(data []byte) error {
	var uri string
	if yaml.Unmarshal(data, &uri) == nil {
		*s = storeConfig{URI: uri}
		return nil
	}
	type plain storeConfig
	return yaml.UnmarshalWithOptions(data, (*plain)(s), yaml.DisallowUnknownField())
}

// uri returns the store URI with the options folded in.
func (s storeConfig) uri() (string, error) {
	u, err := url.Parse(s.URI)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("store %q is not a URI like aws-sm://us-east-1/prod/", s.URI)
	}
	if host := cmp.Or(s.Region, s.Mount); host != "" {
		u.Host = host
	}
	if s.Prefix != "" {
		u.Path = "/" + strings.TrimPrefix(s.Prefix, "/")
	}
	q := u.Query()
	if len(s.Environments) > 0 {
		q.Set("environments", strings.Join(s.Environments, ","))
	}
	if len(s.NamePatterns) > 0 {
		q.Set("name_patterns", strings.Join(s.NamePatterns, ","))
	}
	if s.Concurrency > 0 {
		q.Set("concurrency", strconv.Itoa(s.Concurrency))
	}
	u.RawQuery = q.Encode()
	if u.Host == "" {
		return "", fmt.Errorf("store %q names no region, mount, owner or group", s.URI)
	}
	return u.String(), nil
}

// storeURIs returns every configured store as a URI.
func (c *config) storeURIs() []string {
	uris := make([]string, 0, len(c.Stores))
	for _, s := range c.Stores {
		if u, err := s.uri(); err == nil { // checked by loadConfig
			uris = append(uris, u)
		}
	}
	return uris
}

// loadConfig reads the file named by explicit, or else .rekey.yaml at the
// root of the repository holding dir (or in dir itself); a missing default
// file is an empty config. Errors name the file and line.
func loadConfig(explicit, dir string) (*config, error) {
	file := explicit
	if file == "" {
		file = filepath.Join(repoRoot(dir), configName)
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return &config{}, nil
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	hint := "see the .rekey.yaml section of the README for the schema"
	var c config
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict()); err != nil {
		// No source excerpt: the quoted lines could hold secrets.
		return nil, withHint(fmt.Errorf("config %s: %s", file, yaml.FormatError(err, false, false)), hint)
	}
	known := storeRegistry()
	for i, s := range c.Stores {
		line := lineOf(data, fmt.Sprintf("$.stores[%d]", i))
		u, err := s.uri()
		if err == nil {
			if scheme, _, _ := strings.Cut(u, ":"); known[scheme] == nil {
				err = fmt.Errorf("store %q: unknown scheme %q (known: %s)", s.URI, scheme, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
		}
		if err != nil {
			return nil, withHint(fmt.Errorf("config %s:%d: %w", file, line, err), hint)
		}
	}
	if c.Verify.Rate < 0 || c.Concurrency < 0 {
		return nil, withHint(fmt.Errorf("config %s: verify.rate and concurrency must not be negative", file), hint)
	}
	return &c, nil
}

// lineOf returns the line of the YAML node at path, or 0.
func lineOf(data []byte, path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	node, err := p.ReadNode(bytes.NewReader(data))
	if err != nil || node == nil || node.GetToken() == nil {
		return 0
	}
	return node.GetToken().Position.Line
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
