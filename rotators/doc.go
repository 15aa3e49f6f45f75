// Package rotators replaces one Perplexity key by another everywhere it
// lives: plan, apply, verify, report, with a journal that makes a run safe
// to re-run after a crash and possible to roll back (DESIGN.md §5).
//
// The engine knows nothing about files or stores. It works on Locations,
// found by Locators:
//
//   - a Locator finds every Location holding the old or the new key (the
//     files of a working tree, the secrets of a store);
//   - a Location reads its content's State (copies of each key and a
//     content hash) and Writes a change with compare-and-set semantics, so a
//     place that changed since it was planned fails instead of being
//     clobbered;
//   - extra abilities are small optional interfaces found by type
//     assertion: Verifier (write-only stores verify by metadata), Reverter
//     (versioned stores restore a version on rollback), Preparer and Flusher
//     (a Locator's work before the first write and after the last one), and
//     Resolver (turn a journal address back into a Location for rollback).
//
// Files live in the filerot sub-package; the byte-level search and
// replace that files and stores share lives in rewrite.
//
// The journal records addresses and content hashes only, never a key, in
// the user's state directory ($XDG_STATE_HOME/rekey, else
// ~/.local/state/rekey), files 0600 in a 0700 directory.
package rotators
