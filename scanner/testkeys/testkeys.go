// Package testkeys makes Perplexity-shaped keys at run time for tests and
// benchmarks, so that the repository itself never holds a key-shaped string.
package testkeys

import (
	"math/rand/v2"
	"strings"
)

const (
	prefix   = "pplx" + "-" // kept apart so no key-shaped literal appears anywhere
	bodyLen  = 48
	mixedSet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	hexSet   = "0123456789abcdef"
)

// Gen is a seeded key generator: the same seed gives the same keys.
type Gen struct{ r *rand.Rand }

// New returns a generator seeded with seed.
func New(seed uint64) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} //nolint:gosec // reproducible test data, not secrets
}

// Mixed returns a mixed-case alphanumeric key.
func (g *Gen) Mixed() string { return g.key(mixedSet) }

// Hex returns a lower-case hex key.
func (g *Gen) Hex() string { return g.key(hexSet) }

func (g *Gen) key(set string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for range bodyLen {
		b.WriteByte(set[g.r.IntN(len(set))])
	}
	return b.String()
}

// Rand exposes the generator's random source for tests that need more
// random data from the same seed.
func (g *Gen) Rand() *rand.Rand { return g.r }
