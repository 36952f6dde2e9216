package compliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// AppAPIPrefix is where the proxy listener serves ServeApp.
const AppAPIPrefix = "/aup/v1/"

// ServeApp answers the app's requests under /aup/v1/ once the server
// has authenticated its key: GET statements/{id} (JSON, or plain text
// with Accept: text/plain or ?format=text), POST appeals and GET
// appeals/{id}. An app sees its own end users' records only: another's
// are not found, the same answer as for ids that never existed.
func (s *Service) ServeApp(c *gin.Context, app string) {
	c.Header("Cache-Control", "no-store")
	rest := strings.TrimPrefix(c.Request.URL.Path, strings.TrimSuffix(AppAPIPrefix, "/"))
	kind, id, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	switch {
	case c.Request.Method == http.MethodGet && kind == "statements" && validID(id):
		s.getStatement(c, app, id)
	case c.Request.Method == http.MethodPost && kind == "appeals" && id == "":
		s.postAppeal(c, app)
	case c.Request.Method == http.MethodGet && kind == "appeals" && validID(id):
		s.getAppeal(c, app, id)
	default:
		fail(c, http.StatusNotFound, "not_found", "no such route: GET /aup/v1/statements/{id}, POST /aup/v1/appeals, GET /aup/v1/appeals/{id}", nil)
	}
}

func validID(id string) bool { return id != "" && len(id) <= 128 && !strings.Contains(id, "/") }

// fail answers in OpenRouter's error shape, like every refusal.
func fail(c *gin.Context, status int, reason, msg string, meta map[string]any) {
	md := map[string]any{"reason": reason, "provider_name": wire.ProviderName}
	for k, v := range meta {
		md[k] = v
	}
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": status, "message": msg, "metadata": md}})
}

func (s *Service) storeFail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(c, http.StatusNotFound, "not_found", strings.TrimPrefix(err.Error(), "store: not found: "), nil)
	case errors.Is(err, store.ErrInvalid):
		fail(c, http.StatusBadRequest, string(wire.ReasonInvalidRequest), strings.TrimPrefix(err.Error(), "store: invalid argument: "), nil)
	case errors.Is(err, ErrTooLarge):
		fail(c, http.StatusRequestEntityTooLarge, string(wire.ReasonPayloadTooLarge), strings.TrimPrefix(err.Error(), "compliance: too large: "), map[string]any{"max_text_bytes": s.opt.MaxTextBytes})
	default:
		s.log.Error("compliance: app API", "path", c.Request.URL.Path, "error", err.Error())
		fail(c, http.StatusServiceUnavailable, string(wire.ReasonStoreUnavailable), "the store is unavailable; try again", nil)
	}
}

func wantsText(c *gin.Context) bool {
	if f := c.Query("format"); f != "" {
		return f == "text"
	}
	return strings.HasPrefix(c.GetHeader("Accept"), "text/plain")
}

func (s *Service) getStatement(c *gin.Context, app, id string) {
	ctx := c.Request.Context()
	st, err := s.st.Statement(ctx, id)
	if err == nil && st.App != app {
		err = fmt.Errorf("%w: no statement %q", store.ErrNotFound, id)
	}
	if err != nil {
		s.storeFail(c, err)
		return
	}
	var ap *store.Appeal
	if a, err := s.st.Appeal(ctx, store.AppealID(st.ID)); err == nil {
		ap = &a
	}
	v := s.View(st, ap)
	if wantsText(c) {
		c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(v.Text()))
		return
	}
	c.JSON(http.StatusOK, v)
}

// AppealRequest is the body of POST /aup/v1/appeals.
type AppealRequest struct {
	EndUser     string `json:"end_user"`
	StatementID string `json:"statement_id"`
	Text        string `json:"text"`
}

func (s *Service) postAppeal(c *gin.Context, app string) {
	// Room for the text JSON-escaped (\uXXXX is 6 bytes a byte) and the rest.
	limit := int64(s.opt.MaxTextBytes)*6 + 4096
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		fail(c, http.StatusRequestEntityTooLarge, string(wire.ReasonPayloadTooLarge), fmt.Sprintf("body larger than %d bytes; an appeal's text holds at most %d", limit, s.opt.MaxTextBytes), map[string]any{"max_text_bytes": s.opt.MaxTextBytes})
		return
	}
	if err != nil {
		fail(c, http.StatusBadRequest, string(wire.ReasonInvalidRequest), "reading the body: "+err.Error(), nil)
		return
	}
	var req AppealRequest
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(c, http.StatusBadRequest, string(wire.ReasonInvalidRequest), `body must be JSON {"end_user","statement_id","text"}: `+err.Error(), nil)
		return
	}
	a, err := s.File(c.Request.Context(), app, req.EndUser, req.StatementID, req.Text)
	if errors.Is(err, ErrExists) {
		fail(c, http.StatusConflict, "appeal_exists", strings.TrimPrefix(err.Error(), "compliance: exists: "), map[string]any{"appeal_id": a.ID, "status": a.Status})
		return
	}
	if err != nil {
		s.storeFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"appeal_id": a.ID, "status": a.Status, "deadline": a.Deadline})
}

func (s *Service) getAppeal(c *gin.Context, app, id string) {
	a, err := s.OwnAppeal(c.Request.Context(), app, id)
	if err != nil {
		s.storeFail(c, err)
		return
	}
	c.JSON(http.StatusOK, ViewAppeal(a))
}
