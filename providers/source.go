package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rekeyhq/rekey/scanner"
)

// Source scans a store's readable values for keys: a scanner.Source over a
// Provider. JSON object values are walked, and each string field is scanned
// on its own so findings name the field ("#llm.perplexity.key").
type Source struct {
	Provider Provider
	Reporter scanner.Reporter
	// URI names the store in error reports.
	URI string
}

// Scan lists the store and emits one chunk per value or JSON string field.
// A store that cannot be listed at all is reported, not fatal: the other
// sources still get scanned, and the scan ends partial.
func (s *Source) Scan(ctx context.Context, emit func(scanner.Chunk) error) error {
	err := s.Provider.List(ctx, func(e Entry) error {
		if e.Err != nil {
			s.Reporter.Error(e.URI, e.Err)
			return nil
		}
		if e.Value == nil {
			if sink, ok := s.Reporter.(scanner.FindingSink); ok && e.Presumed != "" {
				sink.AddFinding(scanner.Finding{
					Location: scanner.Location{Kind: e.Kind, URI: e.URI, Variable: e.Name},
					Status:   scanner.StatusWriteOnly,
					Detail:   e.Presumed + "; the value cannot be read back",
				})
			}
			return nil
		}
		if err := EmitValue(e, emit); err != nil {
			return &emitError{err}
		}
		return nil
	})
	var emitErr *emitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil || errors.As(err, &emitErr):
		return err
	default:
		s.Reporter.Error(s.URI, fmt.Errorf("list store: %w", err))
		return nil
	}
}

// emitError marks a failure of the scan itself (not of the store), which
// stays fatal.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// EmitValue emits an entry's value as chunks: one per string field of a
// JSON object or array, or the whole value otherwise.
func EmitValue(e Entry, emit func(scanner.Chunk) error) error {
	loc := scanner.Location{Kind: e.Kind, URI: e.URI}
	trimmed := bytes.TrimSpace(e.Value)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		var doc any
		if json.Unmarshal(trimmed, &doc) == nil {
			return walkJSON(doc, "", func(field, value string) error {
				l := loc
				l.URI, l.Variable = e.URI+"#"+field, field
				return emit(scanner.Chunk{Location: l, Data: []byte(value), Line: 1, Final: true})
			})
		}
	}
	return emit(scanner.Chunk{Location: loc, Data: e.Value, Line: 1, Final: true})
}

// walkJSON calls fn for every string in doc with its dotted field path
// (array elements as [i]), descending into strings that hold JSON objects.
// Map keys are visited in sorted order.
func walkJSON(doc any, path string, fn func(field, value string) error) error {
	switch v := doc.(type) {
	case string:
		// A field may itself hold JSON (a whole config in one value).
		if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") {
			var nested any
			if json.Unmarshal([]byte(t), &nested) == nil {
				return walkJSON(nested, path, fn)
			}
		}
		return fn(path, v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := walkJSON(v[k], joinField(path, k), fn); err != nil {
				return err
			}
		}
	case []any:
		for i, item := range v {
			if err := walkJSON(item, path+"["+strconv.Itoa(i)+"]", fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinField(path, key string) string {
	if strings.ContainsAny(key, ".[]") {
		key = `"` + key + `"`
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
