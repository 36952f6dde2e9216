package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/memguard"
	"github.com/aupguard/aupguard/internal/wire"
)

// admissionEngine: an authenticated chat call through Admission and Body
// into a handler that waits for release.
func admissionEngine(adm *Admitter, app string, release chan struct{}, entered *sync.WaitGroup) *gin.Engine {
	e := gin.New()
	e.Use(func(c *gin.Context) {
		st := StateOf(c)
		st.App, st.Endpoint, st.Routed = &App{Name: c.GetHeader("X-App")}, wire.EndpointChat, true
	}, adm.Handler(), Body(BodyOptions{MaxBytes: 1 << 20, Reserve: adm.Reserve}))
	e.POST("/", func(c *gin.Context) {
		if entered != nil {
			entered.Done()
		}
		<-release
		c.String(200, "ok")
	})
	return e
}

func post(e http.Handler, app, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("X-App", app)
	e.ServeHTTP(w, r)
	return w
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

// A second call of an app at its cap is refused with 503 overloaded and
// Retry-After; another app is not; the slot comes back when the call ends.
func TestAdmissionCallsPerApp(t *testing.T) {
	adm := NewAdmitter(AdmissionOptions{Calls: memguard.NewCalls(1), MaxBody: 1 << 20})
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	e := admissionEngine(adm, "web", release, &entered)
	var wg sync.WaitGroup
	for _, app := range []string{"web", "mobile"} {
		wg.Add(1)
		go func() { defer wg.Done(); post(e, app, chatBody) }()
	}
	entered.Wait()
	w := post(e, "web", chatBody)
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), `"reason":"overloaded"`) {
		t.Fatalf("over the cap: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	close(release)
	wg.Wait()
	entered.Add(1)
	if w := post(e, "web", chatBody); w.Code != 200 {
		t.Fatalf("after the call ended: %d", w.Code)
	}
}

// A body whose parse would not fit is refused before it is parsed; one
// that fits is admitted and its reservation returned when it is done.
func TestAdmissionBodyMemory(t *testing.T) {
	small := int64(len(chatBody)) + wire.ParseCost([]byte(chatBody), 0) + int64(len(chatBody))
	bodies := memguard.NewBudget(small)
	adm := NewAdmitter(AdmissionOptions{Bodies: bodies, MaxBody: 1 << 20})
	release := make(chan struct{})
	close(release)
	e := admissionEngine(adm, "web", release, nil)
	if w := post(e, "web", chatBody); w.Code != 200 || bodies.InUse() != 0 {
		t.Fatalf("fits: %d, %d held after", w.Code, bodies.InUse())
	}
	big := `{"model":"m","messages":[{"role":"user","content":"hi"}],"x":[` + strings.Repeat("0,", 200) + `0]}`
	if w := post(e, "web", big); w.Code != 503 || !strings.Contains(w.Body.String(), "overloaded") || bodies.InUse() != 0 {
		t.Fatalf("does not fit: %d %s, %d held after", w.Code, w.Body, bodies.InUse())
	}
	if bodies.Refused() != 1 {
		t.Errorf("refused %d", bodies.Refused())
	}
}
