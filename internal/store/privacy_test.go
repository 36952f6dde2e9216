package store

import (
	"errors"
	"testing"
	"time"
)

func TestRetentionPeriod(t *testing.T) {
	day := 24 * time.Hour
	rt := Retention{Default: 30 * day, Categories: map[string]time.Duration{"fraud": 90 * day, "spam": 10 * day, "cse": 0},
		Apps: map[string]time.Duration{"kids": 7 * day}}
	for _, tc := range []struct {
		app  string
		cats []string
		want time.Duration
	}{
		{"web", nil, 30 * day},
		{"kids", []string{"harassment"}, 7 * day},         // app rule
		{"kids", []string{"spam"}, 10 * day},              // a category rule wins over the app
		{"web", []string{"spam", "fraud"}, 90 * day},      // the longest category
		{"web", []string{"fraud", "cse"}, 0},              // for ever wins
		{"web", []string{"harassment", "spam"}, 10 * day}, // only categories with a rule count
	} {
		r := Report{App: tc.app, Categories: tc.cats}
		if got := rt.Period(&r); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.app, tc.cats, got, tc.want)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Report{App: "web", Time: t0}
	if rt.Expired(&r, t0.Add(30*day-time.Millisecond)) || !rt.Expired(&r, t0.Add(30*day)) {
		t.Error("expiry is not at Time + period")
	}
	if (Retention{}).Expired(&r, t0.Add(1000*day)) {
		t.Error("a zero retention expires records")
	}
	a := Action{Action: ActHold, Time: t0}
	if (Retention{Actions: day}).ActionExpired(&a, t0.Add(10*day)) {
		t.Error("hold records expire")
	}
}

func TestHoldsIndex(t *testing.T) {
	hs := NewHolds([]Hold{
		{Kind: HoldUser, App: "a", User: "u:1"},
		{Kind: HoldReport, ReportID: "r9"},
		{Kind: HoldCategory, Category: "cse"},
	})
	// Keys cannot be confused by separators inside ids.
	if !hs.User("a", "u:1") || hs.User("a:u", "1") || hs.User("b", "u:1") {
		t.Error("user hold")
	}
	for _, tc := range []struct {
		r    Report
		want string
	}{
		{Report{ID: "x", App: "a", User: "u:1"}, "user"},
		{Report{ID: "r9", App: "b", User: "v"}, "report"},
		{Report{ID: "y", App: "b", User: "v", Categories: []string{"spam", "cse"}}, "category:cse"},
		{Report{ID: "z", App: "b", User: "v", Categories: []string{"spam"}}, ""},
	} {
		if got := hs.Report(&tc.r); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
	for _, bad := range []Hold{
		{Kind: HoldUser, App: "a", Actor: "x", Reason: "r"},
		{Kind: HoldReport, Actor: "x", Reason: "r"},
		{Kind: "planet", Actor: "x", Reason: "r"},
		{Kind: HoldCategory, Category: "c", Actor: "x"},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestErasureActionHasNoUser(t *testing.T) {
	a := ErasureAction("id", time.Now(), EraseRequest{App: "web", User: "secret-user", Actor: "adm", Reason: "DSR 1", Subject: "hmac-sha256:ab", Spooled: 2},
		Erasure{Reports: 3, HeldReports: 1})
	if a.User != "" || a.Subject != "hmac-sha256:ab" || a.Counts["reports"] != 3 || a.Counts["spooled_reports"] != 2 || a.Counts["held_reports"] != 1 {
		t.Fatalf("%+v", a)
	}
}
