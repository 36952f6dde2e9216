package desk

// Personal-data requests on the admin API (admin role), served by
// internal/privacy:
//
//	GET  /admin/v1/users/{user}/export[?app=A]  access request: a signed evidence bundle
//	POST /admin/v1/users/{user}/erase[?app=A]   erasure request {"reason": "…", "app": "…"}
//	GET  /admin/v1/holds                         legal holds in force (any role)
//	POST /admin/v1/holds                         place a hold {"kind","app","user","report_id","category","reason"}
//	POST /admin/v1/holds/release                 lift a hold (same body; reason required)
//
// users/{user}/… shares gin's catch-all route with the case view and the
// actions, so the two user routes are picked out by a middleware that runs
// before it (registerPrivacy).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// SubjectExporter is an Exporter that also writes access-request bundles
// (everything about one user, with the standing and holds marked); see
// WithSubjectExport. Without it the desk answers an access request with
// the plain export filtered to the user.
type SubjectExporter interface {
	ExportSubject(ctx context.Context, w io.Writer, app, user string) error
}

// SubjectExportFunc writes one user's access-request bundle (app "" = every app).
type SubjectExportFunc func(ctx context.Context, w io.Writer, app, user string) error

type withSubject struct {
	Exporter
	fn SubjectExportFunc
}

func (x withSubject) ExportSubject(ctx context.Context, w io.Writer, app, user string) error {
	return x.fn(ctx, w, app, user)
}

// WithSubjectExport adds access-request export to x (the wiring passes
// privacy.Service.Export bound to the signing exporter).
func WithSubjectExport(x Exporter, fn SubjectExportFunc) Exporter { return withSubject{x, fn} }

func (d *Desk) registerPrivacy(r gin.IRouter) {
	spool, _ := d.opt.Actor.(privacy.SpoolEraser)
	if spool == nil && d.opt.Actor != nil {
		// A wrapped enforcer hides its spool: erasures would miss it.
		d.log.Warn("desk: the Actor is not the enforcer itself; erasure requests will not clean the report spool")
	}
	svc, err := privacy.New(d.opt.Store, privacy.Options{Spool: spool, Clock: d.now, Logger: d.log})
	if err != nil {
		d.log.Warn("desk: privacy requests disabled", "err", err)
		svc = nil
	}
	r.Use(d.privacyUserRoutes(svc))
	g := r.Group("/admin/v1")
	g.Use(d.apiHeaders, d.bearer)
	g.GET("/holds", d.need(permRead), func(c *gin.Context) { d.apiHolds(c, svc) })
	g.POST("/holds", d.needAdmin, func(c *gin.Context) { d.apiHold(c, svc, false) })
	g.POST("/holds/release", d.needAdmin, func(c *gin.Context) { d.apiHold(c, svc, true) })
}

// needAdmin refuses every role but admin: personal-data requests export
// or destroy a user's whole record.
func (d *Desk) needAdmin(c *gin.Context) {
	if p := principalOf(c); p == nil || p.Role != RoleAdmin {
		role := ""
		if p != nil {
			role = p.Role
		}
		apiError(c, http.StatusForbidden, reasonForbidden, "only the admin role may handle personal-data requests and legal holds", map[string]any{"role": role})
	}
}

// privacyUserRoutes handles GET users/{user}/export and POST
// users/{user}/erase and lets every other request through untouched.
func (d *Desk) privacyUserRoutes(svc *privacy.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !strings.HasPrefix(c.Request.URL.Path, "/admin/v1/users/") {
			return
		}
		user, rest, ok := userPath(c.Request, "/admin/v1/users/")
		if !ok {
			return
		}
		var h func(*gin.Context, *privacy.Service, string)
		switch {
		case rest == "export" && c.Request.Method == http.MethodGet:
			h = d.apiSubjectExport
		case rest == "erase" && c.Request.Method == http.MethodPost:
			h = d.apiErase
		default:
			return
		}
		for _, step := range []gin.HandlerFunc{d.apiHeaders, d.bearer, d.needAdmin} {
			if step(c); c.IsAborted() {
				return
			}
		}
		h(c, svc, user)
		c.Abort() // the catch-all route behind must not answer too
	}
}

func notEnabled(c *gin.Context) {
	apiError(c, http.StatusNotImplemented, reasonNotEnabled, "this gateway's store does not support personal-data requests", nil)
}

func (d *Desk) apiSubjectExport(c *gin.Context, svc *privacy.Service, user string) {
	if d.opt.Exporter == nil {
		apiError(c, http.StatusNotImplemented, reasonNotEnabled, "evidence export is not configured on this gateway", nil)
		return
	}
	app := c.Query("app")
	lw := &lazyWriter{w: c.Writer, start: func(h http.Header) {
		h.Set("Content-Type", "application/gzip")
		h.Set("Content-Disposition", `attachment; filename="aupguard-subject-`+d.now().UTC().Format("20060102T150405Z")+`.tar.gz"`)
		h.Set("Cache-Control", "no-store")
	}}
	var err error
	if se, ok := d.opt.Exporter.(SubjectExporter); ok {
		err = se.ExportSubject(c.Request.Context(), lw, app, user)
	} else {
		err = d.opt.Exporter.Export(c.Request.Context(), lw, ExportFilter{App: app, User: user})
	}
	if err != nil {
		d.log.Error("desk: access export", "actor", principalOf(c).Name, "err", err, "started", lw.started)
		if !lw.started {
			apiError(c, http.StatusServiceUnavailable, string(wire.ReasonStoreUnavailable), "export failed; see the gateway's log", nil)
		}
		return
	}
	if !lw.started {
		lw.Write(nil)
	}
	// The log names who asked, not whom it was about.
	d.log.Info("desk: access export", "actor", principalOf(c).Name, "app", app)
}

func (d *Desk) apiErase(c *gin.Context, svc *privacy.Service, user string) {
	if svc == nil {
		notEnabled(c)
		return
	}
	var req deskapi.EraseRequest
	if !d.decodeBody(c, &req) {
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" || len(req.Reason) > maxReason {
		badRequest(c, "reason is required (at most 4000 bytes): say why, for the audit log")
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
	out, err := svc.Erase(c.Request.Context(), app, user, principalOf(c).Name, req.Reason)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			apiError(c, http.StatusNotFound, reasonNotFound, "no record of this user"+inApp(app), nil)
			return
		}
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, eraseResult(out))
}

// eraseResult is an erasure's answer, one entry per app.
func eraseResult(out []privacy.EraseResult) deskapi.EraseResult {
	var res deskapi.EraseResult
	if out != nil {
		res.Erasures = make([]deskapi.Erasure, 0, len(out))
	}
	for _, e := range out {
		res.Erasures = append(res.Erasures, deskapi.Erasure{App: e.App, Subject: e.Subject, Erasure: e.Erasure, Spooled: e.Spooled})
	}
	return res
}

// decodeBody reads a bounded JSON body into v, answering 400/413 itself.
func (d *Desk) decodeBody(c *gin.Context, v any) bool {
	body, err := readBody(c, d.opt.MaxBodyBytes)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(c, "body must be a JSON object: "+err.Error())
		return false
	}
	return true
}

func (d *Desk) apiHolds(c *gin.Context, svc *privacy.Service) {
	if svc == nil {
		notEnabled(c)
		return
	}
	hs, err := svc.HoldList(c.Request.Context())
	if err != nil {
		d.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, deskapi.Holds{Items: hs})
}

func (d *Desk) apiHold(c *gin.Context, svc *privacy.Service, release bool) {
	if svc == nil {
		notEnabled(c)
		return
	}
	var req deskapi.HoldRequest
	if !d.decodeBody(c, &req) {
		return
	}
	actor := principalOf(c).Name
	h := store.Hold{Kind: req.Kind, App: req.App, User: req.User, ReportID: req.ReportID, Category: req.Category,
		Actor: actor, Reason: strings.TrimSpace(req.Reason)}
	if len(h.Reason) > maxReason {
		badRequest(c, "reason is longer than 4000 bytes")
		return
	}
	ctx := c.Request.Context()
	if release {
		if h.Reason == "" {
			badRequest(c, "reason is required: say why the hold is lifted, for the audit log")
			return
		}
		if err := svc.Release(ctx, h, actor, h.Reason); err != nil {
			d.storeError(c, err)
			return
		}
		d.log.Info("desk: hold released", "actor", actor, "kind", h.Kind)
		c.JSON(http.StatusOK, deskapi.HoldReleased{Released: h.Key()})
		return
	}
	placed, err := svc.Hold(ctx, h)
	if err != nil {
		d.storeError(c, err)
		return
	}
	d.log.Info("desk: hold placed", "actor", actor, "kind", h.Kind, "new", placed)
	c.JSON(http.StatusOK, deskapi.HoldPlaced{Hold: h.Key(), Placed: placed})
}
