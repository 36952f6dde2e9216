package desk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

// The compliance routes: the appeals queue and its decisions, abuse
// notices (docs/compliance.md). Auditors read them; reviewers and admins
// decide appeals and take notices in.

func (d *Desk) registerComplianceAPI(g gin.IRouter) {
	g.GET("/appeals", d.need(permRead), d.apiAppeals)
	g.GET("/appeals/:id", d.need(permRead), d.apiAppeal)
	g.POST("/appeals/:id/decision", d.need(permAct), d.apiDecideAppeal)
	g.GET("/notices", d.need(permRead), d.apiNotices)
	g.GET("/notices/:id", d.need(permRead), d.apiNotice)
	g.POST("/notices", d.need(permAct), d.apiTakeNotice)
}

// complianceOff answers 501 when the gateway has no compliance service.
func (d *Desk) complianceOff(c *gin.Context) bool {
	if d.opt.Compliance == nil {
		apiError(c, http.StatusNotImplemented, reasonNotEnabled, "appeals and notices are not configured on this gateway", nil)
		return true
	}
	return false
}

// reviewers counts the tokens that may decide: with more than one, the
// reviewer who took a contested action may not decide its appeal.
func (d *Desk) reviewers() int {
	n := 0
	for _, t := range d.opt.Tokens {
		if can(t.Role, permAct) {
			n++
		}
	}
	return n
}

func (d *Desk) appealItem(a store.Appeal) deskapi.AppealItem {
	now := d.now()
	end := now
	if a.Status != store.AppealOpen {
		end = a.DecidedAt
	}
	return deskapi.AppealItem{Appeal: a, AgeSeconds: int64(end.Sub(a.Filed).Seconds()),
		Overdue: a.Status == store.AppealOpen && now.After(a.Deadline)}
}

func (d *Desk) appealsPage(ctx context.Context, q store.AppealQuery) (store.Page[deskapi.AppealItem], error) {
	pg, err := d.opt.Store.Appeals(ctx, q)
	out := store.Page[deskapi.AppealItem]{Items: []deskapi.AppealItem{}, Next: pg.Next}
	for _, a := range pg.Items {
		out.Items = append(out.Items, d.appealItem(a))
	}
	return out, err
}

func (d *Desk) apiAppeals(c *gin.Context) {
	q := store.AppealQuery{Status: c.Query("status"), App: c.Query("app"), Cursor: c.Query("cursor")}
	switch q.Status {
	case "", store.AppealOpen, store.AppealUpheld, store.AppealReversed:
	default:
		badRequest(c, "status "+q.Status+" is not open, upheld or reversed")
		return
	}
	var err error
	if q.Limit, err = atoiLimit(c.Query("limit")); err != nil {
		badRequest(c, err.Error())
		return
	}
	pg, err := d.appealsPage(c.Request.Context(), q)
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, pg)
}

func (d *Desk) apiAppeal(c *gin.Context) {
	ctx := c.Request.Context()
	a, err := d.opt.Store.Appeal(ctx, c.Param("id"))
	if err != nil {
		d.storeError(c, err)
		return
	}
	out := deskapi.AppealCase{Appeal: d.appealItem(a)}
	if st, err := d.opt.Store.Statement(ctx, a.StatementID); err == nil {
		out.Statement = &st
	}
	c.JSON(http.StatusOK, out)
}

// decide is shared by the API and the page.
func (d *Desk) decide(ctx context.Context, p *principal, id string, req deskapi.AppealDecisionRequest) (store.Appeal, error) {
	a, err := d.opt.Compliance.Decide(ctx, id, p.Name, d.reviewers(), strings.TrimSpace(req.Outcome), req.Reason)
	if err == nil {
		d.log.Info("desk: appeal decided", "actor", p.Name, "appeal_id", id, "outcome", a.Status)
	}
	return a, err
}

// complianceError maps the service's errors; the rest are the store's.
func (d *Desk) complianceError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, compliance.ErrSameReviewer):
		apiError(c, http.StatusForbidden, "same_reviewer", strings.TrimPrefix(err.Error(), "compliance: same reviewer: "), nil)
	case errors.Is(err, store.ErrConflict):
		apiError(c, http.StatusConflict, "already_decided", strings.TrimPrefix(err.Error(), "store: conflict: "), nil)
	case errors.Is(err, compliance.ErrTooLarge):
		apiError(c, http.StatusRequestEntityTooLarge, "payload_too_large", strings.TrimPrefix(err.Error(), "compliance: too large: "), nil)
	default:
		d.storeError(c, err)
	}
}

func (d *Desk) apiDecideAppeal(c *gin.Context) {
	if d.complianceOff(c) {
		return
	}
	var req deskapi.AppealDecisionRequest
	if !d.decodeStrict(c, &req, `{"outcome":"upheld"|"reversed","reason"}`) {
		return
	}
	a, err := d.decide(c.Request.Context(), principalOf(c), c.Param("id"), req)
	if err != nil {
		d.complianceError(c, err)
		return
	}
	c.JSON(http.StatusOK, d.appealItem(a))
}

func (d *Desk) decodeStrict(c *gin.Context, v any, shape string) bool {
	body, err := readBody(c, d.opt.MaxBodyBytes)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(c, "body must be JSON "+shape+": "+err.Error())
		return false
	}
	return true
}

func (d *Desk) noticeItem(ctx context.Context, n store.Notice) deskapi.NoticeItem {
	it := deskapi.NoticeItem{Notice: n}
	if d.opt.Compliance == nil {
		return it
	}
	if at, ok, err := d.opt.Compliance.Handled(ctx, n); err == nil && ok {
		it.Handled, it.HandledAt, it.HandlingSeconds = true, at, int64(at.Sub(n.Received).Seconds())
	}
	return it
}

func (d *Desk) noticesPage(ctx context.Context, q store.NoticeQuery) (store.Page[deskapi.NoticeItem], error) {
	pg, err := d.opt.Store.Notices(ctx, q)
	out := store.Page[deskapi.NoticeItem]{Items: []deskapi.NoticeItem{}, Next: pg.Next}
	for _, n := range pg.Items {
		out.Items = append(out.Items, d.noticeItem(ctx, n))
	}
	return out, err
}

func (d *Desk) apiNotices(c *gin.Context) {
	q := store.NoticeQuery{App: c.Query("app"), Cursor: c.Query("cursor")}
	var err error
	if q.Limit, err = atoiLimit(c.Query("limit")); err != nil {
		badRequest(c, err.Error())
		return
	}
	pg, err := d.noticesPage(c.Request.Context(), q)
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, pg)
}

func (d *Desk) apiNotice(c *gin.Context) {
	n, err := d.opt.Store.Notice(c.Request.Context(), c.Param("id"))
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, d.noticeItem(c.Request.Context(), n))
}

// takeNotice is shared by the API and the page: a third party's notice
// names an end user, whose app is resolved like an action's.
func (d *Desk) takeNotice(ctx context.Context, p *principal, req deskapi.NoticeRequest) (store.Notice, int, []string, error) {
	nr := compliance.NoticeRequest{Source: strings.TrimSpace(req.Source), Pseudonym: req.Pseudonym, App: req.App, User: strings.TrimSpace(req.EndUser),
		Category: req.Category, Reference: req.Reference, Description: req.Description, Notifier: req.Notifier}
	if nr.Source == store.NoticeThirdParty && nr.User != "" {
		app, apps, err := d.resolveApp(ctx, strings.TrimSpace(nr.App), nr.User)
		if err != nil {
			return store.Notice{}, 0, nil, err
		}
		if app == "" && len(apps) == 0 {
			return store.Notice{}, http.StatusNotFound, nil, nil
		}
		if app == "" {
			return store.Notice{}, http.StatusConflict, apps, nil
		}
		nr.App = app
	}
	n, err := d.opt.Compliance.TakeNotice(ctx, nr, p.Name)
	return n, 0, nil, err
}

func (d *Desk) apiTakeNotice(c *gin.Context) {
	if d.complianceOff(c) {
		return
	}
	var req deskapi.NoticeRequest
	if !d.decodeStrict(c, &req, `{"source":"openrouter"|"third_party","pseudonym","end_user","app","category","reference","description","notifier"}`) {
		return
	}
	n, status, apps, err := d.takeNotice(c.Request.Context(), principalOf(c), req)
	switch {
	case err != nil:
		d.complianceError(c, err)
	case status == http.StatusNotFound:
		msg, meta := d.unknownUser()
		apiError(c, status, reasonNotFound, msg, meta)
	case status == http.StatusConflict:
		apiError(c, status, reasonAmbiguous, "several apps know this user id; name the app", map[string]any{"apps": apps})
	default:
		c.JSON(http.StatusCreated, deskapi.NoticeAck{NoticeID: n.ID, App: n.App, User: n.User, ReportID: n.ReportID, Received: n.Received})
	}
}
