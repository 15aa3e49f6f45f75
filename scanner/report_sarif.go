package scanner

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
)

// SARIF 2.1.0 output, in the shape GitHub code scanning accepts: one rule
// per encoding, one result per finding, the key id as a partial fingerprint
// so alerts follow a key across line moves.

const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription sarifText      `json:"shortDescription"`
	FullDescription  sarifText      `json:"fullDescription"`
	Help             sarifText      `json:"help"`
	DefaultConfig    map[string]any `json:"defaultConfiguration"`
	Properties       map[string]any `json:"properties"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region *sarifRegion `json:"region,omitempty"`
}

type sarifRegion struct {
	StartLine   int    `json:"startLine,omitempty"`
	StartColumn int    `json:"startColumn,omitempty"`
	EndColumn   int    `json:"endColumn,omitempty"`
	ByteOffset  *int64 `json:"byteOffset,omitempty"`
	ByteLength  int    `json:"byteLength,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

const helpText = `A Perplexity API key (pplx- followed by 48 letters and digits) is stored here.
Anyone who can read this location can spend the account's quota, and a leaked key may be revoked without notice.

What to do:
1. Check whether the key is live: rekey check --key-env VAR
2. Move the value out of the repository (an environment variable or a secret manager).
3. If the key was ever committed or shared, rotate it everywhere: rekey rotate --old-env OLD --new-env NEW --revoke-old
4. For a false positive, add a rekey:allow comment on the line or allow the key id in .rekey.yaml.`

var sarifRules = []sarifRule{
	newRule("rekey/perplexity-api-key", "PerplexityAPIKey", "Perplexity API key in plain text"),
	newRule("rekey/perplexity-api-key-base64", "PerplexityAPIKeyBase64", "Base64-encoded Perplexity API key"),
}

func newRule(id, name, short string) sarifRule {
	return sarifRule{
		ID: id, Name: name,
		ShortDescription: sarifText{Text: short},
		FullDescription:  sarifText{Text: short + ". Stored API keys leak through clones, forks, CI logs and backups."},
		Help:             sarifText{Text: helpText, Markdown: "**" + short + "**\n\n" + strings.ReplaceAll(helpText, "\n", "\n\n")},
		DefaultConfig:    map[string]any{"level": "error"},
		Properties:       map[string]any{"tags": []string{"security", "secret", "perplexity"}, "precision": "very-high", "security-severity": "9.0"},
	}
}

// WriteSARIF writes the report as SARIF 2.1.0; version names the tool version.
func WriteSARIF(w io.Writer, r *Report, version string) error {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "rekey", Version: version, InformationURI: "https://github.com/rekeyhq/rekey", Rules: sarifRules}},
		Results: []sarifResult{},
	}
	for _, f := range r.Findings {
		rule := 0
		if f.Location.Encoding == Base64 {
			rule = 1
		}
		msg := fmt.Sprintf("Perplexity API key %s (%s)", f.Redacted, f.KeyID)
		if f.Location.Variable != "" {
			msg += " in " + f.Location.Variable
		}
		if len(f.Problems) > 0 {
			msg += "; stored-value problems: " + strings.Join(f.Problems, ", ")
		}
		res := sarifResult{
			RuleID: sarifRules[rule].ID, RuleIndex: rule, Level: "error",
			Message:             sarifText{Text: msg},
			Locations:           []sarifLocation{sarifLocationOf(f.Location)},
			PartialFingerprints: map[string]string{"rekeyKeyId/v1": f.KeyID},
		}
		if f.Location.Commit != "" || f.Status != "" {
			res.Properties = map[string]any{}
			if f.Location.Commit != "" {
				res.Properties["commit"] = f.Location.Commit
			}
			if f.Status != "" {
				res.Properties["status"] = f.Status
			}
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

func sarifLocationOf(l Location) sarifLocation {
	if l.Path == "" {
		return sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: l.URI, Kind: "resource"}}}
	}
	p := &sarifPhysical{}
	p.ArtifactLocation.URI = artifactURI(l.Path)
	switch {
	case l.Offset != nil:
		p.Region = &sarifRegion{ByteOffset: l.Offset, ByteLength: KeyLen}
	case l.Line > 0:
		p.Region = &sarifRegion{StartLine: l.Line, StartColumn: max(l.Column, 1)}
		if l.Encoding == Plain && l.Column > 0 {
			p.Region.EndColumn = l.Column + KeyLen
		}
	}
	return sarifLocation{PhysicalLocation: p}
}

// artifactURI turns a path into a URI reference: relative paths stay
// relative (GitHub resolves them against the repository root), absolute
// ones become file:// URIs; special characters are percent-encoded.
func artifactURI(p string) string {
	u := url.URL{Path: p}
	if path.IsAbs(p) {
		u.Scheme = "file"
	}
	return u.String()
}
