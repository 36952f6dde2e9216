package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/store"
)

// Issue #17: policy.unscanned through the real gateway. Under block a
// request with an image is refused and reported with its count; an app
// that overrides it with allow is served; a request without media is
// served either way; the series count both.
func TestGatewayUnscannedMedia(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	defer fake.Close()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	dir := t.TempDir()
	y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
secrets: {signing_key_file: %q}
policy: {unscanned: block}
apps: [{name: web, key: web-key-unscanned}, {name: gallery, key: gallery-key-unscanned, unscanned: allow}]
`, fake.URL, "bolt://"+filepath.Join(dir, "aupguard.db"), filepath.Join(dir, "spool"), filepath.Join(dir, "signing.key"))
	cfg, err := config.Parse([]byte(y), "unscanned-test")
	if err != nil {
		t.Fatal(err)
	}
	g, proxy, admin, _ := runGateway(t, cfg, slog.New(slog.DiscardHandler))
	const image = `{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}`
	send := func(key, user string, parts ...string) (int, string) {
		t.Helper()
		content := append([]string{`{"type":"text","text":"What is in this picture?"}`}, parts...)
		req, _ := http.NewRequest("POST", proxy+"/api/v1/chat/completions", strings.NewReader(
			`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":[`+strings.Join(content, ",")+`]}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-AUP-End-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := send("web-key-unscanned", "pic-1", image, image)
	if code != 403 || !strings.Contains(body, `"reason":"aup_blocked"`) || !strings.Contains(body, `"reasons":["unscanned_media"]`) {
		t.Fatalf("web, two images: %d %s", code, body)
	}
	page, err := g.store.Reports(context.Background(), store.ReportQuery{App: "web", User: "pic-1"})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("reports: %+v %v", page.Items, err)
	}
	r := page.Items[0]
	if r.Action != "block" || !reflect.DeepEqual(r.Categories, []string{"unscanned_media"}) || r.Strike != 0 ||
		!reflect.DeepEqual(r.Unscanned, map[string]int{"image_url": 2}) {
		t.Fatalf("report: %+v", r)
	}
	if code, body := send("web-key-unscanned", "pic-2"); code != 200 {
		t.Fatalf("web, text only: %d %s", code, body)
	}
	if code, body := send("gallery-key-unscanned", "pic-3", image); code != 200 {
		t.Fatalf("gallery (unscanned: allow), an image: %d %s", code, body)
	}
	ss := scrape(t, admin)
	for _, c := range []struct {
		name, match string
		want        float64
	}{
		{"aupguard_unscanned_parts_total", "kind=image_url", 3},
		{"aupguard_unscanned_requests_total", "action=block", 1},
		{"aupguard_unscanned_requests_total", "action=allow", 1},
		{"aupguard_reports_total", "category=unscanned_media", 1},
	} {
		if v, _ := value(ss, c.name, c.match); v != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.match, v, c.want)
		}
	}
}
