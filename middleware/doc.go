// Package middleware is aupguard's public gin API: one handler per step of
// the request pipeline (request id, recovery, access log, metrics, app
// authentication, path guard, bounded body, end-user identity, model
// allow-list, standing, rate limit, inspection and policy, forwarding).
// Each works on its own in an operator's gin app; internal/server chains
// them in the documented order.
//
// Steps share one *State per request (see StateOf). They depend on small
// interfaces declared here (Enforcer, Policy, Pseudonymizer, Digester) so
// any implementation, or a fake in tests, can be plugged in.
package middleware
