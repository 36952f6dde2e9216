package store

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// The subprocessor register: per app and UTC day, which upstream providers
// and models served how many requests, and whether under ZDR routing. It
// holds no content and no end-user id, only names the upstream sent back
// in its responses' provider and model fields.

// ProviderCount is one cell of the register.
type ProviderCount struct {
	Day      string `json:"day"` // UTC date, 2006-01-02
	App      string `json:"app"`
	Provider string `json:"provider"` // the response's provider field; "unknown" when it had none
	Model    string `json:"model"`
	ZDR      bool   `json:"zdr"` // forwarded with provider.zdr and data_collection "deny"
	Requests int64  `json:"requests"`
}

// ProviderQuery selects days From through To (UTC dates, both included)
// and, when App is set, one app's cells.
type ProviderQuery struct {
	From, To string
	App      string
}

// MaxRegisterDays bounds one ProviderCounts query (ten years of days).
const MaxRegisterDays = 3660

// MaxRegisterName bounds the provider and model names kept; longer ones
// are cut by the recorder.
const MaxRegisterName = 128

// Day is t's UTC date as the register keys it.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// RegisterDays lists the days q covers, oldest first, after checking q.
func RegisterDays(q ProviderQuery) ([]string, error) {
	from, err1 := time.Parse(time.DateOnly, q.From)
	to, err2 := time.Parse(time.DateOnly, q.To)
	switch {
	case err1 != nil || err2 != nil:
		return nil, fmt.Errorf("%w: register days must be dates like 2026-03-01 (from %q, to %q)", ErrInvalid, q.From, q.To)
	case to.Before(from):
		return nil, fmt.Errorf("%w: register from %s is after to %s", ErrInvalid, q.From, q.To)
	case to.Sub(from) >= MaxRegisterDays*24*time.Hour:
		return nil, fmt.Errorf("%w: at most %d days of the register at once", ErrInvalid, MaxRegisterDays)
	}
	var days []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(time.DateOnly))
	}
	return days, nil
}

// CheckProviderCount refuses a cell a store must not keep.
func CheckProviderCount(c ProviderCount) error {
	if _, err := time.Parse(time.DateOnly, c.Day); err != nil {
		return fmt.Errorf("%w: register day %q is not a date", ErrInvalid, c.Day)
	}
	if c.App == "" || c.Provider == "" || c.Requests <= 0 {
		return fmt.Errorf("%w: a register cell needs an app, a provider and a positive count", ErrInvalid)
	}
	if len(c.Provider) > MaxRegisterName || len(c.Model) > MaxRegisterName {
		return fmt.Errorf("%w: register names are at most %d bytes", ErrInvalid, MaxRegisterName)
	}
	return nil
}

// ProviderCell is the identity of a cell without its count (a map key).
type ProviderCell struct {
	Day, App, Provider, Model string
	ZDR                       bool
}

// Cell is c's identity.
func (c ProviderCount) Cell() ProviderCell {
	return ProviderCell{Day: c.Day, App: c.App, Provider: c.Provider, Model: c.Model, ZDR: c.ZDR}
}

// SortProviderCounts puts cells in ProviderCounts' order.
func SortProviderCounts(cs []ProviderCount) {
	slices.SortFunc(cs, func(a, b ProviderCount) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.App, b.App), cmp.Compare(a.Provider, b.Provider),
			cmp.Compare(a.Model, b.Model), cmpBool(a.ZDR, b.ZDR))
	})
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
