package scanner

import (
	"encoding/json"
	"io"
)

// WriteJSON writes the report as rekey.report/v1 JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
