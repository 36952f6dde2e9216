package desk

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// flakyStore fails the session methods while down is set.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

var errDown = errors.New("store down")

func (f *flakyStore) RevokeSession(ctx context.Context, id string, until time.Time) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.RevokeSession(ctx, id, until)
}

func (f *flakyStore) SessionRevoked(ctx context.Context, id string) (bool, error) {
	if f.down.Load() {
		return false, errDown
	}
	return f.Store.SessionRevoked(ctx, id)
}

// A sign-out the store cannot record is said to be incomplete (503), not
// silently local; a session the store cannot check is refused, then works
// again once the store answers.
func TestSessionStoreUnavailable(t *testing.T) {
	var fs *flakyStore
	e := newEnv(t, func(o *Options) { fs = &flakyStore{Store: o.Store}; o.Store = fs })
	b := e.browser()
	b.login(tokReviewer)
	csrf := b.csrf("/desk/")

	fs.down.Store(true)
	if resp, _ := b.get("/desk/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("session with the store down: %d", resp.StatusCode)
	}
	fs.down.Store(false)
	if resp, _ := b.get("/desk/"); resp.StatusCode != 200 {
		t.Fatalf("session with the store back: %d", resp.StatusCode)
	}
	u, _ := url.Parse(e.srv.URL + "/desk/")
	orig := b.jr.Cookies(u)[0].Value

	// The sign-out check runs before the store is asked, so take it down
	// only for the revocation itself.
	e.desk.opt.Store = &revokeFails{fs}
	resp, body := b.post("/desk/logout", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "could not record it") {
		t.Fatalf("sign-out with the store down: %d %s", resp.StatusCode, body)
	}
	// Dead on this replica all the same.
	b.jr.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: orig, Path: "/desk"}})
	if resp, _ := b.get("/desk/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed here: %d", resp.StatusCode)
	}
}

type revokeFails struct{ *flakyStore }

func (revokeFails) RevokeSession(context.Context, string, time.Time) error { return errDown }
