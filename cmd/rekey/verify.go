package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/rekeyhq/rekey/providers/perplexity"
	"github.com/rekeyhq/rekey/scanner"
)

// rateEnv sets the default of --rate, for CI and tests that run against a
// local fake API and need not wait a second per request.
const rateEnv = "REKEY_VERIFY_RATE"

// apiOptions are the settings of commands that call the Perplexity API.
type apiOptions struct {
	rate rateValue
}

// addFlags defines --rate; fromConfig says whether the command reads
// verify.rate from .rekey.yaml.
func (o *apiOptions) addFlags(f *pflag.FlagSet, fromConfig bool) {
	def := "$" + rateEnv + ", else 1"
	if fromConfig {
		def = "$" + rateEnv + ", else verify.rate in .rekey.yaml, else 1"
	}
	f.Var(&o.rate, "rate", "send at most `N` Perplexity API requests per second, retries included (default "+def+")")
}

// client returns a Perplexity client; the base URL comes from
// $PERPLEXITY_BASE_URL or is the real API. The rate is --rate, else
// $REKEY_VERIFY_RATE, else configured (verify.rate of .rekey.yaml, 0 for
// none), else 1 request per second.
func (o *apiOptions) client(configured float64) (*perplexity.Client, float64, error) {
	r := o.rate
	if !r.set {
		if v, ok := os.LookupEnv(rateEnv); ok && v != "" {
			if err := r.Set(v); err != nil {
				return nil, 0, withHint(fmt.Errorf("%s: %w", rateEnv, err), "unset it or give a positive number")
			}
		}
	}
	rate := r.perSecond
	if !r.set {
		rate = cmp.Or(configured, 1)
	}
	return perplexity.New(perplexity.Options{Rate: rate}), rate, nil
}

// rateValue is a --rate value, checked when the flag is parsed so that a
// bad value fails before any work is done.
type rateValue struct {
	perSecond float64
	set       bool
}

func (r *rateValue) String() string {
	if !r.set {
		return ""
	}
	return strconv.FormatFloat(r.perSecond, 'g', -1, 64)
}

func (r *rateValue) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("rate %q is not a positive number of requests per second", s)
	}
	r.perSecond, r.set = v, true
	return nil
}

func (r *rateValue) Type() string { return "N" }

// verifyFindings asks the API about every distinct key of the report, one
// request each, and fills in each finding's status. Keys whose status stays
// unknown or rate-limited are named on stderr with the reason, unless quiet.
func verifyFindings(ctx context.Context, a *app, api *apiOptions, configuredRate float64, r *scanner.Report, quiet bool) error {
	var keys []scanner.Secret
	seen := map[scanner.Secret]bool{}
	for _, f := range r.Findings {
		// Write-only store entries have no value to check.
		if f.Secret != "" && !seen[f.Secret] {
			seen[f.Secret] = true
			keys = append(keys, f.Secret)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	client, rate, err := api.client(configuredRate)
	if err != nil {
		return err
	}
	if !quiet && len(keys) > 1 {
		a.log.Info(fmt.Sprintf("asking the Perplexity API about %d distinct keys, at most %g requests/second", len(keys), rate))
	}
	status := make(map[scanner.Secret]string, len(keys))
	for _, k := range keys {
		res := client.Check(ctx, k)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		status[k] = string(res.Status)
		if !quiet && (res.Status == perplexity.StatusUnknown || res.Status == perplexity.StatusRateLimited) {
			a.log.Warn(fmt.Sprintf("%s %s is %s: %s", k.Redacted(), k.KeyID(), res.Status, res.Reason))
		}
	}
	for i := range r.Findings {
		if s, ok := status[r.Findings[i].Secret]; ok {
			r.Findings[i].Status = s
		}
	}
	return nil
}
