package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rekeyhq/rekey/scanner"
)

// reportFormats are the values of --format.
var reportFormats = []string{"text", "json", "sarif", "markdown"}

// output says where and how a report is written.
type output struct {
	format string
	file   string
	quiet  bool
	color  bool // ANSI emphasis in text reports, for terminals only
}

// resolve checks the format, inferring it from the output file's extension
// when no --format was given.
func (o *output) resolve(formatSet bool) error {
	if !formatSet && o.file != "" {
		switch lower := strings.ToLower(o.file); {
		case strings.HasSuffix(lower, ".sarif"), strings.HasSuffix(lower, ".sarif.json"):
			o.format = "sarif"
		case strings.HasSuffix(lower, ".json"):
			o.format = "json"
		case strings.HasSuffix(lower, ".md"), strings.HasSuffix(lower, ".markdown"):
			o.format = "markdown"
		}
	}
	for _, f := range reportFormats {
		if o.format == f {
			return nil
		}
	}
	return withHint(fmt.Errorf("unknown format %q", o.format), "use one of: "+strings.Join(reportFormats, ", "))
}

// write renders r to the output file (created 0600, since reports name
// where keys are) or to stdout.
func (o *output) write(stdout io.Writer, r *scanner.Report) error {
	w := stdout
	var f *os.File
	if o.file != "" {
		var err error
		f, err = os.OpenFile(o.file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		if err := f.Chmod(0o600); err != nil {
			_ = f.Close()
			return fmt.Errorf("write report: %w", err)
		}
		w = f
	}
	err := o.render(w, r)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil && !o.quiet && o.format != "text" {
			_, err = fmt.Fprintf(stdout, "%s; report written to %s\n", scanner.Summary(r), o.file)
		}
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (o *output) render(w io.Writer, r *scanner.Report) error {
	switch o.format {
	case "json":
		return scanner.WriteJSON(w, r)
	case "sarif":
		return scanner.WriteSARIF(w, r, versionString())
	case "markdown":
		return scanner.WriteMarkdown(w, r)
	}
	if o.quiet {
		return scanner.WriteFindings(w, r)
	}
	if r.Keys != nil {
		return scanner.WriteAuditText(w, r, o.color)
	}
	return scanner.WriteText(w, r)
}
