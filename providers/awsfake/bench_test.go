package awsfake_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/awsfake"
	"github.com/rekeyhq/rekey/providers/awssm"
	"github.com/rekeyhq/rekey/providers/awsssm"
	"github.com/rekeyhq/rekey/scanner"
	"github.com/rekeyhq/rekey/scanner/testkeys"
)

// benchSecrets is how many secrets each store holds; one in ten holds a key.
const benchSecrets = 2000

// rtts are the per-request latencies the fake adds: none (loopback, so the
// client's own cost) and a round trip to a nearby AWS region.
var rtts = []time.Duration{0, 5 * time.Millisecond}

// BenchmarkScanSecretsManager scans 2,000 secrets with the full scan
// pipeline, batched (BatchGetSecretValue) and one by one (batching denied),
// at concurrency 1 and 4. Run with -benchtime=1x or 2x: one scan is the
// unit. It reports secrets/s and the API calls one scan makes.
func BenchmarkScanSecretsManager(b *testing.B) {
	f := awsfake.New()
	defer f.Close()
	f.Setenv(b)
	f.SetPageSize(100) // AWS's largest ListSecrets page
	g := testkeys.New(1)
	for i := range benchSecrets {
		value := fmt.Sprintf(`{"user":"app%d","db_password":"not-a-key-%d"}`, i, i)
		if i%10 == 0 {
			value = fmt.Sprintf(`{"user":"app%d","PERPLEXITY_API_KEY":%q}`, i, g.Mixed())
		}
		f.PutSecretString(fmt.Sprintf("bench/app-%04d", i), value)
	}
	for _, rtt := range rtts {
		for _, batch := range []bool{true, false} {
			for _, conc := range []int{1, 4} {
				name := fmt.Sprintf("rtt=%s/%s/concurrency=%d", rtt, map[bool]string{true: "batch", false: "one-by-one"}[batch], conc)
				b.Run(name, func(b *testing.B) {
					f.SetLatency(rtt)
					f.DenyBatch(!batch)
					u, _ := url.Parse(fmt.Sprintf("aws-sm://us-east-1/bench/?concurrency=%d", conc))
					s, err := awssm.OpenWith(context.Background(), u, awssm.Options{})
					if err != nil {
						b.Fatal(err)
					}
					benchScan(b, f, s, awsfake.SecretsManager)
				})
			}
		}
	}
}

// BenchmarkScanParameterStore scans 2,000 parameters (a third each String,
// StringList, SecureString) at concurrency 1 and 4.
func BenchmarkScanParameterStore(b *testing.B) {
	f := awsfake.New()
	defer f.Close()
	f.Setenv(b)
	f.SetPageSize(10) // AWS's largest GetParametersByPath page
	g := testkeys.New(2)
	types := []string{awsfake.TypeString, awsfake.TypeStringList, awsfake.TypeSecureString}
	for i := range benchSecrets {
		value := fmt.Sprintf("value-%d", i)
		if i%10 == 0 {
			value = g.Mixed()
		}
		f.PutParameter(awsfake.Parameter{Name: fmt.Sprintf("/bench/svc%d/param-%04d", i%20, i), Value: value, Type: types[i%3]})
	}
	for _, rtt := range rtts {
		for _, conc := range []int{1, 4} {
			b.Run(fmt.Sprintf("rtt=%s/concurrency=%d", rtt, conc), func(b *testing.B) {
				f.SetLatency(rtt)
				u, _ := url.Parse(fmt.Sprintf("aws-ssm://us-east-1/bench/?concurrency=%d", conc))
				s, err := awsssm.OpenWith(context.Background(), u, awsssm.Options{})
				if err != nil {
					b.Fatal(err)
				}
				benchScan(b, f, s, awsfake.SSM)
			})
		}
	}
}

func benchScan(b *testing.B, f *awsfake.Server, p providers.Provider, service string) {
	f.ResetCalls()
	start := time.Now()
	for b.Loop() {
		scan := scanner.NewScan("", nil)
		report, err := scan.Run(context.Background(), &providers.Source{Provider: p, Reporter: scan})
		if err != nil {
			b.Fatal(err)
		}
		if len(report.Findings) != benchSecrets/10 || len(report.Stats.Errors) > 0 {
			b.Fatalf("%d findings, %d errors; want %d and none", len(report.Findings), len(report.Stats.Errors), benchSecrets/10)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(benchSecrets*b.N)/elapsed.Seconds(), "secrets/s")
	b.ReportMetric(float64(f.TotalCalls(service))/float64(b.N), "calls/scan")
}
