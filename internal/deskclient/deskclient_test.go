package deskclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
)

func TestCaseAndAmbiguousUser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("app") {
		case "web":
			json.NewEncoder(w).Encode(deskapi.Case{App: "web", User: "alice", Pseudonyms: []string{"aup_x"}})
		default:
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(deskapi.Error{Error: deskapi.ErrorBody{Code: 409, Message: "several apps know this user id",
				Metadata: map[string]any{"reason": "ambiguous_user", "apps": []string{"web", "batch"}}}})
		}
	}))
	defer srv.Close()
	// The /admin/v1 suffix is optional.
	c, err := New(srv.URL+"/admin/v1/", "tok", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cv, raw, err := c.Case(ctx, "web", "alice")
	if err != nil || cv.User != "alice" || cv.Pseudonyms[0] != "aup_x" || len(raw) == 0 {
		t.Fatalf("case %+v %s %v", cv, raw, err)
	}
	_, _, err = c.Case(ctx, "", "alice")
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Reason != "ambiguous_user" || len(ae.Apps) != 2 {
		t.Fatalf("error %#v", err)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	if _, err := New("http://127.0.0.1:8081", "", time.Minute); err == nil {
		t.Error("no token accepted")
	}
	if _, err := New("127.0.0.1:8081", "tok", time.Minute); err == nil {
		t.Error("a URL without scheme accepted")
	}
}
