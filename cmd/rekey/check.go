package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rekeyhq/rekey/providers/perplexity"
	"github.com/rekeyhq/rekey/scanner"
)

// checkSchema identifies the JSON output of rekey check.
const checkSchema = "rekey.check/v1"

// maxCheckInput bounds what check reads from stdin: one key and some junk.
const maxCheckInput = 64 << 10

type checkOptions struct {
	key    keySource
	format string
	api    apiOptions
}

func newCheckCmd(a *app) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Ask whether one key is live, and what is wrong with its stored value",
		Long: `Check one key: ask the Perplexity API whether it is live, without spending
tokens, and list what is wrong with the value as it is stored.

The key is read from stdin (hidden when typed at a terminal) or from the
environment variable named by --key-env, never from the command line. Give
the value exactly as your application reads it: check then finds the
problems that make the API refuse a good key: a "Bearer " prefix, quotes,
surrounding whitespace, a carriage return (\r) from a Windows line ending,
invisible or non-ASCII characters, a wrong prefix or length. When the value
has such problems but holds a well-formed key, the key inside is checked.

The API is asked with a request for a model that does not exist, so a live
key gets a cheap refusal of the model instead of a billed answer. Statuses:
  live          the API accepted the key (HTTP 200, 400, 404 or 422)
  invalid       the API refused it (HTTP 401 or 403): revoked or wrong
  rate-limited  the key is known but the account is throttled (HTTP 429)
  unknown       no clear answer: network or service trouble (never "invalid")

Exit codes: 0 the key is live and the value is clean; 1 the key is invalid
or the value as given would be refused; 2 usage or input error; 3 the
status is unknown or rate-limited.`,
		Example: `  # The key your application uses, exactly as it is in its environment
  rekey check --key-env PERPLEXITY_API_KEY

  # From a pipe, as JSON
  printenv PERPLEXITY_API_KEY | rekey check --format json`,
		Args: noKeyArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.key.fromStdin, "key-stdin", false, "read the key from stdin (the default)")
	f.StringVar(&o.key.envVar, "key-env", "", "read the key from environment variable `VAR`")
	f.StringVarP(&o.format, "format", "f", "text", "output format: text or json")
	o.api.addFlags(f, false)
	return cmd
}

// noKeyArgs refuses arguments without echoing them: the argument may be
// the key itself.
func noKeyArgs(_ *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return withHint(errors.New("rekey check takes no arguments: keys are never read from the command line"),
		"pipe the key in (printenv PERPLEXITY_API_KEY | rekey check) or name its variable (rekey check --key-env PERPLEXITY_API_KEY); "+
			"a key typed on a command line stays in the shell history")
}

func runCheck(ctx context.Context, a *app, o *checkOptions) error {
	if o.format != "text" && o.format != "json" {
		return withHint(fmt.Errorf("unknown format %q", o.format), "use one of: text, json")
	}
	client, _, err := o.api.client(0)
	if err != nil {
		return err
	}
	raw, err := o.readValue(a)
	if err != nil {
		return err
	}
	rep, err := checkValue(ctx, client, raw)
	if err != nil {
		return err
	}
	rep.Next = rep.nextStep(o.key)
	if o.format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(rep)
	} else {
		err = rep.writeText(a.stdout)
	}
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return rep.outcome()
}

// readValue returns the value exactly as given, less the newline that ends
// a line of input: whitespace, quotes and \r are what check diagnoses.
func (o *checkOptions) readValue(a *app) (string, error) {
	k := o.key
	switch {
	case k.fromStdin && k.envVar != "":
		return "", usagef("give the key on stdin or in an environment variable, not both")
	case k.envVar != "":
		name := scanner.Scrub(k.envVar) // someone may pass the key itself as the name
		v, ok := os.LookupEnv(k.envVar)
		switch {
		case !ok:
			return "", usagef("environment variable %s is not set", name)
		case v == "":
			return "", usagef("environment variable %s is empty", name)
		}
		return v, nil
	}
	if fd, ok := terminalFD(a.stdin); ok {
		fmt.Fprint(a.stderr, "Perplexity API key (input hidden): ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read key: %w", err)
		}
		if len(b) == 0 {
			return "", usagef("no key given")
		}
		return string(b), nil
	}
	data, err := io.ReadAll(io.LimitReader(a.stdin, maxCheckInput+1))
	if err != nil {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	if len(data) > maxCheckInput {
		return "", withHint(errors.New("standard input is far longer than a key"), "give one key; to find keys in files use 'rekey scan'")
	}
	v := strings.TrimSuffix(string(data), "\n")
	if strings.TrimSpace(v) == "" {
		return "", withHint(errors.New("nothing on standard input"),
			"pipe the key in (printenv PERPLEXITY_API_KEY | rekey check) or use --key-env VAR")
	}
	lines := 0
	for line := range strings.SplitSeq(v, "\n") {
		if strings.TrimSpace(line) != "" {
			lines++
		}
	}
	if lines > 1 {
		return "", withHint(fmt.Errorf("standard input holds %d lines", lines), "give one key; to find keys in files use 'rekey scan'")
	}
	return v, nil
}

// terminalFD returns the descriptor of r when r is a terminal, so that a
// typed key can be read without echoing it.
func terminalFD(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd()) //nolint:gosec // a file descriptor fits in an int
	return fd, term.IsTerminal(fd)
}

// checkReport is the result of rekey check, printed as text or JSON.
type checkReport struct {
	Schema     string   `json:"schema"`
	KeyID      string   `json:"key_id,omitempty"`
	Redacted   string   `json:"redacted,omitempty"`
	Status     string   `json:"status"`
	HTTPStatus int      `json:"http_status,omitempty"`
	Reason     string   `json:"reason"`
	Problems   []string `json:"problems,omitempty"`
	// Cleaned: the value had problems and the key found inside it was checked.
	Cleaned bool `json:"cleaned,omitempty"`
	// Usable: the value works as given (the key is live and the value clean).
	Usable bool   `json:"usable"`
	Next   string `json:"next"`
}

// checkValue diagnoses raw and checks the key in it.
func checkValue(ctx context.Context, client *perplexity.Client, raw string) (*checkReport, error) {
	rep := &checkReport{Schema: checkSchema, Problems: scanner.Diagnose(raw)}
	key := scanner.Secret(raw)
	if len(rep.Problems) > 0 {
		var err error
		if key, err = keyIn(raw); err != nil {
			return nil, err
		}
		rep.Cleaned = key != ""
	}
	if key == "" {
		rep.Status = string(perplexity.StatusInvalid)
		rep.Reason = "the value holds no well-formed Perplexity key, so the API would refuse it; it was not sent"
		return rep, nil
	}
	rep.KeyID, rep.Redacted = key.KeyID(), key.Redacted()
	res := client.Check(ctx, key)
	rep.Status, rep.HTTPStatus, rep.Reason = string(res.Status), res.HTTPStatus, res.Reason
	rep.Usable = res.Status == perplexity.StatusLive && len(rep.Problems) == 0
	return rep, nil
}

// keyIn finds the one well-formed key in a value with problems, looking
// past invisible characters; "" when there is none.
func keyIn(raw string) (scanner.Secret, error) {
	visible := strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, raw)
	var found []scanner.Secret
	for _, m := range scanner.FindKeys(nil, []byte(visible), true) {
		if m.Encoding == scanner.Plain && !slices.Contains(found, m.Secret) {
			found = append(found, m.Secret)
		}
	}
	if len(found) > 1 {
		return "", withHint(fmt.Errorf("the value holds %d different keys", len(found)), "check one key at a time")
	}
	if len(found) == 0 {
		return "", nil
	}
	return found[0], nil
}

// outcome maps the result to the exit code: 0 usable, 1 invalid or a value
// that would be refused, 3 unknown or rate-limited.
func (r *checkReport) outcome() error {
	switch {
	case r.Usable:
		return nil
	case len(r.Problems) > 0 || r.Status == string(perplexity.StatusInvalid):
		return fmt.Errorf("the key or its stored value is refused: %w", errFound)
	default:
		return fmt.Errorf("the key's status is %s: %w", r.Status, errPartial)
	}
}

// problemText explains each problem in plain words and says what to do.
var problemText = map[string]string{
	scanner.ProblemBearerPrefix:     `the value starts with "Bearer "; store the key alone, clients add "Bearer " themselves`,
	scanner.ProblemWhitespace:       "spaces, tabs or newlines around the key; remove them",
	scanner.ProblemCarriageReturn:   `a carriage return (\r), usually from a Windows line ending; save the file with LF line endings or strip the \r`,
	scanner.ProblemExtraQuotes:      "quotes are part of the value; remove them (or use a loader that strips them)",
	scanner.ProblemInvisible:        "an invisible character (zero-width space, byte-order mark, non-breaking space or control character), often from copying out of a web page or chat; paste the key as plain text or retype it",
	scanner.ProblemWrongPrefix:      `a Perplexity key starts with "pplx-"`,
	scanner.ProblemWrongLength:      `a Perplexity key is "pplx-" and exactly 48 letters and digits, 53 characters in all`,
	scanner.ProblemInvalidCharacter: `only ASCII letters and digits may follow "pplx-"`,
}

// nextStep says in plain words what to do, from the point of view of a
// person whose requests fail.
func (r *checkReport) nextStep(k keySource) string {
	rotate := "rekey rotate --old-stdin --new-env NEW_VAR"
	if k.envVar != "" {
		rotate = "rekey rotate --old-env " + scanner.Scrub(k.envVar) + " --new-env NEW_VAR"
	}
	var fixValue string
	if len(r.Problems) > 0 {
		fixValue = " Store the new key without the problems listed above."
	}
	switch {
	case r.KeyID == "":
		return "The value holds no Perplexity key (pplx- followed by exactly 48 letters and digits). " +
			"Check that the right secret is stored here: copy the key again from the API Keys page of " +
			"Perplexity's API settings, or create a new one there."
	case r.Status == string(perplexity.StatusLive) && len(r.Problems) == 0:
		return `Nothing to do: the key is live and the value is clean. If requests still fail, check what your ` +
			`application sends: the header must be exactly "Authorization: Bearer <key>".`
	case r.Status == string(perplexity.StatusLive):
		return "The key itself is live: keep it, no rotation is needed. Fix the stored value so that it holds " +
			"the key alone (see the problems above): an application sending the value as stored is refused with HTTP 401."
	case r.Status == string(perplexity.StatusInvalid):
		return "The key is revoked or wrong. In Perplexity's API settings, look at its status badge on the API Keys page, " +
			"at Usage & Limits for an exhausted quota, and at Billing for a failed payment. Then create a new key " +
			"(on the API Keys page, or with --mint and a live key in PERPLEXITY_ADMIN_KEY) and replace the old one " +
			"everywhere: " + rotate + "." + fixValue
	case r.Status == string(perplexity.StatusRateLimited):
		return "The key is known, but the account is being throttled: a per-minute rate limit or the quota is reached. " +
			"Wait a minute and check again; if it persists, look at Usage & Limits and Billing in Perplexity's API settings. " +
			"Rotating will not help: a new key of the same account shares its limits." + fixValue
	default:
		return "rekey could not tell whether the key is live: network or service trouble (see the reason above). " +
			"Try again in a few minutes; if it persists, check your network and proxy settings and Perplexity's status page." +
			fixValue
	}
}

// writeText prints the result for people.
func (r *checkReport) writeText(w io.Writer) error {
	t := &textWriter{w: w}
	if r.KeyID != "" {
		t.block("key:", r.Redacted+" ("+r.KeyID+")")
	}
	status := r.Status
	if r.HTTPStatus != 0 {
		status += fmt.Sprintf(" (HTTP %d)", r.HTTPStatus)
	}
	if r.Cleaned {
		status += ", for the key found inside the value"
	}
	t.block("status:", status)
	t.block("", r.Reason)
	if len(r.Problems) == 0 {
		t.block("problems:", "none")
	}
	for i, p := range r.Problems {
		label := ""
		if i == 0 {
			label = "problems:"
		}
		t.block(label, p+": "+problemText[p])
	}
	t.block("next:", r.Next)
	return t.err
}

// textWriter prints labelled blocks of text wrapped at 80 columns and
// keeps the first write error.
type textWriter struct {
	w   io.Writer
	err error
}

// block prints text after a label, wrapped, continuation lines indented
// to the text's column.
func (t *textWriter) block(label, text string) {
	const width, column = 80, 10
	line := fmt.Sprintf("%-*s", column, label)
	empty := true
	for _, word := range strings.Fields(text) {
		if !empty && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
			t.print(line)
			line, empty = strings.Repeat(" ", column), true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	if !empty {
		t.print(line)
	}
}

func (t *textWriter) print(line string) {
	if t.err == nil {
		_, t.err = fmt.Fprintln(t.w, line)
	}
}
