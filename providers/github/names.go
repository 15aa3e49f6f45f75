package github

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/scanner"
)

// kind is the scope a secret or variable lives in; each has its own
// endpoints and, for secrets, its own public key.
type kind int

const (
	kindActions kind = iota
	kindEnv
	kindDependabot
	kindCodespaces
	kindVariable
	kindEnvVariable
)

// ref addresses one secret or variable. Entry names say the scope:
//
//	actions/NAME               Actions secret (repository or organization)
//	env/ENV/NAME               environment secret
//	dependabot/NAME            Dependabot secret
//	codespaces/NAME            Codespaces secret
//	variables/NAME             Actions variable (repository or organization)
//	env/ENV/variables/NAME     environment variable
//
// ENV is path-escaped, so an environment called "review/app" is
// env/review%2Fapp/NAME and the name splits one way only.
type ref struct {
	kind kind
	env  string // unescaped environment name
	name string // upper-case, as GitHub keeps names
}

// validName is GitHub's rule for secret and variable names.
var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// escapeEnv path-escapes an environment name, for entry names and for the
// API paths go-github builds without escaping.
func escapeEnv(env string) string { return url.PathEscape(env) }

func (r ref) String() string {
	env := escapeEnv(r.env)
	switch r.kind {
	case kindEnv:
		return "env/" + env + "/" + r.name
	case kindEnvVariable:
		return "env/" + env + "/variables/" + r.name
	case kindDependabot:
		return "dependabot/" + r.name
	case kindCodespaces:
		return "codespaces/" + r.name
	case kindVariable:
		return "variables/" + r.name
	default:
		return "actions/" + r.name
	}
}

func (r ref) isVariable() bool { return r.kind == kindVariable || r.kind == kindEnvVariable }

// parseRef reads an entry name; org stores have no environments.
func parseRef(name string, org bool) (ref, error) {
	parts := strings.Split(name, "/")
	var r ref
	switch {
	case len(parts) == 2 && parts[0] == "actions":
		r.kind = kindActions
	case len(parts) == 2 && parts[0] == "dependabot":
		r.kind = kindDependabot
	case len(parts) == 2 && parts[0] == "codespaces":
		r.kind = kindCodespaces
	case len(parts) == 2 && parts[0] == "variables":
		r.kind = kindVariable
	case len(parts) == 3 && parts[0] == "env" && !org:
		r.kind = kindEnv
	case len(parts) == 4 && parts[0] == "env" && parts[2] == "variables" && !org:
		r.kind = kindEnvVariable
	default:
		return ref{}, fmt.Errorf("%q is not a GitHub secret address (want actions/NAME, env/ENV/NAME, dependabot/NAME, codespaces/NAME, variables/NAME or env/ENV/variables/NAME): %w",
			scanner.Scrub(name), providers.ErrNotFound)
	}
	if r.kind == kindEnv || r.kind == kindEnvVariable {
		env, err := url.PathUnescape(parts[1])
		if err != nil || env == "" {
			return ref{}, fmt.Errorf("%q: bad environment name: %w", scanner.Scrub(name), providers.ErrNotFound)
		}
		r.env = env
	}
	r.name = parts[len(parts)-1]
	if !validName.MatchString(r.name) {
		return ref{}, fmt.Errorf("%q: GitHub names are letters, digits and underscores: %w", scanner.Scrub(name), providers.ErrNotFound)
	}
	r.name = strings.ToUpper(r.name)
	return r, nil
}
