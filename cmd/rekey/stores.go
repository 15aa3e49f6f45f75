package main

import (
	"context"

	"github.com/rekeyhq/rekey/providers"
	"github.com/rekeyhq/rekey/providers/awssm"
	"github.com/rekeyhq/rekey/providers/awsssm"
	"github.com/rekeyhq/rekey/providers/github"
	"github.com/rekeyhq/rekey/providers/gitlab"
	"github.com/rekeyhq/rekey/providers/vault"
	"github.com/rekeyhq/rekey/scanner"
)

// storeRegistry lists every secret store this binary can reach, by URI
// scheme. Adding a store means adding its line here.
func storeRegistry() providers.Registry {
	return providers.Registry{
		"aws-sm":  awssm.Open,
		"aws-ssm": awsssm.Open,
		"vault":   vault.Open,
		"github":  github.Open,
		"gitlab":  gitlab.Open,
	}
}

// openStores opens the stores named by --store and by .rekey.yaml.
func openStores(ctx context.Context, uris []string) ([]providers.Provider, error) {
	reg := storeRegistry()
	stores := make([]providers.Provider, 0, len(uris))
	for _, uri := range uris {
		p, err := reg.Open(ctx, uri)
		if err != nil {
			return nil, withHint(err, "store URIs look like aws-sm://us-east-1/prod/, aws-ssm://eu-west-1/myapp/, vault://secret/myapp, github://owner/repo, gitlab://group/project")
		}
		stores = append(stores, p)
	}
	return stores, nil
}

// storeSources wraps stores as scanner sources reporting to r; uris are
// the stores' URIs, in the same order, for error reports.
func storeSources(stores []providers.Provider, uris []string, r scanner.Reporter) []scanner.Source {
	sources := make([]scanner.Source, 0, len(stores))
	for i, p := range stores {
		sources = append(sources, &providers.Source{Provider: p, Reporter: r, URI: uris[i]})
	}
	return sources
}
