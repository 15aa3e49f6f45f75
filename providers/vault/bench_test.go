package vault_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/providers/vault/vaulttest"
)

var benchMount struct {
	once  sync.Once
	mount string
	n     int
}

// BenchmarkScan lists and reads 2,000 secrets in 40 folders of a KV v2
// mount of the real dev server, one request at a time and four at a time,
// reporting secrets per second and requests per scan:
//
//	go test -run '^$' -bench Scan -benchtime 5x ./providers/vault/
func BenchmarkScan(b *testing.B) {
	srv := server(b)
	benchMount.once.Do(func() {
		benchMount.mount = srv.Mount(b, 2)
		secrets := map[string]map[string]any{}
		for i := range 2000 {
			secrets[fmt.Sprintf("team-%d/svc-%d/secret-%d", i%8, i%5, i)] = map[string]any{
				"user": fmt.Sprint(i), "url": "https://example.com/", "note": "nothing to see",
			}
		}
		srv.Seed(b, benchMount.mount, 2, secrets)
		benchMount.n = len(secrets)
	})
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			c, tr := client(b, vaulttest.RootToken)
			p := open(b, c, benchMount.mount, vault.Options{Concurrency: conc})
			tr.calls.Store(0)
			for b.Loop() {
				n := 0
				err := p.List(context.Background(), func(e providers.Entry) error {
					if e.Err != nil {
						return e.Err
					}
					n++
					return nil
				})
				if err != nil || n != benchMount.n {
					b.Fatalf("listed %d of %d: %v", n, benchMount.n, err)
				}
			}
			b.ReportMetric(float64(benchMount.n*b.N)/b.Elapsed().Seconds(), "secrets/s")
			b.ReportMetric(float64(tr.calls.Load())/float64(b.N), "requests/scan")
		})
	}
}
