package desk

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows nothing but this origin: no inline script or style, no
// framing, forms only to ourselves. The chart is inline SVG markup, which
// needs no exception.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const ctxSession = "aupguard.desk.session"

var pageNames = []string{"login", "queue", "case", "choose", "audit", "overview", "error"}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"risk": func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"join": func(s []string) string { return strings.Join(s, ", ") },
	// counts shows a report's unscanned parts by kind: "image_url 2, file 1".
	"counts": func(m map[string]int) string {
		parts := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, k+" "+strconv.Itoa(m[k]))
		}
		return strings.Join(parts, ", ")
	},
	"dur":   fmtDuration,
	"short": func(s string) string { return s[:min(len(s), 12)] },
	"userURL": func(app, user string) string {
		return "/desk/users/" + url.PathEscape(user) + "?app=" + url.QueryEscape(app)
	},
	"actionURL": func(app, user string) string {
		return "/desk/users/" + url.PathEscape(user) + "/actions?app=" + url.QueryEscape(app)
	},
	// isApp: the reserved user holding the app's own record (violations
	// in its system and developer prompts).
	"isApp":       func(user string) bool { return user == store.OperatorUser },
	"statuses":    func() []string { return []string{"active", "warned", "suspended", "banned"} },
	"actionKinds": func() []string { return []string{"warn", "suspend", "ban", "reinstate", "dismiss", "note"} },
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, err
		}
		pages[n] = t
	}
	return pages, nil
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string
	Me     *principal
	CSRF   string
	ZDR    bool
	Error  string
	Notice string
	Data   any
}

func (d *Desk) registerWeb(r gin.IRouter) {
	g := r.Group("/desk")
	g.Use(d.webHeaders)
	g.GET("", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/desk/") })
	g.GET("/static/*file", d.webStatic)
	g.GET("/login", d.webLoginForm)
	g.POST("/login", d.webLogin)

	in := g.Group("", d.webSession)
	in.GET("/", d.webQueue)
	in.GET("/overview", d.webOverview)
	in.GET("/audit", d.webAudit)
	in.GET("/users/*rest", d.webCase)
	in.GET("/export", d.webExport)
	in.POST("/logout", d.csrf, d.webLogout)
	in.POST("/users/*rest", d.csrf, d.webAction)
	d.registerComplianceWeb(in)
}

func (d *Desk) webHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (d *Desk) render(c *gin.Context, status int, name string, p page) {
	if s, ok := c.Get(ctxSession); ok {
		p.CSRF = d.csrfToken(s.(*session))
	}
	if p.Me == nil {
		p.Me = principalOf(c)
	}
	p.ZDR = d.opt.ZDR
	var buf bytes.Buffer
	if err := d.pages[name].Execute(&buf, p); err != nil {
		d.log.Error("desk: render", "page", name, "err", err)
		c.String(http.StatusInternalServerError, "internal error rendering the page")
		c.Abort()
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (d *Desk) webError(c *gin.Context, status int, msg string) {
	d.render(c, status, "error", page{Title: http.StatusText(status), Error: msg})
	c.Abort()
}

// webSession requires a valid session cookie: GETs without one go to the
// sign-in page, POSTs are refused.
func (d *Desk) webSession(c *gin.Context) {
	s, p := d.readSession(c.Request)
	if s == nil {
		if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			c.Redirect(http.StatusSeeOther, "/desk/login")
			c.Abort()
			return
		}
		d.webError(c, http.StatusForbidden, "Your session has ended. Sign in again.")
		return
	}
	c.Set(ctxSession, s)
	c.Set(ctxPrincipal, p)
}

// csrf guards every state-changing form: same origin (when the browser
// says), and the session's CSRF token in the form's "csrf" field.
func (d *Desk) csrf(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, d.opt.MaxBodyBytes)
	if err := c.Request.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			d.webError(c, http.StatusRequestEntityTooLarge, "The form is too large.")
			return
		}
		d.webError(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	s, _ := c.Get(ctxSession)
	sess, _ := s.(*session)
	if !sameOrigin(c.Request) || !d.csrfOK(sess, c.Request.PostForm.Get("csrf")) {
		d.log.Warn("desk: CSRF check failed", "actor", principalOf(c).Name, "path", c.Request.URL.Path)
		d.webError(c, http.StatusForbidden, "This form has expired or did not come from this page. Reload the page and try again.")
	}
}

func (d *Desk) webStatic(c *gin.Context) {
	name := path.Clean("static/" + strings.TrimPrefix(c.Param("file"), "/"))
	b, err := fs.ReadFile(staticFS, name)
	if err != nil || !strings.HasPrefix(name, "static/") {
		c.Status(http.StatusNotFound)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, ct, b)
}

func (d *Desk) webLoginForm(c *gin.Context) {
	d.render(c, http.StatusOK, "login", page{Title: "Sign in"})
}

func (d *Desk) webLogin(c *gin.Context) {
	if !sameOrigin(c.Request) {
		d.webError(c, http.StatusForbidden, "Sign in from this site's own sign-in page.")
		return
	}
	if secs, locked := d.throttled(c); locked {
		d.render(c, http.StatusTooManyRequests, "login", page{Title: "Sign in",
			Error: fmt.Sprintf("Too many failed sign-ins from your address. Try again in %d seconds.", secs)})
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 8<<10)
	if err := c.Request.ParseForm(); err != nil {
		d.webError(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	p := d.authenticate(strings.TrimSpace(c.Request.PostForm.Get("token")))
	if p == nil {
		d.failed(c, areaSignIn)
		d.log.Warn("desk: sign-in failed", "remote", c.ClientIP())
		d.render(c, http.StatusUnauthorized, "login", page{Title: "Sign in", Error: "That token is not valid."})
		return
	}
	value, _ := d.newSession(d.tokenByName(p.Name))
	d.setCookie(c.Writer, c.Request, value, int(d.opt.SessionTTL/time.Second))
	d.log.Info("desk: signed in", "actor", p.Name, "role", p.Role, "remote", c.ClientIP())
	c.Redirect(http.StatusSeeOther, "/desk/")
}

func (d *Desk) webLogout(c *gin.Context) {
	if s, ok := c.Get(ctxSession); ok {
		if err := d.revoke(c.Request.Context(), s.(*session)); err != nil {
			d.log.Error("desk: sign-out not stored; the session stays valid on other replicas until it expires", "err", err)
			d.setCookie(c.Writer, c.Request, "", -1)
			d.webError(c, http.StatusServiceUnavailable, "You are signed out here, but the store could not record it: other gateways may still accept this session until it expires. Try signing out again.")
			return
		}
	}
	d.setCookie(c.Writer, c.Request, "", -1)
	c.Redirect(http.StatusSeeOther, "/desk/login")
}

type queueData struct {
	Items   []store.QueueItem
	Filter  map[string]string
	NextURL string
}

func (d *Desk) webQueue(c *gin.Context) {
	q := c.Request.URL.Query()
	qq, minRisk, err := queueQuery(q)
	data := queueData{Filter: map[string]string{}}
	for _, k := range []string{"category", "status", "app", "risk"} {
		data.Filter[k] = q.Get(k)
	}
	if err != nil {
		d.render(c, http.StatusBadRequest, "queue", page{Title: "Queue", Nav: "queue", Error: err.Error(), Data: data})
		return
	}
	pg, err := d.queue(c.Request.Context(), qq, minRisk)
	if err != nil {
		d.webStoreError(c, err)
		return
	}
	data.Items = pg.Items
	if pg.Next != "" {
		nq := url.Values{}
		for k, v := range data.Filter {
			if v != "" {
				nq.Set(k, v)
			}
		}
		nq.Set("cursor", pg.Next)
		data.NextURL = "/desk/?" + nq.Encode()
	}
	d.render(c, http.StatusOK, "queue", page{Title: "Queue", Nav: "queue", Data: data})
}

func (d *Desk) webStoreError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, store.ErrBadCursor):
		d.webError(c, http.StatusBadRequest, "That page link is no longer valid; start from the first page.")
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrNotFound):
		d.webError(c, http.StatusBadRequest, err.Error())
	default:
		d.log.Error("desk: store", "path", c.FullPath(), "err", err)
		d.webError(c, http.StatusServiceUnavailable, "The store is unavailable. Try again shortly.")
	}
}

type caseData struct {
	Case   deskapi.Case
	CanAct bool
	Form   deskapi.ActionRequest
	Picked map[string]bool
	Cats   []catCount
}

type catCount struct {
	Name  string
	Count int
}

type chooseData struct {
	User string
	Apps []string
}

// caseFor loads the case for the page, answering 404 and the app chooser
// itself; ok is false when it has answered.
func (d *Desk) caseFor(c *gin.Context, user string) (deskapi.Case, bool) {
	app := c.Query("app")
	cv, status, apps, err := d.loadCase(c.Request.Context(), app, user)
	switch {
	case err != nil:
		d.webStoreError(c, err)
	case status == http.StatusNotFound:
		d.webError(c, http.StatusNotFound, "There is no record of this user"+inApp(app)+".")
	case status == http.StatusConflict:
		d.render(c, http.StatusConflict, "choose", page{Title: "Which app?", Nav: "queue", Data: chooseData{User: user, Apps: apps}})
		c.Abort()
	default:
		return cv, true
	}
	return cv, false
}

func (d *Desk) renderCase(c *gin.Context, status int, cv deskapi.Case, form deskapi.ActionRequest, errMsg, notice string) {
	data := caseData{Case: cv, CanAct: principalOf(c).Can(permAct), Form: form, Picked: map[string]bool{}}
	for _, id := range form.ReportIDs {
		data.Picked[id] = true
	}
	for k, v := range cv.Categories {
		data.Cats = append(data.Cats, catCount{k, v})
	}
	sort.Slice(data.Cats, func(i, j int) bool {
		if data.Cats[i].Count != data.Cats[j].Count {
			return data.Cats[i].Count > data.Cats[j].Count
		}
		return data.Cats[i].Name < data.Cats[j].Name
	})
	d.render(c, status, "case", page{Title: "Case", Nav: "queue", Error: errMsg, Notice: notice, Data: data})
}

func (d *Desk) webCase(c *gin.Context) {
	user, rest, ok := userPath(c.Request, "/desk/users/")
	if !ok || rest != "" {
		d.webError(c, http.StatusNotFound, "No such page.")
		return
	}
	cv, ok := d.caseFor(c, user)
	if !ok {
		return
	}
	notice := ""
	if done := c.Query("done"); done != "" {
		notice = "Recorded: " + done + "."
	}
	d.renderCase(c, http.StatusOK, cv, deskapi.ActionRequest{}, "", notice)
}

func (d *Desk) webAction(c *gin.Context) {
	user, rest, ok := userPath(c.Request, "/desk/users/")
	if !ok || rest != "actions" {
		d.webError(c, http.StatusNotFound, "No such page.")
		return
	}
	p := principalOf(c)
	if !p.Can(permAct) {
		d.webError(c, http.StatusForbidden, "Your role ("+p.Role+") may not act on users.")
		return
	}
	f := c.Request.PostForm
	app := f.Get("app")
	if app == "" {
		app = c.Query("app")
	}
	if app == "" {
		d.webError(c, http.StatusBadRequest, "The form did not say which app.")
		return
	}
	req := deskapi.ActionRequest{Action: f.Get("action"), Duration: f.Get("duration"), Reason: f.Get("reason"), ReportIDs: f["report_ids"], App: app}
	a, err := validAction(req)
	if err != nil {
		cv, ok := d.caseFor(c, user)
		if ok {
			d.renderCase(c, http.StatusBadRequest, cv, req, err.Error(), "")
		}
		return
	}
	_, _, err = d.applyAction(c.Request.Context(), p, app, user, a)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) {
			if cv, ok := d.caseFor(c, user); ok {
				d.renderCase(c, http.StatusBadRequest, cv, req, err.Error(), "")
			}
			return
		}
		d.webStoreError(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/desk/users/"+url.PathEscape(user)+"?app="+url.QueryEscape(app)+"&done="+url.QueryEscape(a.Action))
}

type auditData struct {
	Items   []deskapi.Action
	NextURL string
}

func (d *Desk) webAudit(c *gin.Context) {
	q := store.AuditQuery{Cursor: c.Query("cursor")}
	pg, err := d.opt.Store.Audit(c.Request.Context(), q)
	if err != nil {
		d.webStoreError(c, err)
		return
	}
	data := auditData{}
	for _, a := range pg.Items {
		data.Items = append(data.Items, toAPIAction(a))
	}
	if pg.Next != "" {
		data.NextURL = "/desk/audit?cursor=" + url.QueryEscape(pg.Next)
	}
	d.render(c, http.StatusOK, "audit", page{Title: "Audit log", Nav: "audit", Data: data})
}

type overviewData struct {
	Chart     chart
	Days      int
	CanExport bool
	Totals    []catCount
	Total     int
}

func (d *Desk) webOverview(c *gin.Context) {
	days := 14
	if s := c.Query("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 90 {
			d.webError(c, http.StatusBadRequest, "days must be 1 to 90.")
			return
		}
		days = n
	}
	counts, err := d.countByDay(c.Request.Context(), days)
	if err != nil {
		d.webStoreError(c, err)
		return
	}
	data := overviewData{Chart: buildChart(counts), Days: days, CanExport: principalOf(c).Can(permExport)}
	tot := map[string]int{}
	for _, day := range counts.Days {
		for cat, n := range day {
			tot[cat] += n
			data.Total += n
		}
	}
	for k, v := range tot {
		data.Totals = append(data.Totals, catCount{k, v})
	}
	sort.Slice(data.Totals, func(i, j int) bool {
		if data.Totals[i].Count != data.Totals[j].Count {
			return data.Totals[i].Count > data.Totals[j].Count
		}
		return data.Totals[i].Name < data.Totals[j].Name
	})
	d.render(c, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: data})
}

func (d *Desk) webExport(c *gin.Context) {
	p := principalOf(c)
	if !p.Can(permExport) {
		d.webError(c, http.StatusForbidden, "Your role ("+p.Role+") may not export evidence.")
		return
	}
	d.export(c, func(status int, _ string, msg string) { d.webError(c, status, msg) })
}
