package evidence

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"time"
)

// Handler serves GET /admin/v1/export?since=&until=&app=&user=&category=
// with a bundle of src's records. Authentication and roles (auditor, admin)
// are the admin router's job. Store errors answer 500 with a JSON error,
// since Export writes nothing before it has read everything; a failure
// after the first byte leaves a bundle without its gzip trailer, which
// Verify rejects.
func Handler(src Source, x *Exporter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeJSONError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		now := time.Now
		if x.Now != nil {
			now = x.Now
		}
		f, err := FilterFromQuery(r.URL.Query(), now())
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		name := "aupguard-evidence-" + now().UTC().Format("20060102T150405Z") + ".tar.gz"
		lw := &lazyWriter{w: w, header: func(h http.Header) {
			h.Set("Content-Type", "application/gzip")
			h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
			h.Set("Cache-Control", "no-store")
		}}
		if _, err := x.Export(r.Context(), lw, src, f); err != nil && !lw.started {
			writeJSONError(w, http.StatusInternalServerError, err.Error())
		}
	})
}

// PublicKeyHandler serves the signing key's public half as PEM, for
// verifiers who fetch it once over a channel they trust.
func PublicKeyHandler(pub ed25519.PublicKey) http.Handler {
	body, err := MarshalPublicKeyPEM(pub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("X-AUP-Key-Fingerprint", Fingerprint(pub))
		w.Write(body)
	})
}

// lazyWriter sets the bundle's headers only when the first byte is written.
type lazyWriter struct {
	w       http.ResponseWriter
	header  func(http.Header)
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.header(l.w.Header())
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// writeJSONError uses OpenRouter's error shape, like the rest of aupguard.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": msg}})
}
