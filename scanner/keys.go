package scanner

import (
	"cmp"
	"slices"
	"strings"
)

// KeySummary gathers everything known about one key across all its
// locations, with the one next step a person should take.
type KeySummary struct {
	KeyID     string         `json:"key_id"`
	Redacted  string         `json:"redacted,omitempty"`
	Status    string         `json:"status,omitempty"`
	Locations int            `json:"locations"`
	Kinds     map[string]int `json:"kinds"`
	Problems  []string       `json:"problems,omitempty"`
	NextStep  string         `json:"next_step"`
	Command   string         `json:"command,omitempty"`
}

// Next steps, from most to least urgent.
const (
	stepRevoke   = "rotate now and revoke the old key: it is live and its copies have left your control (git history or a shared store)"
	stepRotate   = "rotate it: the key is revoked or invalid but still configured, so whatever reads these places fails"
	stepCheck    = "check whether it is live (rekey check), then rotate it and revoke the old key"
	stepMove     = "move it out of the files into a secret store or environment variable; rotate it if it was ever shared"
	stepNothing  = "nothing urgent: the key is revoked and only left in git history"
	stepWriteOut = "a write-only CI secret presumed to hold a key: rotate it with the others or confirm it does not" //nolint:gosec // advice, not a credential
)

// SummarizeKeys groups findings by key id, in a stable order (most
// locations first). configured are the store URIs the audit read, so the
// rotate command names the same stores.
func SummarizeKeys(findings []Finding, configured []string) []KeySummary {
	byID := map[string]*KeySummary{}
	stores := map[string][]string{}
	var order []string
	for _, f := range findings {
		id := f.KeyID
		if id == "" {
			id = "write-only:" + f.Location.URI
		}
		s, ok := byID[id]
		if !ok {
			s = &KeySummary{KeyID: f.KeyID, Redacted: f.Redacted, Kinds: map[string]int{}}
			byID[id] = s
			order = append(order, id)
		}
		s.Locations++
		s.Kinds[string(f.Location.Kind)]++
		if f.Status != "" && (s.Status == "" || s.Status == "unknown") {
			s.Status = f.Status
		}
		for _, p := range f.Problems {
			if !slices.Contains(s.Problems, p) {
				s.Problems = append(s.Problems, p)
			}
		}
		if store := storeOf(f.Location, configured); store != "" && !slices.Contains(stores[id], store) {
			stores[id] = append(stores[id], store)
		}
	}
	out := make([]KeySummary, 0, len(order))
	for _, id := range order {
		s := byID[id]
		s.NextStep, s.Command = nextStep(s, stores[id])
		out = append(out, *s)
	}
	slices.SortStableFunc(out, func(a, b KeySummary) int {
		return cmp.Or(cmp.Compare(b.Locations, a.Locations), cmp.Compare(a.KeyID, b.KeyID))
	})
	return out
}

// storeOf returns the store URI a location belongs to ("" for files and
// history): the configured store whose URI prefixes the location's, else
// the location's scheme and host.
func storeOf(l Location, configured []string) string {
	switch l.Kind {
	case KindFile, KindStaged, KindGitHistory, "":
		return ""
	}
	for _, c := range configured {
		if strings.HasPrefix(l.URI, strings.TrimSuffix(c, "/")) {
			return c
		}
	}
	scheme, rest, ok := strings.Cut(l.URI, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

func nextStep(s *KeySummary, stores []string) (step, command string) {
	inHistory := s.Kinds[string(KindGitHistory)] > 0
	configured := s.Locations - s.Kinds[string(KindGitHistory)]
	rotate := "rekey rotate --old-env OLD_KEY --new-env NEW_KEY"
	for _, st := range stores {
		rotate += " --store " + st
	}
	switch {
	case s.KeyID == "":
		return stepWriteOut, ""
	case s.Status == "live" && (inHistory || len(stores) > 0):
		return stepRevoke, rotate + " --revoke-old"
	case s.Status == "invalid" && configured > 0:
		return stepRotate, rotate
	case s.Status == "invalid":
		return stepNothing, ""
	case s.Status == "live":
		return stepMove, ""
	default:
		return stepCheck, "rekey check --key-env OLD_KEY"
	}
}
