package middleware

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// flaggedContext is a chat request whose text fakePolicy flags, as the
// steps before Inspect leave it.
func flaggedContext(t *testing.T) (*gin.Context, *State) {
	t.Helper()
	body := `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"FLAGME ` + strings.Repeat("and more words ", 40) + `"}]}`
	req, err := wire.ParseRequest(wire.EndpointChat, []byte(body), wire.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("POST", "/api/v1/chat/completions", strings.NewReader(body))
	st := StateOf(c)
	st.App, st.Endpoint, st.Routed, st.Request = &App{Name: "web"}, wire.EndpointChat, true, req
	st.EndUser, st.Pseudonym = "mallory", "aup_x"
	return c, st
}

// Every report builder honours ExcerptBytes the same way: 0 is the
// default bound, a positive value bounds it, a negative one keeps none.
func TestExcerptBytesInEveryReport(t *testing.T) {
	dg, _ := identity.NewDigester([]byte("fedcba9876543210fedcba9876543210"))
	flag := policy.Decision{ID: "d", Action: policy.Flag, Categories: []string{"harassment"}, Strike: 1}
	sources := map[string]func(t *testing.T, excerptBytes int) []string{
		"request": func(t *testing.T, n int) []string {
			enf := &fakeEnforcer{}
			c, _ := flaggedContext(t)
			Inspect(InspectOptions{Policy: fakePolicy{}, Enforcer: enf, Digester: dg, ExcerptBytes: n})(c)
			return excerpts(enf)
		},
		"answer": func(t *testing.T, n int) []string {
			enf := &fakeEnforcer{}
			c, st := flaggedContext(t)
			AnswerOptions{Enforcer: enf, Digester: dg, ExcerptBytes: n}.report(c, st, "answer", flag)
			return excerpts(enf)
		},
		"upstream_moderation": func(t *testing.T, n int) []string {
			enf := &fakeEnforcer{}
			c, st := flaggedContext(t)
			ForwardOptions{Enforcer: enf, Digester: dg, ExcerptBytes: n}.reportModeration(c, st, []string{"violence"})
			return excerpts(enf)
		},
	}
	for name, report := range sources {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct{ excerptBytes, min, max int }{
				{0, defaultExcerptBytes, defaultExcerptBytes},
				{12, 1, 12},
				{-1, 0, 0},
			} {
				got := report(t, tc.excerptBytes)
				if len(got) != 1 || len(got[0]) < tc.min || len(got[0]) > tc.max {
					t.Errorf("ExcerptBytes %d: excerpts %q, want one of %d..%d bytes", tc.excerptBytes, got, tc.min, tc.max)
				}
			}
		})
	}
}

func excerpts(f *fakeEnforcer) []string {
	var out []string
	for _, r := range f.reports {
		out = append(out, r.Excerpt)
	}
	return out
}
