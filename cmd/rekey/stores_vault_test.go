package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// rekey scan --store vault://… against a real Vault dev server: findings
// name the secret and field, the secret a token may not read is reported
// as an error of the scan, and no output holds a key.
func TestScanVaultStore(t *testing.T) {
	srv := vaulttest.Start(t)
	g := testkeys.New(61)
	keys := []string{g.Mixed(), g.Hex(), g.Mixed()}
	srv.Seed(t, "secret", 2, map[string]map[string]any{
		"app/config":  {"PERPLEXITY_API_KEY": "Bearer " + keys[0], "region": "eu"},
		"app/nested":  {"settings": `{"llm":{"perplexity":{"key":"` + keys[1] + `"}}}`},
		"app/locked":  {"PERPLEXITY_API_KEY": keys[2]},
		"app/clean":   {"user": "bob"},
		"other/thing": {"PERPLEXITY_API_KEY": keys[2]},
	})
	token := srv.Token(t, "rekey-scan", `
path "secret/data/app/*"      { capabilities = ["read"] }
path "secret/metadata/app/*"  { capabilities = ["list"] }
path "secret/data/app/locked" { capabilities = ["deny"] }
`)
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "VAULT_") {
			t.Setenv(name, "")
		}
	}
	t.Setenv("VAULT_ADDR", srv.Addr)
	t.Setenv("VAULT_TOKEN", token)
	t.Chdir(t.TempDir())

	r := rekey(t, "", "scan", "--store", "vault://secret/app", "--format", "json")
	assertNoLeak(t, keys, r.stdout, r.stderr)
	if r.code != exitFound {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitFound, r.stderr)
	}
	var report scanner.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range report.Findings {
		got = append(got, fmt.Sprintf("%s %s %s", f.Location.Kind, f.Location.URI, f.KeyID))
	}
	sort.Strings(got)
	want := []string{
		"vault vault://secret/app/config#PERPLEXITY_API_KEY " + scanner.KeyID(keys[0]),
		"vault vault://secret/app/nested#settings.llm.perplexity.key " + scanner.KeyID(keys[1]),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(report.Stats.Errors) != 1 || report.Stats.Errors[0].Path != "vault://secret/app/locked" ||
		!strings.Contains(report.Stats.Errors[0].Message, "access denied") {
		t.Errorf("errors %+v, want access denied on vault://secret/app/locked", report.Stats.Errors)
	}
	if !strings.Contains(r.stderr, "could not read vault://secret/app/locked") {
		t.Errorf("stderr does not tell of the unreadable secret:\n%s", r.stderr)
	}

	// Nothing found, one secret unreadable: partial.
	r = rekey(t, "", "scan", "--store", "vault://secret/app/locked")
	assertNoLeak(t, keys, r.stdout, r.stderr)
	if r.code != exitPartial {
		t.Errorf("exit %d, want %d (partial); stderr: %s", r.code, exitPartial, r.stderr)
	}

	// A store that cannot be opened is an error that says why.
	r = rekey(t, "", "scan", "--store", "vault://no-such-mount/x")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no-such-mount") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}
