package evidence

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	key := testKey(t, 1)
	src := testSource(20)
	srv := httptest.NewServer(Handler(src, &Exporter{Key: key}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "?user=user-0&since=2026-11-01")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), ".tar.gz") {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	res := Verify(resp.Body, key.Public().(ed25519.PublicKey))
	if !res.OK || res.Manifest.Counts.Reports != 4 || res.Manifest.Filter.User != "user-0" {
		t.Fatalf("%s (%+v)", res.FirstFailure, res.Manifest)
	}
}

func TestHandlerErrors(t *testing.T) {
	broken := testSource(5)
	broken.err = errors.New("store unreachable")
	cases := []struct {
		name   string
		src    Source
		method string
		query  string
		status int
	}{
		{"bad time", testSource(1), "GET", "?since=last-tuesday", 400},
		{"store error", broken, "GET", "", 500},
		{"method", testSource(1), "POST", "", 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(c.src, &Exporter{Key: testKey(t, 1)}))
			defer srv.Close()
			req, _ := http.NewRequest(c.method, srv.URL+c.query, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if resp.StatusCode != c.status || json.Unmarshal(body, &e) != nil || e.Error.Code != c.status || e.Error.Message == "" {
				t.Errorf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
}

func TestPublicKeyHandler(t *testing.T) {
	pub := testKey(t, 1).Public().(ed25519.PublicKey)
	rec := httptest.NewRecorder()
	PublicKeyHandler(pub).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	got, err := ParsePublicKey(rec.Body.Bytes())
	if err != nil || !got.Equal(pub) || rec.Header().Get("X-AUP-Key-Fingerprint") != Fingerprint(pub) {
		t.Errorf("%v %v", err, rec.Header())
	}
}
