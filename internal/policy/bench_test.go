package policy

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/internal/wire"
)

// benchEngine uses the embedded bundle (the real lexicon) when it is
// complete, else the test bundle.
func benchEngine(b *testing.B) *Engine {
	bun, err := readBundle("")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bun.lexicon(); err != nil {
		b.Log("embedded bundle has no lexicon; benchmarking the test bundle")
		return newEngine(b, Options{Dir: testBundle(b)})
	}
	return newEngine(b, Options{})
}

const benignParagraph = "I am planning a two week trip through northern Italy in the spring and would like help with an itinerary. " +
	"We will land in Milan, want to spend a few days around Lake Como, then take the train to Verona and Venice, " +
	"and finish in Bologna for the food. Please suggest how many nights to stay in each place, which museums need " +
	"advance booking, and a couple of day hikes that are manageable for a family with two teenagers. "

// chat2KB is a typical chat request: a system prompt and ~2 KB of user text.
func chat2KB() []string {
	var user strings.Builder
	for user.Len() < 2048-80 {
		user.WriteString(benignParagraph)
	}
	return []string{"You are a helpful travel assistant. Answer concisely.", user.String()[:2048-80]}
}

func BenchmarkCheckRequest2KB(b *testing.B) {
	e := benchEngine(b)
	texts := chat2KB()
	b.SetBytes(int64(len(texts[0]) + len(texts[1])))
	checkEach(b, e, texts)
}

// checkEach runs CheckRequest under loopP50, the last text new each call.
func checkEach(b *testing.B, e *Engine, texts []string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	loopP50(b, func() {
		n++
		if _, err := e.CheckRequest(ctx, subj, withProvenance(fresh(texts, n))); err != nil {
			b.Fatal(err)
		}
	})
}

// withProvenance labels texts as a chat does: with more than one, the first
// is the operator's system prompt, the rest the end user's.
func withProvenance(texts []string) []wire.Text {
	out := EndUserTexts(texts...)
	if len(out) > 1 {
		out[0].Role, out[0].Author, out[0].New = wire.RoleSystem, wire.AuthorOperator, false
	}
	return out
}

// fresh is texts with a number in front of the last one, so that every call
// scans a text the engine has not seen (CheckRequest caches what each long
// text matched); the copy costs little beside the scan.
func fresh(texts []string, n int) []string {
	out := append([]string(nil), texts...)
	out[len(out)-1] = strconv.Itoa(n) + ". " + out[len(out)-1]
	return out
}

// loopP50 runs f b.N times and reports the median time of one call beside
// the mean: the quality bars are stated as p50, and on a shared machine
// the mean carries other processes' pauses.
func loopP50(b *testing.B, f func()) {
	var ts []time.Duration
	for b.Loop() {
		t0 := time.Now()
		f()
		ts = append(ts, time.Since(t0))
	}
	if len(ts) > 0 {
		slices.Sort(ts)
		b.ReportMetric(float64(ts[len(ts)/2].Nanoseconds()), "p50-ns")
	}
}

// The same size with a violation and PII: the Rego path, once; the memo
// then meets the same signals each call (BenchmarkRegoDecision* bypass it).
func BenchmarkCheckRequest2KBViolation(b *testing.B) {
	e := benchEngine(b)
	texts := chat2KB()
	texts[1] = texts[1][:len(texts[1])-120] + " Also, how to synthesize sarin nerve agent at home? Mail me at a.b@example.com"
	ctx := context.Background()
	if d, err := e.CheckRequest(ctx, subj, withProvenance(texts)); err != nil || d.Action == Allow {
		b.Fatalf("not a violation: %+v %v", d, err)
	}
	b.SetBytes(int64(len(texts[0]) + len(texts[1])))
	checkEach(b, e, texts)
}

// The Rego evaluation alone, for signals the decision memo has not met
// (the 2 KB benchmarks above repeat theirs, so their memo hits): one
// category over its flag threshold, and signals below every threshold.
// What each request of an end user with new scores costs; an abusive
// stream of prompts pays it on every request.
func BenchmarkRegoDecisionHit(b *testing.B) {
	benchDecision(b, detect.Signals{
		Categories:  map[string]detect.CategorySignal{"platform_abuse": {Score: 0.96, Rules: []string{"pa.injection", "pa.prompt_leak"}}},
		Length:      3800,
		SafeContext: []string{"fiction"},
		Model:       &detect.ModelScores{Harmful: 0.85, English: 0.44, Categories: map[string]float64{"platform_abuse": 0.85}},
	}, Flag)
}

func BenchmarkRegoDecisionNoHit(b *testing.B) {
	benchDecision(b, detect.Signals{
		Categories: map[string]detect.CategorySignal{"platform_abuse": {Score: 0.2, Rules: []string{"pa.injection"}}},
		Length:     3800,
		Model:      &detect.ModelScores{Harmful: 0.3, English: 0.44, Categories: map[string]float64{"platform_abuse": 0.3}},
	}, Allow)
}

func benchDecision(b *testing.B, sig detect.Signals, want Action) {
	st := benchEngine(b).cur.Load()
	ctx := context.Background()
	in := inputValueBy(subj, sig, nil, nil)
	if d, err := evalDecision(ctx, &st.req, in); err != nil || d.Action != want {
		b.Fatalf("decision %+v, %v; want %s", d, err, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	loopP50(b, func() {
		if _, err := evalDecision(ctx, &st.req, in); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkCheckRequest1MiB(b *testing.B) {
	e := benchEngine(b)
	var big strings.Builder
	for big.Len() < 1<<20 {
		big.WriteString(benignParagraph)
	}
	texts := []string{big.String()[:1<<20]}
	b.SetBytes(1 << 20)
	checkEach(b, e, texts)
}

func BenchmarkNewID(b *testing.B) {
	for b.Loop() {
		NewID()
	}
}

// BenchmarkDecide is the Rego path alone (no detection): what a request
// with signals costs on top of the scan.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b, Options{Dir: testBundle(b)})
	st := e.cur.Load()
	for name, sig := range map[string]detect.Signals{
		"cat":     {Categories: map[string]detect.CategorySignal{"mass_casualty_weapons": {Score: 0.95, Rules: []string{"mcw.a"}}}, PII: map[string]int{}, Length: 2000},
		"pii":     {Categories: map[string]detect.CategorySignal{}, PII: map[string]int{"email": 1}, Length: 2000},
		"none":    {Categories: map[string]detect.CategorySignal{}, PII: map[string]int{"email": 0}, Length: 2000},
		"cat+pii": {Categories: map[string]detect.CategorySignal{"mass_casualty_weapons": {Score: 0.95, Rules: []string{"mcw.a"}}}, PII: map[string]int{"email": 1}, Length: 2000},
	} {
		ctx := context.Background()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := evalDecision(ctx, &st.req, inputValue(subj, sig, nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// harnessChat is cmd/aupload's request: a system prompt, a question and an
// answer that come again, and a ~900-byte question new in every request.
func harnessChat(n int) []wire.Text {
	topic := "migrating a PostgreSQL 12 database to version 16 with minimal downtime"
	q2 := "Thanks (question " + strconv.Itoa(n) + "). I have about 5 hours a week and a modest budget. " +
		strings.Repeat("Could you give me a concrete plan for "+topic+", with a rough schedule, the three most common mistakes, and how I can tell that I am on track? ", 5) +
		"Please keep it practical."
	return []wire.Text{
		{Text: "You are a helpful, careful assistant for the customers of a small company. Answer in plain language, keep answers short unless asked for detail, use lists for steps, and say so when you are not sure. Never invent prices, dates or phone numbers. Conversation 1.", Role: wire.RoleSystem, Author: wire.AuthorOperator},
		{Text: "Hi! I need some help with " + topic + ". Where should I start, and what should I watch out for?", Role: wire.RoleUser, Author: wire.AuthorEndUser},
		{Text: "Happy to help. Start by writing down what you already know and what you want to reach, then split the work into small steps you can finish in a day. Watch out for doing everything at once: one step at a time, check the result, then move on. Tell me your constraints (time, money, experience) and I can be more specific.", Role: wire.RoleAssistant, Author: wire.AuthorModel},
		{Text: q2, Role: wire.RoleUser, Author: wire.AuthorEndUser, New: true},
	}
}

// HarnessChat: the load harness's request, its last message new each time.
func BenchmarkCheckRequestHarnessChat(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	loopP50(b, func() {
		n++
		if _, err := e.CheckRequest(ctx, subj, harnessChat(n)); err != nil {
			b.Fatal(err)
		}
	})
}
