package middleware

import (
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// Aliases of the types in the interfaces above, so code outside this
// module can implement Policy and Enforcer.
type (
	Subject      = policy.Subject
	Decision     = policy.Decision
	Action       = policy.Action
	UserStanding = store.Standing
	Report       = store.Report
	Status       = store.Status
	Reason       = wire.Reason
	// Text is one text of a request with who wrote it (Role, Author, New).
	Text   = wire.Text
	Author = wire.Author
)

// Policy actions and standing statuses.
const (
	ActionAllow  = policy.Allow
	ActionRedact = policy.Redact
	ActionFlag   = policy.Flag
	ActionBlock  = policy.Block

	StatusActive    = store.Active
	StatusWarned    = store.Warned
	StatusSuspended = store.Suspended
	StatusBanned    = store.Banned

	AuthorOperator = wire.AuthorOperator
	AuthorEndUser  = wire.AuthorEndUser
	AuthorModel    = wire.AuthorModel
	AuthorTool     = wire.AuthorTool
)
