package compliance

import (
	"context"
	"slices"

	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/store"
)

// Bundle files of the compliance records.
const (
	StatementsFile = "statements.jsonl"
	AppealsFile    = "appeals.jsonl"
	NoticesFile    = "notices.jsonl"
)

// ExtraChains are the compliance records as chained files of every
// evidence bundle, filtered like its reports: time, app, user, category.
// Under ZDR an appeal's text is withheld (its length stays): a bundle
// of a ZDR gateway holds nothing an end user wrote.
func (s *Service) ExtraChains() []evidence.ExtraChain {
	chain := func(file, kind string) evidence.ExtraChain {
		return evidence.ExtraChain{File: file, Records: func(ctx context.Context, f evidence.Filter, add func(any) error) error {
			return s.st.EachCompliance(ctx, kind, f.Since, f.Until, func(r store.ComplianceRecord) error {
				switch {
				case r.Statement != nil && match(f, r.Statement.App, r.Statement.User, r.Statement.Categories):
					return add(r.Statement)
				case r.Appeal != nil && match(f, r.Appeal.App, r.Appeal.User, r.Appeal.Categories):
					a := *r.Appeal
					if s.opt.ZDR {
						a.Text = ""
					}
					return add(&a)
				case r.Notice != nil && match(f, r.Notice.App, r.Notice.User, []string{r.Notice.Category}):
					return add(r.Notice)
				}
				return nil
			})
		}}
	}
	return []evidence.ExtraChain{
		chain(StatementsFile, store.KindStatement),
		chain(AppealsFile, store.KindAppeal),
		chain(NoticesFile, store.KindNotice),
	}
}

func match(f evidence.Filter, app, user string, cats []string) bool {
	return (f.App == "" || f.App == app) && (f.User == "" || f.User == user) &&
		(f.Category == "" || slices.Contains(cats, f.Category))
}
