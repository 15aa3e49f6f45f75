package scanner

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/scanner/testkeys"
)

func TestSummarizeKeysNextStep(t *testing.T) {
	g := testkeys.New(30)
	live, revoked, historic, unchecked := Secret(g.Mixed()), Secret(g.Mixed()), Secret(g.Mixed()), Secret(g.Mixed())
	at := func(s Secret, kind Kind, uri, status string) Finding {
		f := newFinding(s, Location{Kind: kind, URI: uri, Path: "p"})
		f.Status = status
		return f
	}
	findings := []Finding{
		at(live, KindFile, "file:a:1", "live"),
		at(live, KindGitHistory, "git:abc:a:1", "live"),
		at(revoked, KindFile, "file:b:1", "invalid"),
		at(revoked, KindAWSSecretsManager, "aws-sm://us-east-1/prod/app#KEY", "invalid"),
		at(historic, KindGitHistory, "git:def:c:1", "invalid"),
		at(unchecked, KindFile, "file:d:1", ""),
		{Location: Location{Kind: KindGitHubActions, URI: "github://o/r/actions/PPLX"}, Status: StatusWriteOnly},
	}
	keys := SummarizeKeys(findings, []string{"aws-sm://us-east-1/prod/"})
	byID := map[string]KeySummary{}
	for _, k := range keys {
		byID[k.KeyID] = k
	}
	if k := byID[live.KeyID()]; k.NextStep != stepRevoke || !strings.HasSuffix(k.Command, "--revoke-old") || k.Locations != 2 {
		t.Errorf("live key in history: %+v", k)
	}
	if k := byID[revoked.KeyID()]; k.NextStep != stepRotate || !strings.Contains(k.Command, "--store aws-sm://us-east-1/prod/") || strings.Contains(k.Command, "revoke") {
		t.Errorf("revoked key still configured: %+v", k)
	}
	if k := byID[historic.KeyID()]; k.NextStep != stepNothing || k.Command != "" {
		t.Errorf("revoked key only in history: %+v", k)
	}
	if k := byID[unchecked.KeyID()]; k.NextStep != stepCheck {
		t.Errorf("unchecked key: %+v", k)
	}
	if k := byID[""]; k.NextStep != stepWriteOut {
		t.Errorf("write-only secret: %+v", k)
	}
}

func TestWriteMarkdown(t *testing.T) {
	key := Secret(testkeys.New(31).Mixed())
	f := newFinding(key, Location{Kind: KindFile, URI: "file:a|b.env:2", Path: "a|b.env", Line: 2, Column: 5, Variable: "K", Encoding: Plain})
	r := &Report{Schema: ReportSchema, Findings: []Finding{f}, Stats: Stats{Files: 1, Errors: []Problem{{Path: "x", Message: "permission denied"}}}}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"# rekey report", "## Keys", "| `" + key.Redacted() + "` " + key.KeyID(), "`a\\|b.env:2:5`", "## Not read", "permission denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, key.Reveal()) {
		t.Fatal("markdown leaks the key")
	}
}
