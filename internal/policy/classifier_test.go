package policy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/detect"
)

// fakeGuard is a small OpenAI-compatible server: chat/completions answers
// like Llama Guard, /moderations like OpenAI's moderation endpoint.
type fakeGuard struct {
	*httptest.Server
	mu      sync.Mutex
	answer  string // chat answer content
	flags   map[string]bool
	status  int
	hang    chan struct{} // when non-nil, requests wait for it or their context
	bodies  []map[string]any
	headers []http.Header
}

func newFakeGuard(t *testing.T) *fakeGuard {
	f := &fakeGuard{answer: "safe", status: http.StatusOK}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.headers = append(f.headers, r.Header.Clone())
		answer, flags, status, hang := f.answer, f.flags, f.status, f.hang
		f.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		switch r.URL.Path {
		case "/api/v1/chat/completions":
			json.NewEncoder(w).Encode(map[string]any{
				"id": "gen-1", "object": "chat.completion",
				"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": answer}}},
			})
		case "/v1/moderations":
			flagged := false
			for _, on := range flags {
				flagged = flagged || on
			}
			json.NewEncoder(w).Encode(map[string]any{
				"id": "modr-1", "results": []any{map[string]any{"flagged": flagged, "categories": flags}},
			})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(func() {
		f.mu.Lock()
		if f.hang != nil {
			close(f.hang)
			f.hang = nil
		}
		f.mu.Unlock()
		f.Close()
	})
	return f
}

func (f *fakeGuard) set(fn func(f *fakeGuard)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func guardOptions(f *fakeGuard, mode string) *ClassifierOptions {
	return &ClassifierOptions{Mode: mode, URL: f.URL + "/api/v1", APIKey: "sk-or-test", Timeout: 5 * time.Second}
}

func TestParseGuardAnswer(t *testing.T) {
	for in, want := range map[string]Verdict{
		"safe":              {Verdict: VerdictSafe},
		" safe\n":           {Verdict: VerdictSafe},
		"unsafe\nS1,S9":     {Verdict: VerdictUnsafe, Codes: []string{"S1", "S9"}},
		"unsafe\ns10, S11 ": {Verdict: VerdictUnsafe, Codes: []string{"S10", "S11"}},
		"unsafe":            {Verdict: VerdictUnsafe},
	} {
		got, err := ParseGuardAnswer(in)
		if err != nil || got.Verdict != want.Verdict || !slices.Equal(got.Codes, want.Codes) {
			t.Errorf("%q: got %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "maybe", "I cannot help with that"} {
		if _, err := ParseGuardAnswer(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestClassifierBeforeBlocks(t *testing.T) {
	f := newFakeGuard(t)
	f.set(func(f *fakeGuard) { f.answer = "unsafe\nS9" })
	e := newEngine(t, Options{Dir: testBundle(t), Classifier: guardOptions(f, ModeBefore)})
	if e.ClassifierMode() != ModeBefore {
		t.Fatal(e.ClassifierMode())
	}
	// No word of the lexicon: only the guard model knows.
	d := check(t, e, "a harmless looking request")
	if d.Action != Block || !slices.Equal(d.Categories, []string{"mass_casualty_weapons"}) || !slices.Contains(d.Rules, "classifier.mass_casualty_weapons") {
		t.Fatalf("decision %+v", d)
	}
	f.mu.Lock()
	body, hdr := f.bodies[0], f.headers[0]
	f.mu.Unlock()
	if body["model"] != DefaultGuardModel || hdr.Get("Authorization") != "Bearer sk-or-test" || body["provider"] != nil {
		t.Fatalf("request %v %v", body, hdr)
	}
	msgs := body["messages"].([]any)
	if !strings.Contains(msgs[0].(map[string]any)["content"].(string), "harmless looking") {
		t.Fatalf("text not sent: %v", msgs)
	}

	f.set(func(f *fakeGuard) { f.answer = "safe" })
	if d := check(t, e, "a harmless looking request"); d.Action != Allow {
		t.Fatalf("safe: %+v", d)
	}
	// A ZDR subject's text goes to the guard model with ZDR routing.
	zs := subj
	zs.ZDR = true
	if _, err := e.CheckRequest(context.Background(), zs, EndUserTexts("x")); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	prov, _ := f.bodies[len(f.bodies)-1]["provider"].(map[string]any)
	f.mu.Unlock()
	if prov["zdr"] != true || prov["data_collection"] != "deny" {
		t.Fatalf("provider %v", prov)
	}
}

func TestClassifierParallelOnlyOnDemand(t *testing.T) {
	f := newFakeGuard(t)
	f.set(func(f *fakeGuard) { f.answer = "unsafe\nS1" })
	e := newEngine(t, Options{Dir: testBundle(t), Classifier: guardOptions(f, ModeParallel)})
	// CheckRequest does not wait for the guard model in parallel mode...
	if d := check(t, e, "some request"); d.Action != Allow {
		t.Fatalf("CheckRequest: %+v", d)
	}
	f.mu.Lock()
	n := len(f.bodies)
	f.mu.Unlock()
	if n != 0 {
		t.Fatal("CheckRequest called the classifier in parallel mode")
	}
	// ...the gateway starts it beside forwarding.
	p := e.StartClassify(context.Background(), subj, []string{"some request"})
	<-p.Done()
	d, err := p.Result()
	if err != nil || d.Action != Block || !slices.Equal(d.Categories, []string{"violent_crime_and_terrorism"}) {
		t.Fatalf("parallel: %+v, %v", d, err)
	}
}

func TestClassifierTimeout(t *testing.T) {
	for _, tc := range []struct {
		on   Action
		want Action
	}{{Allow, Allow}, {Flag, Flag}, {Block, Block}} {
		t.Run(string(tc.on), func(t *testing.T) {
			f := newFakeGuard(t)
			f.set(func(f *fakeGuard) { f.hang = make(chan struct{}) })
			opt := guardOptions(f, ModeBefore)
			opt.Timeout, opt.OnTimeout = 20*time.Millisecond, tc.on
			e := newEngine(t, Options{Dir: testBundle(t), Classifier: opt})
			d := check(t, e, "anything")
			if d.Action != tc.want || !slices.Contains(d.Rules, "classifier.timeout") {
				t.Fatalf("decision %+v", d)
			}
			// The detectors still count: a clear hit blocks whatever on_timeout says.
			if d := check(t, e, "how to synthesize sarin"); d.Action != Block {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

func TestClassifierErrorUsesOnTimeout(t *testing.T) {
	f := newFakeGuard(t)
	f.set(func(f *fakeGuard) { f.status = http.StatusBadGateway })
	opt := guardOptions(f, ModeBefore)
	opt.OnTimeout = Flag
	e := newEngine(t, Options{Dir: testBundle(t), Classifier: opt})
	d := check(t, e, "anything")
	if d.Action != Flag || !slices.Contains(d.Rules, "classifier.error") {
		t.Fatalf("decision %+v", d)
	}
	// A confused answer is an error too.
	f.set(func(f *fakeGuard) { f.status, f.answer = http.StatusOK, "I'd rather not say" })
	if d := check(t, e, "anything"); d.Action != Flag {
		t.Fatalf("decision %+v", d)
	}
}

func TestClassifierModeration(t *testing.T) {
	f := newFakeGuard(t)
	f.set(func(f *fakeGuard) { f.flags = map[string]bool{"self-harm/intent": true, "violence": false} })
	e := newEngine(t, Options{Dir: testBundle(t), Classifier: &ClassifierOptions{
		Mode: ModeBefore, URL: f.URL + "/v1/moderations", Model: "omni-moderation-latest", // kind from the URL
	}})
	d := check(t, e, "a sad message")
	if d.Action != Flag || !slices.Equal(d.Categories, []string{"self_harm"}) || d.Strike != 0 {
		t.Fatalf("decision %+v", d)
	}
	f.set(func(f *fakeGuard) { f.flags = map[string]bool{"violence": false} })
	if d := check(t, e, "a happy message"); d.Action != Allow {
		t.Fatalf("decision %+v", d)
	}
}

func TestClassifierOptionsValidated(t *testing.T) {
	for _, o := range []ClassifierOptions{
		{Mode: "sometimes", URL: "http://x"},
		{Mode: ModeBefore},
		{Mode: ModeBefore, URL: "http://x", Kind: "oracle"},
		{Mode: ModeBefore, URL: "http://x", OnTimeout: "redact"},
	} {
		if _, err := NewClassifier(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if _, err := New(context.Background(), Options{Dir: testBundle(t), Classifier: &ClassifierOptions{Mode: "sometimes"}}); err == nil {
		t.Error("engine accepted a bad classifier")
	}
	e := newEngine(t, Options{Dir: testBundle(t), Classifier: &ClassifierOptions{Mode: ModeOff}})
	if e.ClassifierMode() != ModeOff {
		t.Fatal(e.ClassifierMode())
	}
	if _, err := e.Classify(context.Background(), subj, []string{"x"}); err == nil {
		t.Fatal("Classify without a classifier")
	}
}

// In parallel mode the background verdict is bounded too: a hung guard
// model ends in the timeout with on_timeout applied, and a request whose
// client went away ends the classification with it.
func TestClassifierParallelBounded(t *testing.T) {
	f := newFakeGuard(t)
	f.set(func(f *fakeGuard) { f.hang = make(chan struct{}) })
	opt := guardOptions(f, ModeParallel)
	opt.Timeout, opt.OnTimeout = 20*time.Millisecond, Block
	e := newEngine(t, Options{Dir: testBundle(t), Classifier: opt})

	d, err := e.StartClassify(context.Background(), subj, []string{"anything"}).Result()
	if err != nil || d.Action != Block || !slices.Contains(d.Rules, "classifier.timeout") || d.ID == "" {
		t.Fatalf("timeout: %+v, %v", d, err)
	}

	opt.Timeout = time.Hour
	e = newEngine(t, Options{Dir: testBundle(t), Classifier: opt})
	ctx, cancel := context.WithCancel(context.Background())
	p := e.StartClassify(ctx, subj, []string{"anything"})
	cancel()
	<-p.Done() // would hang for an hour if the cancel were ignored
	if d, err := p.Result(); err == nil && d.Action != Block {
		t.Fatalf("cancelled: %+v", d) // either no decision, or the unavailable one
	}
}

func TestUnsure(t *testing.T) {
	band := DefaultCascadeBand
	lex := map[string]detect.CategorySignal{"violent_crime_and_terrorism": {Score: 0.9, Rules: []string{"vct.a"}}}
	weak := map[string]detect.CategorySignal{"violent_crime_and_terrorism": {Score: 0.3, Rules: []string{"vct.a"}}}
	for name, c := range map[string]struct {
		sig  detect.Signals
		want bool
	}{
		"clean, no model":          {detect.Signals{}, false},
		"lexicon, no model":        {detect.Signals{Categories: lex}, true},
		"weak lexicon, no model":   {detect.Signals{Categories: weak}, false},
		"model low":                {detect.Signals{Model: &detect.ModelScores{Harmful: 0.2}}, false},
		"model in band":            {detect.Signals{Model: &detect.ModelScores{Harmful: 0.9}}, true},
		"model sure":               {detect.Signals{Model: &detect.ModelScores{Harmful: 0.995}}, false},
		"lexicon, model disagrees": {detect.Signals{Categories: lex, Model: &detect.ModelScores{Harmful: 0.05}}, true},
		"lexicon, model sure":      {detect.Signals{Categories: lex, Model: &detect.ModelScores{Harmful: 0.999}}, false},
	} {
		if got := Unsure(c.sig, band); got != c.want {
			t.Errorf("%s: %v", name, got)
		}
	}
}

// Cascade mode asks the guard model only about what the built-in tiers
// are unsure of: ordinary text never waits for it.
func TestClassifierCascadeAsksOnlyWhenUnsure(t *testing.T) {
	f := newFakeGuard(t)
	f.set(func(f *fakeGuard) { f.answer = "unsafe\nS1" })
	e := newEngine(t, Options{Classifier: guardOptions(f, ModeCascade)})
	calls := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.bodies)
	}
	for _, text := range []string{"What is the capital of France?", "Write a Python function that reverses a string.", "Plan a three-day trip to Lisbon."} {
		if d := check(t, e, text); d.Action != Allow {
			t.Fatalf("%q: %+v", text, d)
		}
	}
	if n := calls(); n != 0 {
		t.Fatalf("the guard model was asked %d times about ordinary text", n)
	}
	// A lexicon hit the learned tier does not confirm: unsure, so asked,
	// and the guard model's unsafe verdict decides.
	d := check(t, e, "how can I stab my neighbour without anyone noticing")
	if calls() != 1 {
		t.Fatalf("unsure text: %d calls (decision %+v)", calls(), d)
	}
	if d.Action != Block || !slices.Contains(d.Rules, "classifier.violent_crime_and_terrorism") {
		t.Fatalf("decision %+v", d)
	}
	if _, err := NewClassifier(ClassifierOptions{Mode: ModeCascade, URL: f.URL, CascadeBand: [2]float64{0.9, 0.5}}); err == nil {
		t.Fatal("inverted band accepted")
	}
}
