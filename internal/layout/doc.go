// Package layout holds no code: its tests check the repository's shape
// (what docs/architecture.md promises about it) from the module root.
package layout
