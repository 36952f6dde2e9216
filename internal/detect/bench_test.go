package detect

import (
	"strconv"
	"strings"
	"testing"
)

// chat2KB is a realistic 2 KB chat request: a system prompt, a few turns,
// some PII and one harmful sentence.
func chat2KB() []string {
	sys := "You are a helpful assistant for Example Corp. Answer questions about our products politely and concisely. " +
		"Never reveal internal information. If you do not know the answer, say so and offer to connect the user with support. "
	turns := []string{
		sys,
		"Hi! I ordered a blender last week (order 88231) and it still hasn't arrived. My email is jane.doe@example.com and my phone is +1 415 555 0100.",
		"I'm sorry to hear that. Let me check the status of order 88231 for you. It shows the package left our warehouse on Monday.",
		"Thanks. Also, how do I reset the password for my account? I forgot it and the reset email never came.",
		"You can reset it from the login page by clicking 'Forgot password'. If the email doesn't arrive, check your spam folder.",
		"Great. One more thing: my neighbour keeps parking in my spot and honestly I want to hurt him, how do I slash his tires without getting caught?",
	}
	var b strings.Builder
	for b.Len() < 2048 {
		for _, t := range turns {
			b.WriteString(t)
			b.WriteByte('\n')
		}
	}
	s := b.String()[:2048]
	// split back into turns of similar size
	return []string{s[:400], s[400:900], s[900:1400], s[1400:]}
}

func BenchmarkScan2KB(b *testing.B) {
	d := bundled(b)
	texts := chat2KB()
	b.SetBytes(2048)
	b.ReportAllocs()
	for b.Loop() {
		d.Scan(texts)
	}
}

func BenchmarkScan1MiB(b *testing.B) {
	d := bundled(b)
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		for _, t := range chat2KB() {
			sb.WriteString(t)
		}
	}
	text := []string{sb.String()[:1<<20]}
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		d.Scan(text)
	}
}

func BenchmarkNormalize2KB(b *testing.B) {
	s := strings.Join(chat2KB(), "\n")
	var n normalizer
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		n.reset()
		n.add(s)
		n.finish()
	}
}

func BenchmarkRedact2KB(b *testing.B) {
	s := strings.Join(chat2KB(), "\n")
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		Redact(s, nil)
	}
}

func BenchmarkCompile(b *testing.B) {
	bundled(b)
	data := mustLexicon(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(data); err != nil {
			b.Fatal(err)
		}
	}
}

// chatTurn is a chat's fourth request: the system prompt and two earlier
// turns come again, the last message is new.
func chatTurn(i int) []string {
	return []string{
		"You are a helpful, careful assistant for the customers of a small company. Answer in plain language, keep answers short unless asked for detail, use lists for steps, and say so when you are not sure.",
		"Hi! I need some help with preparing for a half marathon in twelve weeks after a knee injury. Where should I start, and what should I watch out for?",
		"Happy to help. Start by writing down what you already know and what you want to reach, then split the work into small steps you can finish in a day. Watch out for doing everything at once.",
		"Thanks. I have about " + strconv.Itoa(i) + " hours a week and a modest budget. Could you give me a concrete plan, with a rough schedule, the three most common mistakes, and how I can tell that I am on track? Please keep it practical.",
	}
}

func BenchmarkScanChatTurn(b *testing.B) { benchChatTurns(b, bundled(b).Scan) }

func BenchmarkScanCachedChatTurn(b *testing.B) { benchChatTurns(b, bundled(b).ScanCached) }

func benchChatTurns(b *testing.B, scan func([]string) Signals) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		scan(chatTurn(i))
	}
}

// shortTurns is a chat of short end-user turns (each under 128 bytes),
// all of them sent again with every request, the last one new.
func shortTurns(i int) []string {
	return []string{
		"Hi! Can you help me plan a trip to Italy?",
		"We are two adults and two teenagers, ten days in May.",
		"Rome and Florence for sure. Maybe Venice?",
		"What about the trains between them, do we need to book ahead?",
		"And which museums need tickets in advance?",
		"Thanks! Last one: what should we pack, turn " + strconv.Itoa(i) + "?",
	}
}

// ShortTurnsCached: the history's short turns come again with each request.
func BenchmarkScanCachedShortTurns(b *testing.B) {
	d := bundled(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		d.ScanCached(shortTurns(i))
	}
}

// ScanShort: one short text, so what is measured is a scan's fixed cost
// (per list and rule of the lexicon, not per byte).
func BenchmarkScanShort(b *testing.B) {
	d := bundled(b)
	t := []string{"what about the trains?"}
	b.ReportAllocs()
	for b.Loop() {
		d.Scan(t)
	}
}
