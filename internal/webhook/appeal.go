package webhook

import (
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// TypeAppealFiled is sent when an end user files an appeal: the desk has
// until its deadline to decide it.
const TypeAppealFiled = "appeal.filed"

// EventAppeal is the appeal behind an appeal.filed event: ids, kind and
// deadline, never the appeal's text.
type EventAppeal struct {
	ID          string    `json:"id"`
	StatementID string    `json:"statement_id"`
	Kind        string    `json:"kind"` // the contested restriction: refusal | suspension | ban
	Deadline    time.Time `json:"deadline"`
}

// AppealFiled announces appeal a of the user with pseudonym.
func (n *Notifier) AppealFiled(a store.Appeal, pseudonym string) {
	if n == nil || len(n.targets) == 0 {
		return
	}
	n.Notify(Event{
		Type: TypeAppealFiled, App: a.App, Pseudonym: pseudonym, Categories: a.Categories,
		Appeal: &EventAppeal{ID: a.ID, StatementID: a.StatementID, Kind: a.Kind, Deadline: a.Deadline},
	})
}
