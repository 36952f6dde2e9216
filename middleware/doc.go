// Package middleware is aupguard's request pipeline: one gin handler per
// step, each in its own file, numbered in chain order (chain.go lists the
// order with why each step sits where it does, and builds the chain that
// internal/server mounts).
//
// The package is internal to aupguard, not a public API: it exposes the
// gateway's internal types (policy.Decision, store.Report, wire.Request,
// proxy.Proxy, ...) and may change with them in any release. It sits
// at the top of the tree, where docs/middleware.md and the architecture
// point a reader first, but no compatibility is promised.
//
// Steps share one *State per request (see StateOf). The interfaces they
// need are in deps.go, small enough for a fake in tests; every report is
// built by report.go.
package middleware
