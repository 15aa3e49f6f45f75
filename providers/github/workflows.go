package github

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
)

// Use is one place where a workflow hands a secret to something whose name
// says Perplexity: the evidence that a write-only secret holds a key.
type Use struct {
	// Secret is the name of the secret used, upper-case as GitHub keeps it.
	Secret string
	// How the secret is handed on: "env" (an environment variable),
	// "input" (a with: input), "secret" (a secret of a reusable workflow)
	// or "script" (a run: script that talks to Perplexity).
	How string
	// Target is the environment variable, input or secret fed, or the
	// step's name for a script.
	Target string
	// File, Job and Step say where: the workflow's path in the repository,
	// the job id ("" at workflow level) and the step's name or position.
	File, Job, Step string
	// Via is the local reusable workflow the secret is passed to, when the
	// Perplexity use is inside it, and Inner the secret's name there.
	Via, Inner string
}

// String says in words what the use is, for Entry.Presumed.
func (u Use) String() string {
	var what string
	switch u.How {
	case "env":
		what = "feeds env " + u.Target
	case "input":
		what = "feeds input " + u.Target
	case "secret":
		what = "is passed as secret " + u.Target + " to a reusable workflow"
	default:
		what = "is used by a script that calls Perplexity"
	}
	if u.Via != "" {
		what = "is passed as secret " + u.Inner + " to " + u.Via + ", where it " + strings.TrimPrefix(what, "is ")
	}
	where := u.File
	var ctx []string
	if u.Job != "" {
		ctx = append(ctx, "job "+u.Job)
	}
	switch {
	case strings.HasPrefix(u.Step, "service "):
		ctx = append(ctx, u.Step)
	case u.Step != "":
		ctx = append(ctx, "step "+u.Step)
	}
	if len(ctx) > 0 {
		where += " (" + strings.Join(ctx, ", ") + ")"
	}
	return what + " in " + where
}

// Workflow is what one workflow file says about secrets.
type Workflow struct {
	File string
	// Uses are the secrets the file itself hands to Perplexity.
	Uses []Use
	// calls are its jobs that call a reusable workflow of the same
	// repository, with the secrets they pass.
	calls []call
}

// call is a job calling a local reusable workflow: which of the caller's
// secrets become which of the callee's.
type call struct {
	job, callee string
	secrets     map[string][]string // callee secret -> caller secrets
}

// Matcher says whether a name (of a secret, variable, input or action)
// says Perplexity: it contains one of the patterns, case-insensitively.
type Matcher []string

// DefaultPatterns are the name fragments that say Perplexity.
var DefaultPatterns = []string{"PERPLEXITY", "PPLX"}

// Match returns the first pattern s contains, or "".
func (m Matcher) Match(s string) string {
	up := strings.ToUpper(s)
	for _, p := range m {
		if p != "" && strings.Contains(up, strings.ToUpper(p)) {
			return p
		}
	}
	return ""
}

func (m Matcher) says(s string) bool { return m.Match(s) != "" }

// Expressions and the secret references inside them. GitHub expressions
// are case-insensitive; secret names are letters, digits and underscores.
var (
	exprRe      = regexp.MustCompile(`(?s)\$\{\{(.*?)\}\}`)
	secretDotRe = regexp.MustCompile(`(?i)\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)`)
	secretIdxRe = regexp.MustCompile(`(?i)\bsecrets\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\]`)
	secretMtxRe = regexp.MustCompile(`(?i)\bsecrets\[\s*matrix\.([A-Za-z0-9_-]+)\s*\]`)
)

// refs are the secrets one value refers to: by name, and through matrix
// fields (secrets[matrix.FIELD]).
type refs struct {
	names  []string
	matrix []string
}

func findRefs(v any) refs {
	s, ok := v.(string)
	if !ok {
		return refs{}
	}
	var r refs
	for _, m := range exprRe.FindAllStringSubmatch(s, -1) {
		expr := m[1]
		for _, n := range secretDotRe.FindAllStringSubmatch(expr, -1) {
			r.names = append(r.names, strings.ToUpper(n[1]))
		}
		for _, n := range secretIdxRe.FindAllStringSubmatch(expr, -1) {
			r.names = append(r.names, strings.ToUpper(n[1]))
		}
		for _, n := range secretMtxRe.FindAllStringSubmatch(expr, -1) {
			r.matrix = append(r.matrix, n[1])
		}
	}
	return r
}

// ParseWorkflow reads one workflow file (YAML, anchors and merge keys
// included) and finds where it hands secrets to Perplexity: env at
// workflow, job, container, service and step level, step and job inputs,
// secrets passed to reusable workflows, matrix-selected secrets
// (secrets[matrix.FIELD]) and run: scripts that call Perplexity.
func ParseWorkflow(file string, data []byte, m Matcher) (*Workflow, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// The YAML error quotes the offending line, which could hold
		// anything: say only where it is.
		return nil, fmt.Errorf("parse workflow %s: not valid YAML%s", file, yamlPosition(err))
	}
	w := &Workflow{File: file}
	p := parser{w: w, m: m}
	p.envMap(asMap(doc["env"]), "", "", nil, false)
	jobs := asMap(doc["jobs"])
	for _, id := range sortedKeys(jobs) {
		p.job(id, asMap(jobs[id]))
	}
	return w, nil
}

// yamlPosition extracts "[line:col]" from a goccy/go-yaml error, which
// starts with it, without the source excerpt that follows.
func yamlPosition(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "[") {
		if end := strings.Index(msg, "]"); end > 0 {
			return " at line:column " + msg[1:end]
		}
	}
	return ""
}

type parser struct {
	w *Workflow
	m Matcher
}

func (p *parser) add(secret, how, target, job, step string) {
	// GITHUB_TOKEN is the job's own token, never a stored secret.
	if secret == "GITHUB_TOKEN" { //nolint:gosec // a name, not a credential

		return
	}
	p.w.Uses = append(p.w.Uses, Use{Secret: secret, How: how, Target: target, File: p.w.File, Job: job, Step: step})
}

func (p *parser) job(id string, job map[string]any) {
	mx := asMap(asMap(job["strategy"])["matrix"])
	p.envMap(asMap(job["env"]), id, "", mx, false)
	p.envMap(asMap(asMap(job["container"])["env"]), id, "", mx, false)
	services := asMap(job["services"])
	for _, name := range sortedKeys(services) {
		p.envMap(asMap(asMap(services[name])["env"]), id, "service "+name, mx, false)
	}
	if uses, ok := job["uses"].(string); ok {
		p.reusableCall(id, uses, job, mx)
	}
	steps, _ := job["steps"].([]any)
	for i, s := range steps {
		step := asMap(s)
		name := stepName(step, i)
		uses, _ := step["uses"].(string)
		// A step running a Perplexity action hands it whatever secret it
		// passes, whatever the input or variable is called.
		all := p.m.says(uses)
		p.envMap(asMap(step["env"]), id, name, mx, all)
		p.inputs(asMap(step["with"]), id, name, mx, all)
		if run, ok := step["run"].(string); ok && p.m.says(run) {
			r := findRefs(run)
			for _, n := range slices.Concat(r.names, p.matrixSecrets(mx, r.matrix, true)) {
				p.add(n, "script", name, id, name)
			}
		}
	}
}

// reusableCall records a job that calls a reusable workflow: secrets
// passed under a Perplexity name are uses; for a workflow of the same
// repository, every passed secret is remembered so that Resolve can follow
// it into the callee.
func (p *parser) reusableCall(id, uses string, job, mx map[string]any) {
	p.inputs(asMap(job["with"]), id, "", mx, false)
	c := call{job: id, secrets: map[string][]string{}}
	if strings.HasPrefix(uses, "./") {
		c.callee = path.Clean(strings.TrimPrefix(uses, "./"))
	}
	secrets := asMap(job["secrets"])
	for _, inner := range sortedKeys(secrets) {
		r := findRefs(secrets[inner])
		names := slices.Concat(r.names, p.matrixSecrets(mx, r.matrix, p.m.says(inner)))
		if p.m.says(inner) {
			for _, n := range names {
				p.add(n, "secret", inner, id, "")
			}
		}
		c.secrets[strings.ToUpper(inner)] = append(c.secrets[strings.ToUpper(inner)], names...)
	}
	// "secrets: inherit" passes every secret under its own name: the
	// callee's own references already name the caller's secrets.
	if c.callee != "" && len(c.secrets) > 0 {
		p.w.calls = append(p.w.calls, c)
	}
}

// envMap records secrets feeding environment variables named for
// Perplexity (or any variable, when all is set).
func (p *parser) envMap(env map[string]any, job, step string, mx map[string]any, all bool) {
	p.mapping(env, "env", job, step, mx, all)
}

// inputs records secrets feeding with: inputs named for Perplexity.
func (p *parser) inputs(with map[string]any, job, step string, mx map[string]any, all bool) {
	p.mapping(with, "input", job, step, mx, all)
}

func (p *parser) mapping(m map[string]any, how, job, step string, mx map[string]any, all bool) {
	for _, k := range sortedKeys(m) {
		r := findRefs(m[k])
		says := all || p.m.says(k)
		if says {
			for _, n := range r.names {
				p.add(n, how, k, job, step)
			}
		}
		for _, n := range p.matrixSecrets(mx, r.matrix, says) {
			p.add(n, how, k, job, step)
		}
	}
}

// matrixSecrets resolves secrets[matrix.FIELD]: when the target says
// Perplexity, every value FIELD takes; otherwise only the values from
// include: entries that themselves mention Perplexity (provider:
// perplexity next to key_secret: LLM_KEY).
func (p *parser) matrixSecrets(mx map[string]any, fields []string, all bool) []string {
	var out []string
	for _, f := range fields {
		if all {
			for _, v := range asList(mx[f]) {
				if s, ok := scalar(v); ok {
					out = append(out, strings.ToUpper(s))
				}
			}
		}
		for _, inc := range asList(mx["include"]) {
			entry := asMap(inc)
			s, ok := scalar(entry[f])
			if !ok {
				continue
			}
			if all || p.entrySays(entry, f) {
				out = append(out, strings.ToUpper(s))
			}
		}
	}
	return out
}

func (p *parser) entrySays(entry map[string]any, except string) bool {
	for k, v := range entry {
		if k == except {
			continue
		}
		if s, ok := scalar(v); ok && (p.m.says(s) || p.m.says(k)) {
			return true
		}
	}
	return false
}

// Resolve adds to the workflows' own uses those made through local
// reusable workflows: a caller passing secrets.X as the callee's secret Y,
// where the callee hands Y to Perplexity, uses X. Chains of reusable
// workflows are followed.
func Resolve(workflows []*Workflow) []Use {
	byFile := map[string]*Workflow{}
	for _, w := range workflows {
		byFile[path.Clean(w.File)] = w
	}
	uses := map[string][]Use{} // file -> uses, growing to a fixed point
	seen := map[Use]bool{}
	var all []Use
	addUse := func(u Use) bool {
		if seen[u] {
			return false
		}
		seen[u] = true
		uses[path.Clean(u.File)] = append(uses[path.Clean(u.File)], u)
		all = append(all, u)
		return true
	}
	for _, w := range workflows {
		for _, u := range w.Uses {
			addUse(u)
		}
	}
	// Each round follows calls one level further; the depth GitHub allows
	// for nested reusable workflows is small, so a few rounds suffice and
	// cycles end.
	for range 10 {
		grew := false
		for _, w := range workflows {
			for _, c := range w.calls {
				if byFile[c.callee] == nil {
					continue
				}
				for _, inner := range uses[c.callee] {
					for _, outer := range c.secrets[inner.Secret] {
						u := inner
						u.Secret, u.File, u.Job, u.Step = outer, w.File, c.job, ""
						u.Via, u.Inner = c.callee, inner.Secret
						if addUse(u) {
							grew = true
						}
					}
				}
			}
		}
		if !grew {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].File < all[j].File })
	return all
}

func stepName(step map[string]any, i int) string {
	if n, ok := scalar(step["name"]); ok && n != "" {
		return fmt.Sprintf("%q", n)
	}
	if id, ok := scalar(step["id"]); ok && id != "" {
		return id
	}
	return fmt.Sprintf("#%d", i+1)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// asList returns v as a list; a single scalar counts as a list of one.
func asList(v any) []any {
	switch l := v.(type) {
	case []any:
		return l
	case nil:
		return nil
	case map[string]any:
		return nil
	default:
		return []any{l}
	}
}

func scalar(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case nil, map[string]any, []any:
		return "", false
	default:
		return fmt.Sprint(s), true
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
