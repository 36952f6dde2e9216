package evidence

import (
	"net/url"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"2026-11-01":                time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T09:30:00+01:00": time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC),
		"2026-11-01T09:30:00.5Z":    time.Date(2026, 11, 1, 9, 30, 0, 5e8, time.UTC),
		"24h":                       now.Add(-24 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-24h", "2026-13-01", "d", "1.5d"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestFilterQueryRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f, err := FilterFromQuery(url.Values{"since": {"2026-11-01"}, "until": {"24h"}, "user": {"u 1"}, "category": {"fraud_scams"}, "app": {"web"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := Filter{Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Until: now.Add(-24 * time.Hour), App: "web", User: "u 1", Category: "fraud_scams"}
	if f != want {
		t.Errorf("got %+v", f)
	}
	back, err := FilterFromQuery(f.Query(), now)
	if err != nil || back != f {
		t.Errorf("round trip %+v, %v", back, err)
	}
	if _, err := FilterFromQuery(url.Values{"since": {"2026-11-02"}, "until": {"2026-11-01"}}, now); err == nil {
		t.Error("since after until accepted")
	}
	if _, err := FilterFromQuery(url.Values{"until": {"soon"}}, now); err == nil {
		t.Error("bad until accepted")
	}
}
