package providers

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Opener builds a Provider from its URI, e.g. aws-sm://us-east-1/prod/.
type Opener func(ctx context.Context, uri *url.URL) (Provider, error)

// Registry maps URI schemes to openers. It is built explicitly by the
// command (no init side effects), so what a binary can reach is visible in
// one place.
type Registry map[string]Opener

// Open parses a store URI and opens the provider for its scheme.
func (r Registry) Open(ctx context.Context, uri string) (Provider, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("store %q: not a store URI (want SCHEME://…, one of %s)", uri, r.schemes())
	}
	open, ok := r[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("store %q: unknown scheme %q (known: %s)", uri, u.Scheme, r.schemes())
	}
	p, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", uri, err)
	}
	return p, nil
}

func (r Registry) schemes() string {
	names := make([]string, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
