package storerot

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/providers/awsfake"
	"github.com/rekeyhq/rekey/providers/awssm"
	"github.com/rekeyhq/rekey/providers/github"
	"github.com/rekeyhq/rekey/providers/github/githubfake"
	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
	"github.com/rekeyhq/rekey/rotators"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func engine(t *testing.T, locators ...*Locator) *rotators.Engine {
	t.Helper()
	e := &rotators.Engine{StateDir: t.TempDir()}
	for _, l := range locators {
		e.Locators = append(e.Locators, l)
	}
	return e
}

func results(r *rotators.Report) map[string]rotators.LocationResult {
	out := map[string]rotators.LocationResult{}
	for _, l := range r.Locations {
		out[l.URI] = l
	}
	return out
}

// A rotation through Secrets Manager rewrites only the key inside the JSON
// value, keeps every other byte, is verified by reading back, resumes as
// already-new, and rolls back by moving the version stage.
func TestRotateAWSSecretsManager(t *testing.T) {
	f := awsfake.New()
	t.Cleanup(f.Close)
	f.Setenv(t)
	g := testkeys.New(120)
	oldKey, newKey := scanner.Secret(g.Mixed()), scanner.Secret(g.Mixed())
	original := `{"db":{"password":"hunter2"},"llm":{"key":"` + oldKey.Reveal() + `"},"note":"x"}`
	f.PutSecretString("prod/app", original)
	f.PutSecretString("prod/other", "nothing")
	f.PutSecretString("prod/locked", oldKey.Reveal())
	f.DenySecret("prod/locked")
	u, _ := url.Parse("aws-sm://us-east-1/prod/")
	p, err := awssm.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	loc := &Locator{Provider: p, URI: u.String()}
	e := engine(t, loc)
	keys := rotators.Keys{Old: oldKey, New: newKey}
	plan, err := e.Plan(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Targets) != 1 || len(plan.Problems) != 1 || !strings.Contains(plan.Problems[0].URI, "prod/locked") {
		t.Fatalf("plan: %d targets, problems %+v", len(plan.Targets), plan.Problems)
	}
	report, err := e.Rotate(context.Background(), plan, rotators.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	row := results(report)["aws-sm://us-east-1/prod/app"]
	if row.Action != rotators.ActionReplaced || !row.Verified {
		t.Fatalf("row %+v", row)
	}
	value, _, _ := f.SecretValue("prod/app", "AWSCURRENT")
	if want := strings.Replace(original, oldKey.Reveal(), newKey.Reveal(), 1); string(value) != want {
		t.Fatalf("stored value changed more than the key")
	}
	previous, _, _ := f.SecretValue("prod/app", "AWSPREVIOUS")
	if string(previous) != original {
		t.Fatalf("AWSPREVIOUS does not hold the original")
	}

	// Re-running finds nothing left to do.
	again, _ := e.Plan(context.Background(), keys)
	rerun, err := e.Rotate(context.Background(), again, rotators.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if row := results(rerun)["aws-sm://us-east-1/prod/app"]; row.Action != rotators.ActionAlreadyNew {
		t.Fatalf("re-run row %+v", row)
	}

	// Rollback moves AWSCURRENT back to the version the run replaced.
	rb, err := e.Rollback(context.Background(), report.RunID, keys, []rotators.Resolver{loc}, false)
	if err != nil {
		t.Fatal(err)
	}
	if row := results(rb)["aws-sm://us-east-1/prod/app"]; row.Action != rotators.ActionReverted || !row.Verified {
		t.Fatalf("rollback row %+v (%s)", row, rb.Message)
	}
	value, _, _ = f.SecretValue("prod/app", "AWSCURRENT")
	if string(value) != original {
		t.Fatalf("rollback did not restore the original value")
	}
}

// A write-only GitHub secret presumed to hold the key is re-set to the new
// key (the fake opens the sealed box) and verified by its update time.
func TestRotateGitHubWriteOnly(t *testing.T) {
	f := githubfake.New(t)
	g := testkeys.New(121)
	oldKey, newKey := scanner.Secret(g.Mixed()), scanner.Secret(g.Mixed())
	f.AddRepo("acme/app")
	f.Set("acme/app", "actions/PERPLEXITY_API_KEY", []byte(oldKey.Reveal()))
	f.Set("acme/app", "actions/DEPLOY_KEY", []byte("ssh"))
	t.Setenv("GITHUB_TOKEN", f.Token)
	t.Setenv("GITHUB_API_URL", f.URL)
	u, _ := url.Parse("github://acme/app")
	p, err := github.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t, &Locator{Provider: p, URI: u.String()})
	plan, err := e.Plan(context.Background(), rotators.Keys{Old: oldKey, New: newKey})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Targets) != 1 {
		t.Fatalf("plan targets %d, want only the presumed secret", len(plan.Targets))
	}
	report, err := e.Rotate(context.Background(), plan, rotators.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range report.Locations {
		if row.Action != rotators.ActionReplaced || !row.Verified {
			t.Fatalf("row %+v", row)
		}
	}
	stored, _, _ := f.Secret("acme/app", "actions/PERPLEXITY_API_KEY")
	if !bytes.Equal(stored, []byte(newKey.Reveal())) {
		t.Fatal("the sealed value GitHub stores is not the new key")
	}
	other, _, _ := f.Secret("acme/app", "actions/DEPLOY_KEY")
	if string(other) != "ssh" {
		t.Fatal("an unrelated secret was written")
	}
}

// A rotation through Vault KV v2 (a real dev server) writes a new version
// with check-and-set, keeps the other fields, and rolls back by writing the
// earlier version's data as a new version.
func TestRotateVaultKV2(t *testing.T) {
	srv := vaulttest.Start(t)
	g := testkeys.New(122)
	oldKey, newKey := scanner.Secret(g.Mixed()), scanner.Secret(g.Mixed())
	srv.Seed(t, "secret", 2, map[string]map[string]any{
		"app/config": {"PERPLEXITY_API_KEY": oldKey.Reveal(), "region": "eu"},
		"app/clean":  {"user": "bob"},
	})
	t.Setenv("VAULT_ADDR", srv.Addr)
	t.Setenv("VAULT_TOKEN", vaulttest.RootToken)
	u, _ := url.Parse("vault://secret/app")
	p, err := vault.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	loc := &Locator{Provider: p, URI: u.String()}
	e := engine(t, loc)
	keys := rotators.Keys{Old: oldKey, New: newKey}
	plan, err := e.Plan(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	report, err := e.Rotate(context.Background(), plan, rotators.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uri := "vault://secret/app/config"
	if row := results(report)[uri]; row.Action != rotators.ActionReplaced || !row.Verified || len(report.Locations) != 1 {
		t.Fatalf("rows %+v", report.Locations)
	}
	got, err := p.Get(context.Background(), "app/config")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got.Value, []byte(newKey.Reveal())) || !bytes.Contains(got.Value, []byte(`"region":"eu"`)) {
		t.Fatal("the new version lacks the new key or the other field")
	}
	rb, err := e.Rollback(context.Background(), report.RunID, keys, []rotators.Resolver{loc}, false)
	if err != nil {
		t.Fatal(err)
	}
	if row := results(rb)[uri]; row.Action != rotators.ActionReverted || !row.Verified {
		t.Fatalf("rollback row %+v", row)
	}
	got, _ = p.Get(context.Background(), "app/config")
	if !bytes.Contains(got.Value, []byte(oldKey.Reveal())) || bytes.Contains(got.Value, []byte(newKey.Reveal())) {
		t.Fatal("rollback did not restore the old key")
	}
}
