package store

import (
	"context"
	"time"
)

// ComplianceOn implements the Store interface's compliance block on a
// RecordTable; both stores embed it, so they share one implementation
// and differ only in how they keep records.
type ComplianceOn struct{ T RecordTable }

func (c ComplianceOn) PutStatement(ctx context.Context, s Statement) (bool, error) {
	return PutStatementIn(ctx, c.T, s)
}

func (c ComplianceOn) Statement(ctx context.Context, id string) (Statement, error) {
	return StatementIn(ctx, c.T, id)
}

func (c ComplianceOn) UserStatements(ctx context.Context, app, user string) ([]Statement, error) {
	return UserStatementsIn(ctx, c.T, app, user)
}

func (c ComplianceOn) PutAppeal(ctx context.Context, a Appeal) (bool, error) {
	return PutAppealIn(ctx, c.T, a)
}

func (c ComplianceOn) Appeal(ctx context.Context, id string) (Appeal, error) {
	return AppealIn(ctx, c.T, id)
}

func (c ComplianceOn) Appeals(ctx context.Context, q AppealQuery) (Page[Appeal], error) {
	return AppealsIn(ctx, c.T, q)
}

func (c ComplianceOn) DecideAppeal(ctx context.Context, id string, d AppealDecision) (Appeal, error) {
	return DecideAppealIn(ctx, c.T, id, d)
}

func (c ComplianceOn) PutNotice(ctx context.Context, n Notice) (bool, error) {
	return PutNoticeIn(ctx, c.T, n)
}

func (c ComplianceOn) Notice(ctx context.Context, id string) (Notice, error) {
	return NoticeIn(ctx, c.T, id)
}

func (c ComplianceOn) Notices(ctx context.Context, q NoticeQuery) (Page[Notice], error) {
	return NoticesIn(ctx, c.T, q)
}

func (c ComplianceOn) EachCompliance(ctx context.Context, kind string, since, until time.Time, fn func(ComplianceRecord) error) error {
	return EachComplianceIn(ctx, c.T, kind, since, until, fn)
}

func (c ComplianceOn) EraseCompliance(ctx context.Context, app, user string) (map[string]int, error) {
	return EraseComplianceIn(ctx, c.T, app, user)
}

func (c ComplianceOn) PurgeCompliance(ctx context.Context, before time.Time, keep func(app, user string) bool) (int, error) {
	return PurgeComplianceIn(ctx, c.T, before, keep)
}
