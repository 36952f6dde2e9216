// Package policies holds the bundled AUP policy: Rego, its tests, the
// taxonomy (aup/data.json) and the detectors' word lists (aup/lexicon.json).
// The gateway uses this copy when no policy directory is configured.
package policies

import "embed"

// FS is the bundle; paths are relative to this directory (aup/decision.rego, ...).
//
//go:embed aup
var FS embed.FS
