// Package evidence writes, signs and verifies aupguard evidence bundles: one
// .tar.gz holding the abuse reports and reviewer actions of a period as
// hash-chained JSON lines, every policy version their reports cite, a human-readable
// summary and a manifest signed with Ed25519. docs/evidence.md describes the
// format for people who verify bundles without aupguard.
//
// Export spools each chain to a temporary file while hashing it, so memory
// stays flat however many records the period holds, and reads the Source to
// the end before it writes the first byte: a store error is still an error,
// never half a bundle. Verify reads a bundle in one streaming pass and names
// the first thing that does not hold.
package evidence
