package desk

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/store"
)

// privacyEnv is a desk whose exporter writes real signed access bundles.
func privacyEnv(t *testing.T) (*env, ed25519.PublicKey) {
	pub, key, _ := ed25519.GenerateKey(nil)
	var e *env
	e = newEnv(t, func(o *Options) {
		o.Exporter = WithSubjectExport(o.Exporter, func(ctx context.Context, w io.Writer, app, user string) error {
			svc, err := privacy.New(e.st, privacy.Options{Logger: quietLog()})
			if err != nil {
				return err
			}
			_, err = svc.Export(ctx, w, &evidence.Exporter{Key: key}, nil, app, user)
			return err
		})
	})
	return e, pub
}

func TestSubjectExportRoute(t *testing.T) {
	e, pub := privacyEnv(t)
	e.report("web", "sam/1", []string{"fraud"}, "")
	e.report("web", "other", []string{"fraud"}, "")
	for _, tok := range []string{tokReviewer, tokAuditor} {
		if resp, _ := e.do("GET", "/admin/v1/users/sam%2F1/export", tok, nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("role token %s: %d, want 403", tok, resp.StatusCode)
		}
	}
	if resp, _ := e.do("GET", "/admin/v1/users/sam%2F1/export", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	resp, body := e.do("GET", "/admin/v1/users/sam%2F1/export?app=web", tokAdmin, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	res := evidence.Verify(bytes.NewReader(body), pub)
	if !res.OK || res.Manifest.Filter.User != "sam/1" || res.Manifest.Counts.Reports != 1 || res.Manifest.Counts.Actions != 1 {
		t.Fatalf("bundle: %s %+v", res.Summary, res.Manifest)
	}
	// The case view behind the same catch-all still answers.
	if resp, body := e.do("GET", "/admin/v1/users/sam%2F1", tokReviewer, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("case view: %d %s", resp.StatusCode, body)
	}
}

func TestSubjectExportFallsBackToFilter(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.do("GET", "/admin/v1/users/bo/export?app=api", tokAdmin, nil)
	if resp.StatusCode != http.StatusOK || e.exp.last.User != "bo" || e.exp.last.App != "api" {
		t.Fatalf("%d, filter %+v", resp.StatusCode, e.exp.last)
	}
}

func TestEraseRoute(t *testing.T) {
	e, _ := privacyEnv(t)
	e.report("web", "ernie", []string{"fraud"}, "")
	cse := e.report("web", "ernie", []string{"child_sexual_exploitation"}, "")
	if resp, _ := e.do("POST", "/admin/v1/users/ernie/erase", tokReviewer, map[string]any{"reason": "x"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("reviewer may erase: %d", resp.StatusCode)
	}
	if resp, _ := e.do("POST", "/admin/v1/users/ernie/erase", tokAdmin, map[string]any{}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("erasure without reason: %d", resp.StatusCode)
	}
	// A category hold keeps the CSE report.
	resp, body := e.do("POST", "/admin/v1/holds", tokAdmin, map[string]any{"kind": "category", "category": "child_sexual_exploitation", "reason": "law"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("hold: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/admin/v1/users/ernie/erase", tokAdmin, map[string]any{"reason": "GDPR request 12"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("erase: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Erasures []privacy.EraseResult `json:"erasures"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Erasures) != 1 {
		t.Fatalf("%s %v", body, err)
	}
	if er := out.Erasures[0].Erasure; er.Reports != 1 || er.HeldReports != 1 {
		t.Fatalf("erasure %+v", er)
	}
	page, _ := e.st.Reports(context.Background(), store.ReportQuery{})
	if len(page.Items) != 1 || page.Items[0].ID != cse {
		t.Fatalf("left %+v", page.Items)
	}
	audit, _ := e.st.Audit(context.Background(), store.AuditQuery{Limit: 1})
	if a := audit.Items[0]; a.Action != store.ActErase || a.Actor != "adam" || a.User != "" || !strings.HasPrefix(a.Subject, "hmac-sha256:") {
		t.Fatalf("audit %+v", a)
	}
	if resp, _ := e.do("POST", "/admin/v1/users/nobody/erase", tokAdmin, map[string]any{"reason": "r"}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown user: %d", resp.StatusCode)
	}
	// An ordinary action still reaches the catch-all.
	if resp, body := e.do("POST", "/admin/v1/users/ernie/actions", tokReviewer, map[string]any{"action": "note", "reason": "still here"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("action: %d %s", resp.StatusCode, body)
	}
}

func TestHoldRoutes(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"kind": "user", "app": "web", "user": "hal", "reason": "subpoena"}
	if resp, _ := e.do("POST", "/admin/v1/holds", tokAuditor, body); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("auditor may hold: %d", resp.StatusCode)
	}
	if resp, b := e.do("POST", "/admin/v1/holds", tokAdmin, body); resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"placed":true`) {
		t.Fatalf("hold: %d %s", resp.StatusCode, b)
	}
	resp, b := e.do("GET", "/admin/v1/holds", tokReviewer, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"user":"hal"`) || !strings.Contains(string(b), `"actor":"adam"`) {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("POST", "/admin/v1/holds", tokAdmin, map[string]any{"kind": "planet", "reason": "x"}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad kind: %d", resp.StatusCode)
	}
	delete(body, "reason")
	if resp, _ := e.do("POST", "/admin/v1/holds/release", tokAdmin, body); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("release without reason: %d", resp.StatusCode)
	}
	body["reason"] = "case closed"
	if resp, b := e.do("POST", "/admin/v1/holds/release", tokAdmin, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("release: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("POST", "/admin/v1/holds/release", tokAdmin, body); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second release: %d", resp.StatusCode)
	}
	audit, _ := e.st.Audit(context.Background(), store.AuditQuery{App: "web", User: "hal"})
	if len(audit.Items) != 2 || audit.Items[0].Action != store.ActRelease || audit.Items[0].Reason != "case closed" {
		t.Fatalf("audit %+v", audit.Items)
	}
}
