package scanner

import "fmt"

// Kind names the sort of place a key was found in.
type Kind string

// The location kinds of DESIGN.md §3.
const (
	KindFile       Kind = "file"
	KindStaged     Kind = "staged"
	KindGitHistory Kind = "git-history"

	KindAWSSecretsManager Kind = "aws-secretsmanager"
	KindAWSSSM            Kind = "aws-ssm"
	KindVault             Kind = "vault"
	KindGitHubActions     Kind = "github-actions"
	KindGitLabCI          Kind = "gitlab-ci"
)

// Location is the address of one copy of a key: where it is, never what it
// is. Fields that do not apply stay empty and are left out of JSON.
type Location struct {
	// Repo names the repository, in audits of several repositories.
	Repo     string   `json:"repo,omitempty"`
	Kind     Kind     `json:"kind"`
	URI      string   `json:"uri"`
	Path     string   `json:"path,omitempty"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Offset   *int64   `json:"offset,omitempty"` // byte offset, for binary content
	Variable string   `json:"variable,omitempty"`
	Commit   string   `json:"commit,omitempty"`
	Author   string   `json:"author,omitempty"`
	Date     string   `json:"date,omitempty"`
	Refs     []string `json:"refs,omitempty"`
	Encoding Encoding `json:"encoding,omitempty"`
	// Object is the git object id of scanned content whose paths and commits
	// are not known yet; the source's Attributor fills them in.
	Object string `json:"-"`
}

// fileURI appends the position inside a file-like object to the object's
// uri: "file:config/.env:3", or "file:blob.bin@1024" for binary content.
func fileURI(object string, line int, offset *int64) string {
	if offset != nil {
		return fmt.Sprintf("%s@%d", object, *offset)
	}
	return fmt.Sprintf("%s:%d", object, line)
}

// Finding is one copy of a key at one location.
type Finding struct {
	Secret   Secret   `json:"-"`
	KeyID    string   `json:"key_id"`
	Redacted string   `json:"redacted"`
	Location Location `json:"location"`
	Status   string   `json:"status,omitempty"`
	Problems []string `json:"problems,omitempty"`
	// Detail explains a finding that is not a match in content, such as a
	// write-only CI secret believed to hold a key.
	Detail string `json:"detail,omitempty"`
}

// StatusWriteOnly marks a finding in a store whose values cannot be read:
// the key is presumed, from the secret's name or from the workflows using it.
const StatusWriteOnly = "write-only"

// newFinding fills the derived fields from the secret.
func newFinding(s Secret, loc Location) Finding {
	return Finding{Secret: s, KeyID: s.KeyID(), Redacted: s.Redacted(), Location: loc}
}
