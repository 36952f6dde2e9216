package desk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// Reasons the desk adds to wire's for answers the proxy never gives.
const (
	reasonForbidden  = "forbidden"
	reasonNotFound   = "not_found"
	reasonAmbiguous  = "ambiguous_user"
	reasonNotEnabled = "not_enabled"
)

const ctxPrincipal = "aupguard.desk.principal"

// apiError answers in OpenRouter's error shape, like every refusal of the
// gateway: {"error":{"code":S,"message":M,"metadata":{"reason":R,"provider_name":"aupguard",...}}}.
func apiError(c *gin.Context, status int, reason, msg string, meta map[string]any) {
	md := map[string]any{}
	for k, v := range meta {
		md[k] = v
	}
	md["reason"] = reason
	md["provider_name"] = wire.ProviderName
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, deskapi.Error{Error: deskapi.ErrorBody{Code: status, Message: msg, Metadata: md}})
}

func badRequest(c *gin.Context, msg string) {
	apiError(c, http.StatusBadRequest, string(wire.ReasonInvalidRequest), msg, nil)
}

// storeError maps a store error to an answer; the details go to the log,
// not to the caller.
func (d *Desk) storeError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, store.ErrBadCursor):
		badRequest(c, "bad cursor: use next_cursor from the previous page")
	case errors.Is(err, store.ErrInvalid):
		badRequest(c, strings.TrimPrefix(err.Error(), "store: invalid argument: "))
	case errors.Is(err, store.ErrNotFound):
		apiError(c, http.StatusNotFound, reasonNotFound, strings.TrimPrefix(err.Error(), "store: not found: "), nil)
	case errors.Is(err, context.Canceled):
		c.Abort()
	default:
		d.log.Error("desk: store", "path", c.FullPath(), "err", err)
		apiError(c, http.StatusServiceUnavailable, string(wire.ReasonStoreUnavailable), "the store is unavailable; try again", nil)
	}
}

func (d *Desk) registerAPI(r gin.IRouter) {
	g := r.Group("/admin/v1")
	g.Use(d.apiHeaders, d.bearer)
	g.GET("/queue", d.need(permRead), d.apiQueue)
	g.GET("/users", d.need(permRead), d.apiFindUser)
	g.GET("/users/*rest", d.need(permRead), d.apiUser)
	g.POST("/users/*rest", d.need(permAct), d.apiAction)
	g.GET("/reports", d.need(permRead), d.apiReports)
	g.GET("/apps/:app/reports", d.need(permRead), d.apiAppReports)
	g.GET("/decisions/:id", d.need(permRead), d.apiDecision)
	g.GET("/audit", d.need(permRead), d.apiAudit)
	g.GET("/export", d.need(permExport), d.apiExport)
	d.registerComplianceAPI(g)
}

func (d *Desk) apiHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// bearer authenticates "Authorization: Bearer TOKEN". The API takes no
// cookies: a browser can never be tricked into calling it.
func (d *Desk) bearer(c *gin.Context) {
	if secs, locked := d.throttled(c); locked {
		apiError(c, http.StatusTooManyRequests, string(wire.ReasonAuthThrottled),
			"too many failed authentications from this address; retry in "+strconv.Itoa(secs)+"s", map[string]any{"retry_after": secs})
		return
	}
	auth := c.GetHeader("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	var p *principal
	if strings.EqualFold(scheme, "Bearer") {
		p = d.authenticate(strings.TrimSpace(tok))
	}
	if p == nil {
		d.failed(c, areaAdminToken)
		c.Header("WWW-Authenticate", `Bearer realm="aupguard admin"`)
		msg := "missing admin token: send Authorization: Bearer TOKEN"
		if auth != "" {
			msg = "invalid admin token"
		}
		apiError(c, http.StatusUnauthorized, string(wire.ReasonUnauthorized), msg, nil)
		return
	}
	c.Set(ctxPrincipal, p)
}

func principalOf(c *gin.Context) *principal {
	p, _ := c.Get(ctxPrincipal)
	pp, _ := p.(*principal)
	return pp
}

// need refuses callers whose role lacks x.
func (d *Desk) need(x perm) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principalOf(c)
		if !p.Can(x) {
			what := map[perm]string{permRead: "read", permAct: "act on users", permExport: "export evidence"}[x]
			apiError(c, http.StatusForbidden, reasonForbidden, fmt.Sprintf("role %s may not %s", p.Role, what), map[string]any{"role": p.Role})
		}
	}
}

// userPath splits the path below prefix into the (unescaped) user id and
// what follows it. It reads the escaped path so an id holding "/" (sent
// as %2F) stays one id.
func userPath(r *http.Request, prefix string) (user, rest string, ok bool) {
	p, found := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !found || p == "" {
		return "", "", false
	}
	seg, rest, _ := strings.Cut(p, "/")
	u, err := url.PathUnescape(seg)
	if err != nil || u == "" {
		return "", "", false
	}
	return u, rest, true
}

func atoiLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("limit %q is not a positive number", s)
	}
	return n, nil
}

// queueQuery reads the queue filters shared by the API and the page.
func queueQuery(q url.Values) (store.QueueQuery, float64, error) {
	qq := store.QueueQuery{Category: q.Get("category"), App: q.Get("app"), Cursor: q.Get("cursor")}
	if s := q.Get("status"); s != "" {
		qq.Status = store.Status(s)
		if !qq.Status.Valid() {
			return qq, 0, fmt.Errorf("status %q is not active, warned, suspended or banned", s)
		}
	}
	var err error
	if qq.Limit, err = atoiLimit(q.Get("limit")); err != nil {
		return qq, 0, err
	}
	var minRisk float64
	if s := q.Get("risk"); s != "" {
		if minRisk, err = strconv.ParseFloat(s, 64); err != nil || minRisk < 0 {
			return qq, 0, fmt.Errorf("risk %q is not a number >= 0 (the lowest risk to list)", s)
		}
	}
	return qq, minRisk, nil
}

// queue lists a page of the queue. The store lists riskiest first, so a
// minimum risk ends the listing at the first item below it.
func (d *Desk) queue(ctx context.Context, qq store.QueueQuery, minRisk float64) (store.Page[store.QueueItem], error) {
	page, err := d.opt.Store.Queue(ctx, qq)
	if err != nil || minRisk <= 0 {
		return page, err
	}
	for i, it := range page.Items {
		if it.Risk < minRisk {
			page.Items, page.Next = page.Items[:i], ""
			break
		}
	}
	return page, nil
}

func (d *Desk) apiQueue(c *gin.Context) {
	qq, minRisk, err := queueQuery(c.Request.URL.Query())
	if err != nil {
		badRequest(c, err.Error())
		return
	}
	page, err := d.queue(c.Request.Context(), qq, minRisk)
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// apiFindUser is GET users?pseudonym=P: who is behind a pseudonym named in
// an abuse notice from OpenRouter. GET users?user=U lists the apps that
// know an id.
func (d *Desk) apiFindUser(c *gin.Context) {
	ctx := c.Request.Context()
	if ps := c.Query("pseudonym"); ps != "" {
		app, user, ok, err := d.opt.Store.FindPseudonym(ctx, ps)
		if err != nil {
			d.storeError(c, err)
			return
		}
		if !ok {
			apiError(c, http.StatusNotFound, reasonNotFound, "no report names this pseudonym", nil)
			return
		}
		c.JSON(http.StatusOK, deskapi.PseudonymOwner{App: app, Pseudonym: ps, User: user})
		return
	}
	if u := c.Query("user"); u != "" {
		apps, err := d.opt.Store.Apps(ctx, u)
		if err != nil {
			d.storeError(c, err)
			return
		}
		if apps == nil {
			apps = []string{}
		}
		c.JSON(http.StatusOK, deskapi.UserApps{Apps: apps, User: u})
		return
	}
	badRequest(c, "give ?pseudonym=P (or ?user=U to list the apps that know an id)")
}

// toAPIAction is a as the API shows it.
func toAPIAction(a store.Action) deskapi.Action {
	return deskapi.Action{ID: a.ID, Time: a.Time, Actor: a.Actor, App: a.App, User: a.User, Action: a.Action,
		Duration: fmtDuration(a.Duration), Reason: a.Reason, ReportIDs: a.ReportIDs, Categories: a.Categories, Before: a.Before, After: a.After, Until: a.Until,
		Hold: a.Hold, Subject: a.Subject, Counts: a.Counts}
}

// loadCase resolves the app and reads the case. It answers 404 for an id
// no app knows and 409 (listing the apps) for one several apps know.
func (d *Desk) loadCase(ctx context.Context, app, user string) (deskapi.Case, int, []string, error) {
	var cv deskapi.Case
	app, apps, err := d.resolveApp(ctx, app, user)
	if err != nil {
		return cv, 0, nil, err
	}
	if app == "" && len(apps) == 0 {
		return cv, http.StatusNotFound, nil, nil
	}
	if app == "" {
		return cv, http.StatusConflict, apps, nil
	}
	cs, err := d.opt.Store.User(ctx, app, user)
	if err != nil {
		return cv, 0, nil, err
	}
	if len(cs.Reports) == 0 && len(cs.Actions) == 0 && cs.Standing.Version == 0 && !cs.Standing.Sanctioned() {
		return cv, http.StatusNotFound, nil, nil
	}
	cv = deskapi.Case{App: cs.App, User: cs.User, Standing: cs.Standing, Reports: d.scrub(cs.Reports),
		Actions: []deskapi.Action{}, Notes: []deskapi.Action{}, Categories: cs.Categories, Pseudonyms: cs.Pseudonyms}
	if cv.Pseudonyms == nil {
		cv.Pseudonyms = []string{}
	}
	for _, a := range cs.Actions {
		if a.Action == store.ActNote {
			cv.Notes = append(cv.Notes, toAPIAction(a))
		} else {
			cv.Actions = append(cv.Actions, toAPIAction(a))
		}
	}
	return cv, http.StatusOK, nil, nil
}

func (d *Desk) apiUser(c *gin.Context) {
	user, rest, ok := userPath(c.Request, "/admin/v1/users/")
	if !ok || rest != "" {
		apiError(c, http.StatusNotFound, reasonNotFound, "no such route: GET /admin/v1/users/{user}", nil)
		return
	}
	cv, status, apps, err := d.loadCase(c.Request.Context(), c.Query("app"), user)
	switch {
	case err != nil:
		d.storeError(c, err)
	case status == http.StatusNotFound:
		apiError(c, status, reasonNotFound, "no record of this user"+inApp(c.Query("app")), nil)
	case status == http.StatusConflict:
		apiError(c, status, reasonAmbiguous, "several apps know this user id; add ?app=NAME", map[string]any{"apps": apps})
	default:
		c.JSON(http.StatusOK, cv)
	}
}

func inApp(app string) string {
	if app == "" {
		return ""
	}
	return " in app " + strconv.Quote(app)
}

const maxReason = 4000

// validAction checks an action request and builds the store action. The
// page's form goes through the same checks.
func validAction(req deskapi.ActionRequest) (store.Action, error) {
	a := store.Action{Action: strings.TrimSpace(req.Action), Reason: strings.TrimSpace(req.Reason)}
	switch a.Action {
	case store.ActWarn, store.ActSuspend, store.ActBan, store.ActReinstate, store.ActDismiss, store.ActNote:
	case "":
		return a, errors.New("action is required: warn, suspend, ban, reinstate, dismiss or note")
	default:
		return a, fmt.Errorf("action %q is not warn, suspend, ban, reinstate, dismiss or note", req.Action)
	}
	if a.Reason == "" {
		return a, errors.New("reason is required: say why, for the audit log")
	}
	if len(a.Reason) > maxReason {
		return a, fmt.Errorf("reason is longer than %d bytes", maxReason)
	}
	dur := strings.TrimSpace(req.Duration)
	switch {
	case a.Action == store.ActSuspend && dur == "":
		return a, errors.New("suspend needs a duration (e.g. 24h or 7d)")
	case a.Action == store.ActSuspend:
		d, err := parseDuration(dur)
		if err != nil {
			return a, err
		}
		if d <= 0 {
			return a, fmt.Errorf("duration %q must be positive", dur)
		}
		a.Duration = d
	case dur != "":
		return a, fmt.Errorf("duration applies only to suspend, not %s", a.Action)
	}
	if len(req.ReportIDs) > 1000 {
		return a, errors.New("at most 1000 report_ids per action")
	}
	for _, id := range req.ReportIDs {
		if id = strings.TrimSpace(id); id != "" {
			a.ReportIDs = append(a.ReportIDs, id)
		}
	}
	return a, nil
}

// applyAction is shared by the API and the page: it fills in who, when
// and which user, and applies the action.
func (d *Desk) applyAction(ctx context.Context, p *principal, app, user string, a store.Action) (store.Action, store.Standing, error) {
	if user == store.OperatorUser && a.Action != store.ActDismiss && a.Action != store.ActNote {
		// The app's own record: no one makes requests as it, so a sanction
		// would only look like one.
		return a, store.Standing{}, fmt.Errorf("%w: the app's own record (%s) can only be dismissed or noted; take %s up with the app's operator", store.ErrInvalid, store.OperatorUser, a.Action)
	}
	a.ID = store.NewID(d.now())
	a.Time = d.now().UTC()
	a.Actor, a.App, a.User = p.Name, app, user
	st, err := d.act(ctx, a)
	if err != nil {
		return a, st, err
	}
	d.log.Info("desk: action", "actor", a.Actor, "action", a.Action, "app", app, "action_id", a.ID, "status", st.Status)
	// The Actor answers with the standing only; the audit log has the
	// action as recorded (time, before → after, the reports it covered).
	a.After, a.Until = st.Status, st.Until
	if page, err := d.opt.Store.Audit(ctx, store.AuditQuery{App: app, User: user, Limit: 20}); err == nil {
		for _, x := range page.Items {
			if x.ID == a.ID {
				a = x
				break
			}
		}
	}
	if d.opt.Compliance != nil {
		// A suspension or ban gets its statement of reasons (DSA Art. 17).
		if err := d.opt.Compliance.Restricted(ctx, a); err != nil {
			d.log.Error("desk: statement of reasons not kept", "action_id", a.ID, "err", err)
		}
	}
	return a, st, nil
}

func (d *Desk) apiAction(c *gin.Context) {
	user, rest, ok := userPath(c.Request, "/admin/v1/users/")
	if !ok || rest != "actions" {
		apiError(c, http.StatusNotFound, reasonNotFound, "no such route: POST /admin/v1/users/{user}/actions", nil)
		return
	}
	body, err := readBody(c, d.opt.MaxBodyBytes)
	if err != nil {
		return
	}
	var req deskapi.ActionRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badRequest(c, "body must be JSON {\"action\",\"duration\",\"reason\",\"report_ids\"}: "+err.Error())
		return
	}
	a, err := validAction(req)
	if err != nil {
		badRequest(c, err.Error())
		return
	}
	app := c.Query("app")
	if req.App != "" {
		if app != "" && app != req.App {
			badRequest(c, "?app= and the body's app differ")
			return
		}
		app = req.App
	}
	ctx := c.Request.Context()
	app, apps, err := d.resolveApp(ctx, app, user)
	if err != nil {
		d.storeError(c, err)
		return
	}
	if app == "" && len(apps) == 0 {
		msg, meta := d.unknownUser()
		apiError(c, http.StatusNotFound, reasonNotFound, msg, meta)
		return
	}
	if app == "" {
		apiError(c, http.StatusConflict, reasonAmbiguous, "several apps know this user id; add ?app=NAME", map[string]any{"apps": apps})
		return
	}
	a, st, err := d.applyAction(ctx, principalOf(c), app, user, a)
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, deskapi.ActionResult{Action: toAPIAction(a), Standing: st})
}

// readBody reads at most limit bytes; a larger body answers 413.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		apiError(c, http.StatusRequestEntityTooLarge, string(wire.ReasonPayloadTooLarge), fmt.Sprintf("body larger than %d bytes", limit), nil)
		return nil, err
	}
	if err != nil {
		badRequest(c, "reading the body: "+err.Error())
		return nil, err
	}
	return buf.Bytes(), nil
}

// reportWindow reads since, until and limit into q; false: refused (400).
func (d *Desk) reportWindow(c *gin.Context, q *store.ReportQuery) bool {
	now := d.now()
	var err error
	if q.Since, err = parseTime(c.Query("since"), now); err != nil {
		badRequest(c, "since: "+err.Error())
		return false
	}
	if q.Until, err = parseTime(c.Query("until"), now); err != nil {
		badRequest(c, "until: "+err.Error())
		return false
	}
	if q.Limit, err = atoiLimit(c.Query("limit")); err != nil {
		badRequest(c, err.Error())
		return false
	}
	return true
}

func (d *Desk) apiReports(c *gin.Context) {
	q := store.ReportQuery{App: c.Query("app"), User: c.Query("user"), Category: c.Query("category"), Cursor: c.Query("cursor")}
	if !d.reportWindow(c, &q) {
		return
	}
	if q.User != "" && q.App == "" {
		app, apps, err := d.resolveApp(c.Request.Context(), "", q.User)
		if err != nil {
			d.storeError(c, err)
			return
		}
		if app == "" && len(apps) == 0 {
			c.JSON(http.StatusOK, store.Page[store.Report]{Items: []store.Report{}})
			return
		}
		if app == "" {
			apiError(c, http.StatusConflict, reasonAmbiguous, "several apps know this user id; add app=NAME", map[string]any{"apps": apps})
			return
		}
		q.App = app
	}
	page, err := d.opt.Store.Reports(c.Request.Context(), q)
	if err != nil {
		d.storeError(c, err)
		return
	}
	page.Items = d.scrub(page.Items)
	c.JSON(http.StatusOK, page)
}

// apiAppReports is GET apps/{app}/reports: the violations found in the
// app's own text (system and developer prompts), recorded under the
// reserved user store.OperatorUser, newest first.
func (d *Desk) apiAppReports(c *gin.Context) {
	q := store.ReportQuery{App: c.Param("app"), User: store.OperatorUser, Category: c.Query("category"), Cursor: c.Query("cursor")}
	if !d.reportWindow(c, &q) {
		return
	}
	page, err := d.opt.Store.Reports(c.Request.Context(), q)
	if err != nil {
		d.storeError(c, err)
		return
	}
	page.Items = d.scrub(page.Items)
	c.JSON(http.StatusOK, page)
}

func (d *Desk) apiAudit(c *gin.Context) {
	q := store.AuditQuery{App: c.Query("app"), User: c.Query("user"), Cursor: c.Query("cursor")}
	var err error
	if q.Limit, err = atoiLimit(c.Query("limit")); err != nil {
		badRequest(c, err.Error())
		return
	}
	if q.User != "" && q.App == "" {
		badRequest(c, "a user filter needs app=NAME")
		return
	}
	page, err := d.opt.Store.Audit(c.Request.Context(), q)
	if err != nil {
		d.storeError(c, err)
		return
	}
	out := store.Page[deskapi.Action]{Items: make([]deskapi.Action, 0, len(page.Items)), Next: page.Next}
	for _, a := range page.Items {
		out.Items = append(out.Items, toAPIAction(a))
	}
	c.JSON(http.StatusOK, out)
}

func exportFilter(q url.Values, now time.Time) (ExportFilter, error) {
	var f ExportFilter
	var err error
	if f.Since, err = parseTime(q.Get("since"), now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = parseTime(q.Get("until"), now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, errors.New("since must be before until")
	}
	f.App, f.User, f.Category = q.Get("app"), q.Get("user"), q.Get("category")
	return f, nil
}

func (d *Desk) apiExport(c *gin.Context) {
	d.export(c, func(status int, reason, msg string) { apiError(c, status, reason, msg, nil) })
}

// export streams a bundle; fail answers errors that happen before the
// first byte (after it, a broken bundle fails verification).
func (d *Desk) export(c *gin.Context, fail func(status int, reason, msg string)) {
	if d.opt.Exporter == nil {
		fail(http.StatusNotImplemented, reasonNotEnabled, "evidence export is not configured on this gateway")
		return
	}
	now := d.now()
	f, err := exportFilter(c.Request.URL.Query(), now)
	if err != nil {
		fail(http.StatusBadRequest, string(wire.ReasonInvalidRequest), err.Error())
		return
	}
	name := "aupguard-evidence-" + now.UTC().Format("20060102T150405Z") + ".tar.gz"
	lw := &lazyWriter{w: c.Writer, start: func(h http.Header) {
		h.Set("Content-Type", "application/gzip")
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("Cache-Control", "no-store")
	}}
	err = d.opt.Exporter.Export(c.Request.Context(), lw, f)
	if err != nil {
		d.log.Error("desk: export", "actor", principalOf(c).Name, "err", err, "started", lw.started)
		if !lw.started {
			fail(http.StatusServiceUnavailable, string(wire.ReasonStoreUnavailable), "export failed; see the gateway's log")
		}
		c.Abort()
		return
	}
	if !lw.started { // an empty bundle is still a bundle's headers
		lw.Write(nil)
	}
	d.log.Info("desk: export", "actor", principalOf(c).Name, "since", f.Since, "until", f.Until, "category", f.Category)
}

// lazyWriter sends the bundle's headers with its first byte, so an export
// that fails before writing can still answer with an error.
type lazyWriter struct {
	w       gin.ResponseWriter
	start   func(http.Header)
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start(l.w.Header())
		l.w.WriteHeader(http.StatusOK)
		l.w.WriteHeaderNow()
	}
	return l.w.Write(p)
}
