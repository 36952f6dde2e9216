package detect

import (
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
