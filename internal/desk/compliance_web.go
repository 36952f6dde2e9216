package desk

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

// The appeals and notices pages.

func init() { pageNames = append(pageNames, "appeals", "notices") }

func (d *Desk) registerComplianceWeb(in gin.IRouter) {
	in.GET("/appeals", d.webAppeals)
	in.POST("/appeals/:id/decision", d.csrf, d.webDecide)
	in.GET("/notices", d.webNotices)
	in.POST("/notices", d.csrf, d.webTakeNotice)
}

type appealRow struct {
	deskapi.AppealItem
	Age string
}

type appealsData struct {
	Items    []appealRow
	Status   string
	Statuses []string
	CanAct   bool
	NextURL  string
}

func (d *Desk) webAppeals(c *gin.Context) {
	status := c.DefaultQuery("status", store.AppealOpen)
	switch status {
	case "", store.AppealOpen, store.AppealUpheld, store.AppealReversed:
	default:
		d.webError(c, http.StatusBadRequest, "No such status: "+status)
		return
	}
	pg, err := d.appealsPage(c.Request.Context(), store.AppealQuery{Status: status, Cursor: c.Query("cursor")})
	if err != nil {
		d.webStoreError(c, err)
		return
	}
	data := appealsData{Status: status, Statuses: []string{store.AppealOpen, store.AppealUpheld, store.AppealReversed, ""},
		CanAct: principalOf(c).Can(permAct) && d.opt.Compliance != nil}
	for _, it := range pg.Items {
		data.Items = append(data.Items, appealRow{AppealItem: it, Age: age(time.Duration(it.AgeSeconds) * time.Second)})
	}
	if pg.Next != "" {
		data.NextURL = "/desk/appeals?" + url.Values{"status": {status}, "cursor": {pg.Next}}.Encode()
	}
	notice := ""
	if done := c.Query("done"); done != "" {
		notice = "Appeal " + c.Query("appeal") + " " + done + "."
	}
	d.render(c, http.StatusOK, "appeals", page{Title: "Appeals", Nav: "appeals", Notice: notice, Data: data})
}

func (d *Desk) webDecide(c *gin.Context) {
	p := principalOf(c)
	if !p.Can(permAct) || d.opt.Compliance == nil {
		d.webError(c, http.StatusForbidden, "Your role ("+p.Role+") may not decide appeals.")
		return
	}
	id := c.Param("id")
	f := c.Request.PostForm
	a, err := d.decide(c.Request.Context(), p, id, deskapi.AppealDecisionRequest{Outcome: f.Get("outcome"), Reason: f.Get("reason")})
	switch {
	case errors.Is(err, compliance.ErrSameReviewer), errors.Is(err, store.ErrConflict):
		d.webError(c, http.StatusConflict, err.Error())
	case err != nil:
		d.webStoreError(c, err)
	default:
		c.Redirect(http.StatusSeeOther, "/desk/appeals?"+url.Values{"status": {""}, "done": {a.Status}, "appeal": {a.ID}}.Encode())
	}
}

type noticeRow struct {
	deskapi.NoticeItem
	Took string
}

type noticesData struct {
	Items   []noticeRow
	CanAct  bool
	Form    deskapi.NoticeRequest
	NextURL string
}

func (d *Desk) renderNotices(c *gin.Context, status int, form deskapi.NoticeRequest, errMsg, notice string) {
	pg, err := d.noticesPage(c.Request.Context(), store.NoticeQuery{Cursor: c.Query("cursor")})
	if err != nil {
		d.webStoreError(c, err)
		return
	}
	data := noticesData{CanAct: principalOf(c).Can(permAct) && d.opt.Compliance != nil, Form: form}
	if data.Form.Source == "" {
		data.Form.Source = store.NoticeOpenRouter
	}
	for _, n := range pg.Items {
		took := d.now().Sub(n.Received)
		if n.Handled {
			took = time.Duration(n.HandlingSeconds) * time.Second
		}
		data.Items = append(data.Items, noticeRow{NoticeItem: n, Took: age(took)})
	}
	if pg.Next != "" {
		data.NextURL = "/desk/notices?cursor=" + url.QueryEscape(pg.Next)
	}
	d.render(c, status, "notices", page{Title: "Notices", Nav: "notices", Error: errMsg, Notice: notice, Data: data})
}

func (d *Desk) webNotices(c *gin.Context) {
	notice := ""
	if id := c.Query("taken"); id != "" {
		notice = "Notice " + id + " taken in; its case is in the queue."
	}
	d.renderNotices(c, http.StatusOK, deskapi.NoticeRequest{}, "", notice)
}

func (d *Desk) webTakeNotice(c *gin.Context) {
	p := principalOf(c)
	if !p.Can(permAct) || d.opt.Compliance == nil {
		d.webError(c, http.StatusForbidden, "Your role ("+p.Role+") may not take notices in.")
		return
	}
	f := c.Request.PostForm
	req := deskapi.NoticeRequest{Source: f.Get("source"), Pseudonym: f.Get("pseudonym"), EndUser: f.Get("end_user"), App: f.Get("app"),
		Category: f.Get("category"), Reference: f.Get("reference"), Notifier: f.Get("notifier"), Description: f.Get("description")}
	n, status, apps, err := d.takeNotice(c.Request.Context(), p, req)
	switch {
	case status == http.StatusNotFound:
		msg, _ := d.unknownUser()
		d.renderNotices(c, status, req, msg, "")
	case status == http.StatusConflict:
		d.renderNotices(c, status, req, "Several apps know this user id; name the app (one of the apps listed on the case).", "")
		_ = apps
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrNotFound), errors.Is(err, compliance.ErrTooLarge):
		d.renderNotices(c, http.StatusBadRequest, req, err.Error(), "")
	case err != nil:
		d.webStoreError(c, err)
	default:
		c.Redirect(http.StatusSeeOther, "/desk/notices?taken="+url.QueryEscape(n.ID))
	}
}

// age is a wait as a reviewer reads it: "3d 4h", "2h 5m", "<1m".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
