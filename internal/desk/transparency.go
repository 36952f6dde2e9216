package desk

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/transparency"
	"github.com/aupguard/aupguard/internal/wire"
)

// The transparency report and the subprocessor register (issue #19):
// GET /admin/v1/transparency and /admin/v1/providers, and their desk
// pages. Every role reads them (reviewers and auditors alike).

// defaultPeriod is the period of a report asked for without since.
const defaultPeriod = 30 * 24 * time.Hour

var compliancePages = []string{"transparency", "providers"}

func (d *Desk) registerTransparency(r gin.IRouter) {
	for _, n := range compliancePages {
		fm := template.FuncMap{}
		for k, v := range funcs {
			fm[k] = v
		}
		for k, v := range transparency.Funcs {
			fm[k] = v
		}
		d.pages[n] = template.Must(template.New("layout.html").Funcs(fm).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html"))
	}
	g := r.Group("/admin/v1")
	g.Use(d.apiHeaders, d.bearer)
	g.GET("/transparency", d.need(permRead), d.apiTransparency)
	g.GET("/providers", d.need(permRead), d.apiProviders)
	w := r.Group("/desk", d.webHeaders, d.webSession)
	w.GET("/transparency", d.webTransparency)
	w.GET("/providers", d.webProviders)
}

// period reads since, until and app: RFC 3339, a date or a duration back
// from now (as everywhere on the desk); until defaults to now, since to
// 30 days before until; an app must be a configured one.
func (d *Desk) period(q url.Values) (since, until time.Time, app string, status int, err error) {
	now := d.now().UTC()
	if until, err = parseTime(q.Get("until"), now); err != nil {
		return since, until, "", http.StatusBadRequest, fmt.Errorf("until: %w", err)
	}
	if until.IsZero() {
		until = now
	}
	if since, err = parseTime(q.Get("since"), now); err != nil {
		return since, until, "", http.StatusBadRequest, fmt.Errorf("since: %w", err)
	}
	if since.IsZero() {
		since = until.Add(-defaultPeriod)
	}
	if !since.Before(until) {
		return since, until, "", http.StatusBadRequest, fmt.Errorf("since (%s) must be before until (%s)", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	if until.Sub(since) > store.MaxRegisterDays*24*time.Hour {
		return since, until, "", http.StatusBadRequest, fmt.Errorf("the period is longer than %d days", store.MaxRegisterDays)
	}
	app = q.Get("app")
	if app != "" && len(d.opt.Apps) > 0 && !slices.Contains(d.opt.Apps, app) {
		return since, until, app, http.StatusNotFound, fmt.Errorf("no app %q is configured (configured apps: %v)", app, d.opt.Apps)
	}
	return since, until, app, 0, nil
}

func (d *Desk) periodError(c *gin.Context, status int, err error) {
	reason := string(wire.ReasonInvalidRequest)
	if status == http.StatusNotFound {
		reason = reasonNotFound
	}
	apiError(c, status, reason, err.Error(), nil)
}

func (d *Desk) apiTransparency(c *gin.Context) {
	since, until, app, status, err := d.period(c.Request.URL.Query())
	if err != nil {
		d.periodError(c, status, err)
		return
	}
	rep, err := transparency.Build(c.Request.Context(), d.opt.Store, since, until, app, d.opt.Casework, d.now())
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

func (d *Desk) apiProviders(c *gin.Context) {
	since, until, app, status, err := d.period(c.Request.URL.Query())
	if err != nil {
		d.periodError(c, status, err)
		return
	}
	reg, err := transparency.Providers(c.Request.Context(), d.opt.Store, since, until, app, d.now())
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, reg)
}

type periodForm struct {
	Since, Until, App string
	Apps              []string
	Query             string // the period as a query string, for the links between the pages
}

type transparencyData struct {
	Period periodForm
	Report any
}

func (d *Desk) form(c *gin.Context) periodForm {
	q := c.Request.URL.Query()
	f := periodForm{Since: q.Get("since"), Until: q.Get("until"), App: q.Get("app"), Apps: d.opt.Apps}
	v := url.Values{}
	for k, s := range map[string]string{"since": f.Since, "until": f.Until, "app": f.App} {
		if s != "" {
			v.Set(k, s)
		}
	}
	f.Query = v.Encode()
	return f
}

func (d *Desk) webTransparency(c *gin.Context) {
	data := transparencyData{Period: d.form(c)}
	since, until, app, status, err := d.period(c.Request.URL.Query())
	if err != nil {
		d.render(c, status, "transparency", page{Title: "Transparency report", Nav: "transparency", Error: err.Error(), Data: data})
		return
	}
	rep, err := transparency.Build(c.Request.Context(), d.opt.Store, since, until, app, d.opt.Casework, d.now())
	if err != nil {
		d.webStoreError(c, err)
		return
	}
	data.Report = rep
	d.render(c, http.StatusOK, "transparency", page{Title: "Transparency report", Nav: "transparency", Data: data})
}

func (d *Desk) webProviders(c *gin.Context) {
	data := transparencyData{Period: d.form(c)}
	since, until, app, status, err := d.period(c.Request.URL.Query())
	if err != nil {
		d.render(c, status, "providers", page{Title: "Subprocessor register", Nav: "providers", Error: err.Error(), Data: data})
		return
	}
	reg, err := transparency.Providers(c.Request.Context(), d.opt.Store, since, until, app, d.now())
	if err != nil {
		d.webStoreError(c, err)
		return
	}
	data.Report = reg
	d.render(c, http.StatusOK, "providers", page{Title: "Subprocessor register", Nav: "providers", Data: data})
}
