package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// In ZDR mode an upstream moderation refusal reaches the client without
// flagged_input (the start of the prompt); everything else in it is kept,
// the reasons still reach OnModeration, and Content-Length matches.
func TestDropFlaggedInput(t *testing.T) {
	const e = `{"error":{"code":403,"message":"flagged","metadata":{"reasons":["violence"],"flagged_input":"secret prompt text","provider_name":"OpenAI"}}}`
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		io.WriteString(w, e)
	})
	p := newProxy(t, up.URL, nil)
	for _, drop := range []bool{true, false} {
		var got []string
		fr := front(t, p, func(r *http.Request) *Call {
			return &Call{Rel: "chat/completions", Body: []byte("{}"), DropFlaggedInput: drop,
				OnModeration: func(rs []string) { got = rs }}
		})
		resp, err := http.Post(fr.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !drop {
			if string(b) != e {
				t.Fatalf("without ZDR the refusal changed: %s", b)
			}
			continue
		}
		var doc struct {
			Error struct {
				Code     int
				Metadata map[string]any
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil || resp.StatusCode != 403 || doc.Error.Code != 403 {
			t.Fatalf("%d %s %v", resp.StatusCode, b, err)
		}
		if strings.Contains(string(b), "secret prompt") || doc.Error.Metadata["provider_name"] != "OpenAI" ||
			resp.ContentLength != int64(len(b)) {
			t.Fatalf("refusal in ZDR mode: %s (content-length %d)", b, resp.ContentLength)
		}
		if len(got) != 1 || got[0] != "violence" {
			t.Fatalf("moderation reasons %v", got)
		}
	}
	// Bodies without the field, or not JSON, are passed on untouched.
	for _, body := range []string{`{"error":{"code":403,"message":"no"}}`, `not json`} {
		if _, ok := dropFlaggedInput([]byte(body)); ok {
			t.Fatalf("changed %s", body)
		}
	}
}
