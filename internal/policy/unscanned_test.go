package policy

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/detect"
)

func TestUnscannedInput(t *testing.T) {
	s := subj
	s.NonText = map[string]int{"image_url": 2, "file": 1, "reasoning.encrypted": 4}
	in := inputValue(s, detect.Signals{}, nil).String()
	if !strings.Contains(in, `"unscanned": {"file": 1, "image_url": 2, "total": 3}`) {
		t.Fatalf("input.unscanned: %s", in)
	}
	if got := Unscanned(s.NonText); !reflect.DeepEqual(got, map[string]int{"image_url": 2, "file": 1}) {
		t.Fatalf("Unscanned = %v", got)
	}
	// Encrypted reasoning alone is not unscanned media.
	if Unscanned(map[string]int{"reasoning.encrypted": 1, "redacted_thinking": 1}) != nil || hasUnscanned(map[string]int{"reasoning.encrypted": 1}) {
		t.Fatal("encrypted reasoning counted as unscanned")
	}
	if in := inputValue(subj, detect.Signals{}, nil).String(); !strings.Contains(in, `"unscanned": {"total": 0}`) {
		t.Fatalf("no media: %s", in)
	}
	if subjectFields[nonTextField] != "non_text" {
		t.Fatalf("nonTextField points at %q", subjectFields[nonTextField])
	}
}

// Under flag or block a signal-free request with media is never fast-
// pathed to allow, yet the fast path stays on for everything else, and
// the memo tells a request with media from one without.
func TestUnscannedNeverFastPathed(t *testing.T) {
	ctx := context.Background()
	media := subj
	media.NonText = map[string]int{"image_url": 2}
	for _, opt := range []Options{
		{Unscanned: "block"},
		{AppUnscanned: map[string]string{"web": "block"}},
		{Unscanned: "flag", AppUnscanned: map[string]string{"kids": "allow"}},
	} {
		e := newEngine(t, opt)
		st := e.cur.Load()
		if !st.fast || !st.unscannedActs {
			t.Fatalf("%+v: fast %v, unscannedActs %v", opt, st.fast, st.unscannedActs)
		}
		want := Block
		if opt.Unscanned == "flag" {
			want = Flag
		}
		for range 2 { // the second time from the memo
			d, err := e.Decide(ctx, media, detect.Signals{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != want || !reflect.DeepEqual(d.Categories, []string{UnscannedCategory}) || d.Strike != 0 || d.Escalation != "" ||
				!reflect.DeepEqual(d.Unscanned, map[string]int{"image_url": 2}) {
				t.Fatalf("%+v: media decided %+v", opt, d)
			}
			plain, err := e.Decide(ctx, subj, detect.Signals{}, nil, nil)
			if err != nil || plain.Action != Allow || plain.Unscanned != nil {
				t.Fatalf("%+v: no media decided %+v, %v", opt, plain, err)
			}
		}
		// With a signal below every threshold both go through the memo,
		// which must tell them apart.
		weak := detect.Signals{Categories: map[string]detect.CategorySignal{"hate_and_harassment": {Score: 0.01}}}
		for _, c := range []struct {
			s    Subject
			want Action
		}{{media, want}, {subj, Allow}, {media, want}, {subj, Allow}} {
			if d, err := e.Decide(ctx, c.s, weak, nil, nil); err != nil || d.Action != c.want {
				t.Fatalf("%+v: weak signal, non_text %v: %+v %v", opt, c.s.NonText, d, err)
			}
		}
		kids := media
		kids.App = "kids"
		d, err := e.Decide(ctx, kids, detect.Signals{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantKids := want
		if opt.AppUnscanned["kids"] == "allow" || opt.Unscanned == "" {
			wantKids = Allow
		}
		if d.Action != wantKids {
			t.Fatalf("%+v: app kids got %s, want %s", opt, d.Action, wantKids)
		}
	}
	// The default lets media through on the fast path, counted.
	e := newEngine(t, Options{})
	if st := e.cur.Load(); !st.fast || st.unscannedActs {
		t.Fatalf("default: fast %v, unscannedActs %v", st.fast, st.unscannedActs)
	}
	d, err := e.Decide(ctx, media, detect.Signals{}, nil, nil)
	if err != nil || d.Action != Allow || d.Unscanned["image_url"] != 2 {
		t.Fatalf("default: %+v %v", d, err)
	}
}

// A bundle whose data (not the engine's options) asks for block counts too.
func TestUnscannedFromData(t *testing.T) {
	dir := testBundle(t)
	name := filepath.Join(dir, "aup", dataFile)
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	src = []byte(strings.Replace(string(src), `"unscanned": {"action": "allow"`, `"unscanned": {"action": "block"`, 1))
	if err := os.WriteFile(name, src, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{Dir: dir})
	media := subj
	media.NonText = map[string]int{"input_audio": 1}
	d, err := e.Decide(context.Background(), media, detect.Signals{}, nil, nil)
	if err != nil || d.Action != Block {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestUnscannedValidated(t *testing.T) {
	for _, c := range []struct {
		data, want string
	}{
		{`"unscanned": {"action": "blok"}`, `data.aup.unscanned.action blok: want allow, flag or block`},
		{`"unscanned": {"action": "redact"}`, `want allow, flag or block`},
		{`"unscanned": {"action": "flag", "strike": -1}`, `data.aup.unscanned.strike -1: want a number >= 0`},
		{`"unscanned": {"action": "flag", "severity": "huge"}`, `severity huge`},
		{`"unscanned": {"action": "flag", "strikes": 1}`, `unknown key "strikes"`},
		{`"unscanned": "block"`, `data.aup.unscanned: want an object`},
		{`"unscanned": {"action": "allow"}, "apps": {"kids": {"unscanned": {"action": "deny"}}}`, `data.aup.apps.kids.unscanned.action deny`},
	} {
		dir := testBundle(t)
		name := filepath.Join(dir, "aup", dataFile)
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(src), `"unscanned": {"action": "allow", "strike": 0, "severity": "low"}`, c.data, 1)
		if strings.Contains(c.data, `"apps"`) {
			s = strings.Replace(s, `"apps": {},`, "", 1)
		}
		if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = New(context.Background(), Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.data, err, c.want)
		}
	}
	if _, err := New(context.Background(), Options{Unscanned: "refuse"}); err == nil || !strings.Contains(err.Error(), "want allow, flag or block") {
		t.Errorf("option refuse: %v", err)
	}
}
