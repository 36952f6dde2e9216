package answer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

const phrase = "synthesize sarin"

var answerWithPhrase = "Sure. Here is how to synthesize sarin at home, step by step: first take"

// run streams in through a Checker and returns what the client got.
func run(t *testing.T, c *Checker, ep wire.Endpoint, in string, bufSize int) (out []byte, blocks []policy.Decision, body *trackBody) {
	t.Helper()
	body = &trackBody{Reader: strings.NewReader(in)}
	call := Call{Endpoint: ep, Subject: policy.Subject{App: "web", EndUser: "u1"},
		OnBlock: func(d policy.Decision) map[string]any { blocks = append(blocks, d); return nil }}
	r := c.Stream(context.Background(), call, body)
	out, err := smallReads(r, bufSize)
	if err != nil {
		t.Fatal(err)
	}
	// A cut closes upstream itself; a stream that ended does not need to.
	cut := bytes.Contains(out, []byte(`"finish_reason":"error"`)) && !bytes.Contains([]byte(in), []byte(`"finish_reason":"error"`))
	if closed := body.closed.Load(); cut && closed != 1 {
		t.Fatalf("cut without closing upstream (closed %d times)", closed)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return out, blocks, body
}

func TestStreamAllowedIsByteIdentical(t *testing.T) {
	chk := &phraseChecker{phrase: phrase}
	c := newChecker(t, chk, Options{Interval: 1})
	for _, tc := range []struct {
		name string
		ep   wire.Endpoint
		in   string
	}{
		{"chat", wire.EndpointChat, chatStream(split("A harmless answer about tea, brewed slowly.", 3))},
		{"tools", wire.EndpointChat, toolStream(split(`{"path":"notes.txt","text":"buy milk"}`, 5))},
		{"completions", wire.EndpointCompletions, completionsStream(split("once upon a time", 2))},
		{"responses", wire.EndpointResponses, responsesStream(split("hello there, general", 4))},
		{"messages", wire.EndpointMessages, messagesStream(split("hello there, general", 4))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, buf := range []int{7, 32 << 10} {
				out, blocks, body := run(t, c, tc.ep, tc.in, buf)
				if string(out) != tc.in {
					t.Fatalf("buffer %d: output differs from upstream:\n%q\n%q", buf, out, tc.in)
				}
				if len(blocks) != 0 || body.closed.Load() != 1 {
					t.Fatalf("blocks %d, closed %d", len(blocks), body.closed.Load())
				}
			}
		})
	}
	if chk.calls.Load() == 0 {
		t.Fatal("checker never called")
	}
}

func TestStreamCut(t *testing.T) {
	cases := []struct {
		name string
		ep   wire.Endpoint
		in   string
	}{
		{"one chunk", wire.EndpointChat, chatStream([]string{"Sure. ", "Here is how to synthesize sarin at home", ", step by step: first take"})},
		{"two chunks", wire.EndpointChat, chatStream([]string{"Sure. Here is how to synthe", "size sarin at home, step by step: first take"})},
		{"one-byte chunks", wire.EndpointChat, chatStream(split(answerWithPhrase, 1))},
		{"three-byte chunks", wire.EndpointChat, chatStream(split(answerWithPhrase, 3))},
		{"tool arguments", wire.EndpointChat, toolStream(split(`{"text":"`+answerWithPhrase+`"}`, 2))},
		{"reasoning", wire.EndpointChat, reasoningStream(split(answerWithPhrase, 4))},
		{"completions", wire.EndpointCompletions, completionsStream(split(answerWithPhrase, 2))},
		{"responses", wire.EndpointResponses, responsesStream(split(answerWithPhrase, 2))},
		{"messages", wire.EndpointMessages, messagesStream(split(answerWithPhrase, 5))},
	}
	for _, interval := range []int{1, DefaultInterval, 1 << 20} {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				chk := &phraseChecker{phrase: phrase}
				c := newChecker(t, chk, Options{Interval: interval})
				out, blocks, body := run(t, c, tc.ep, tc.in, 16)
				if len(blocks) != 1 {
					t.Fatalf("interval %d: OnBlock called %d times; out:\n%s", interval, len(blocks), out)
				}
				reason, id, reasons := streamErrorOf(t, out)
				if reason != "aup_blocked" || id != blocks[0].ID || len(reasons) != 1 || reasons[0] != "mass_casualty_weapons" {
					t.Fatalf("refusal %q %q %v", reason, id, reasons)
				}
				if bytes.Contains(out, []byte("[DONE]")) || bytes.Contains(out, []byte(`"finish_reason":"stop"`)) ||
					bytes.Contains(out, []byte("response.completed")) || bytes.Contains(out, []byte("message_stop")) {
					t.Fatalf("the end of the stream was released before the check:\n%s", out)
				}
				if body.closed.Load() != 1 {
					t.Fatalf("upstream body closed %d times", body.closed.Load())
				}
				// Nothing but the refusal was invented: the rest is a prefix of upstream.
				i := bytes.LastIndex(out, []byte("data: {\"object\":\"chat.completion.chunk\",\"error\""))
				if tc.ep == wire.EndpointMessages {
					i = bytes.LastIndex(out, []byte("event: error\n"))
				}
				if i < 0 || !strings.HasPrefix(tc.in, string(out[:i])) {
					t.Fatalf("output before the refusal is not upstream's prefix:\n%s", out)
				}
				if interval == 1 && chk.maxBytes > 2*DefaultWindow {
					t.Fatalf("a check saw %d bytes, window is %d", chk.maxBytes, DefaultWindow)
				}
			})
		}
	}
}

// messagesStream is an Anthropic Messages stream.
func messagesStream(pieces []string) string {
	var b strings.Builder
	ev := func(typ, data string) { b.WriteString("event: " + typ + "\ndata: " + data + "\n\n") }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_1","role":"assistant","content":[]}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for _, p := range pieces {
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+js(p)+`}}`)
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return b.String()
}

// With Interval 1, the chunk that completes the phrase is the last one the
// client gets: the check runs right after it is forwarded.
func TestStreamCutsRightAfterThePhrase(t *testing.T) {
	pieces := split(answerWithPhrase, 1)
	in := chatStream(pieces)
	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{Interval: 1})
	out, _, _ := run(t, c, wire.EndpointChat, in, 1<<10)
	end := strings.Index(answerWithPhrase, phrase) + len(phrase)
	want := chatStream(pieces[:end])
	want = want[:strings.Index(want, `data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"p","choices":[{"index":0,"delta":{},"finish_reason":"stop"`)]
	if !bytes.HasPrefix(out, []byte(want)) || bytes.Count(out, []byte("\n\n")) != strings.Count(want, "\n\n")+1 {
		t.Fatalf("got:\n%s\nwant the chunks up to the phrase then the refusal:\n%s", out, want)
	}
}

// A content event is handed out as soon as it is read, without waiting for
// the next one (the check of pending text comes later).
func TestStreamForwardsWithoutWaiting(t *testing.T) {
	pr, pw := io.Pipe()
	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{})
	r := c.Stream(context.Background(), Call{Endpoint: wire.EndpointChat}, pr)
	chunks := chatStream([]string{"first", "second"})
	events := strings.SplitAfter(chunks, "\n\n")
	go func() {
		for _, e := range events[:3] { // comment, role chunk, "first"
			_, _ = pw.Write([]byte(e))
		}
		// The writer now stalls: the reader must not need more.
	}()
	done := make(chan error, 1)
	go func() {
		got := ""
		buf := make([]byte, 64<<10)
		for got != strings.Join(events[:3], "") {
			n, err := r.Read(buf)
			if err != nil {
				done <- err
				return
			}
			got += string(buf[:n])
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("the reader waited for an event upstream has not sent")
	}
	_ = pw.CloseWithError(errors.New("done"))
	_ = r.Close()
}

func TestStreamLongEventAndWindowBound(t *testing.T) {
	for _, at := range []int{0, 5000, DefaultWindow - 5, 2*DefaultWindow - 7, 19000} {
		text := strings.Repeat("filler words ", 1600)[:20000]
		text = text[:at] + phrase + text[at:]
		chk := &phraseChecker{phrase: phrase}
		c := newChecker(t, chk, Options{})
		out, blocks, _ := run(t, c, wire.EndpointChat, chatStream([]string{text, "more"}), 32<<10)
		if len(blocks) != 1 {
			t.Fatalf("phrase at %d in one 20 KB chunk: not cut:\n%.300s", at, out)
		}
		if chk.maxBytes > 2*DefaultWindow {
			t.Fatalf("a check saw %d bytes, bound is %d", chk.maxBytes, 2*DefaultWindow)
		}
	}
}

func TestStreamWindowSlides(t *testing.T) {
	// 100 KB of small chunks, the phrase split near the end: found, and no
	// check ever saw much more than the window.
	body := strings.Repeat("lorem ipsum dolor sit amet ", 4000) + "and how to synth" + "esize sarin"
	chk := &phraseChecker{phrase: phrase}
	c := newChecker(t, chk, Options{Window: 256, Interval: 16})
	_, blocks, _ := run(t, c, wire.EndpointChat, chatStream(split(body, 7)), 32<<10)
	if len(blocks) != 1 {
		t.Fatal("not cut")
	}
	if chk.maxBytes > 256+16+7 {
		t.Fatalf("a check saw %d bytes", chk.maxBytes)
	}
	if n := chk.calls.Load(); n > int64(len(body)/16)+2 {
		t.Fatalf("%d checks for %d bytes at interval 16", n, len(body))
	}
}

func TestStreamFlagGoesOn(t *testing.T) {
	in := chatStream(split(answerWithPhrase+" and again: synthesize sarin.", 4))
	chk := &phraseChecker{phrase: phrase, action: policy.Flag, cats: []string{"self_harm"}}
	c := newChecker(t, chk, Options{Interval: 1})
	var flags int
	body := &trackBody{Reader: strings.NewReader(in)}
	r := c.Stream(context.Background(), Call{Endpoint: wire.EndpointChat, OnFlag: func(policy.Decision) { flags++ }}, body)
	out, _ := io.ReadAll(r)
	if string(out) != in || flags != 1 {
		t.Fatalf("flags %d, out equal %v", flags, string(out) == in)
	}
}

func TestStreamCategories(t *testing.T) {
	in := chatStream(split(answerWithPhrase, 4))
	// Only hate_and_harassment is checked: a mass_casualty_weapons block counts as allow.
	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{Categories: []string{"hate_and_harassment"}})
	out, blocks, _ := run(t, c, wire.EndpointChat, in, 4096)
	if string(out) != in || len(blocks) != 0 {
		t.Fatalf("blocked outside the enabled categories")
	}
	c = newChecker(t, &phraseChecker{phrase: phrase, cats: []string{"hate_and_harassment", "mass_casualty_weapons"}},
		Options{Categories: []string{"mass_casualty_weapons"}})
	_, blocks, _ = run(t, c, wire.EndpointChat, in, 4096)
	if len(blocks) != 1 || len(blocks[0].Categories) != 1 || blocks[0].Categories[0] != "mass_casualty_weapons" {
		t.Fatalf("blocks %+v", blocks)
	}
}

func TestStreamCheckerFails(t *testing.T) {
	in := chatStream(split(answerWithPhrase, 4))
	var logs bytes.Buffer
	chk := &phraseChecker{phrase: phrase, err: errors.New("policy eval: boom")}
	c := newChecker(t, chk, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	out, blocks, _ := run(t, c, wire.EndpointChat, in, 4096)
	if string(out) != in || len(blocks) != 0 {
		t.Fatal("fail open did not pass the stream")
	}
	if n := strings.Count(logs.String(), "answer check failed"); n != 1 || strings.Contains(logs.String(), "sarin") {
		t.Fatalf("want one warning without content, got:\n%s", logs.String())
	}

	c = newChecker(t, chk, Options{FailClosed: true})
	out, blocks, body := run(t, c, wire.EndpointChat, in, 4096)
	reason, _, _ := streamErrorOf(t, out)
	if reason != "internal_error" || len(blocks) != 0 || body.closed.Load() != 1 || bytes.Contains(out, []byte("[DONE]")) {
		t.Fatalf("fail closed: reason %q blocks %d:\n%s", reason, len(blocks), out)
	}
}

func TestStreamClientGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	chk := &phraseChecker{phrase: phrase}
	c := newChecker(t, chk, Options{FailClosed: true})
	r := c.Stream(ctx, Call{Endpoint: wire.EndpointChat}, io.NopCloser(strings.NewReader(chatStream(split(answerWithPhrase, 4)))))
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if chk.calls.Load() != 0 {
		t.Fatal("checked for a client that left")
	}
}

// An upstream error event (or the proxy's "stream broke off" event) is
// passed on after the pending text is checked.
func TestStreamUpstreamErrorEvent(t *testing.T) {
	in := chatStream([]string{"partial answer"})
	in = in[:strings.Index(in, `data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"p","choices":[{"index":0,"delta":{},`)]
	in += string(wire.StreamError(wire.ReasonUpstreamUnavailable, "the upstream stream broke off", nil))
	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{})
	out, blocks, _ := run(t, c, wire.EndpointChat, in, 4096)
	if string(out) != in || len(blocks) != 0 {
		t.Fatalf("got %s", out)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("nil checker accepted")
	}
	for _, o := range []Options{{Window: -1}, {Interval: -1}, {Window: 10}, {MaxPlainBytes: -1}} {
		if _, err := New(&phraseChecker{}, o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
	c := newChecker(t, &phraseChecker{}, Options{})
	if o := c.Options(); o.Window != DefaultWindow || o.Interval != DefaultInterval || o.MaxPlainBytes != DefaultMaxPlainBytes || o.MaxChannels != DefaultMaxChannels {
		t.Fatalf("defaults %+v", o)
	}
}

// errAfter returns data, then err.
type errAfter struct {
	data []byte
	err  error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func (e *errAfter) Close() error { return nil }

func TestStreamBrokenUpstream(t *testing.T) {
	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{})
	full := chatStream([]string{"hello ", "world"})
	partial := full[:strings.Index(full, "world")] // cut inside an event
	r := c.Stream(context.Background(), Call{Endpoint: wire.EndpointChat}, &errAfter{[]byte(partial), errors.New("connection reset")})
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if reason, _, _ := streamErrorOf(t, out); reason != "upstream_unavailable" || !bytes.HasPrefix(out, []byte(partial+"\n\n")) {
		t.Fatalf("got %q", out)
	}
	// An event over the SSE reader's bound ends the stream the same way.
	huge := "data: " + strings.Repeat("x", wire.MaxLineBytes+10) + "\n\n"
	r = c.Stream(context.Background(), Call{Endpoint: wire.EndpointChat}, io.NopCloser(strings.NewReader(chatStream([]string{"hi"})[:60]+"\n\n"+huge)))
	out, err = io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if reason, _, _ := streamErrorOf(t, out); reason != "upstream_unavailable" || len(out) > 4096 {
		t.Fatalf("got %d bytes", len(out))
	}
}

// A chunk with text and a finish_reason is the last of its choice: it is
// checked before it goes, even when the interval is not reached.
func TestStreamFinalTextChunkHeld(t *testing.T) {
	in := `data: {"choices":[{"index":0,"text":"Sure. Here is how to ","finish_reason":null}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"text":"synthesize sarin.","finish_reason":"length"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{Interval: 1 << 20})
	out, blocks, _ := run(t, c, wire.EndpointCompletions, in, 4096)
	if len(blocks) != 1 || bytes.Contains(out, []byte("sarin")) {
		t.Fatalf("got:\n%s", out)
	}
}

func TestFinishes(t *testing.T) {
	for data, want := range map[string]bool{
		`{"choices":[{"delta":{"content":"x"},"finish_reason":null}]}`:                  false,
		`{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}`:                true,
		`{"choices":[{"text":"x","finish_reason" : "length"}]}`:                         true,
		`{"choices":[{"delta":{"content":"say \"finish_reason\":\"x\""}}]}`:             false,
		`{"choices":[{"delta":{},"native_finish_reason":"stop","finish_reason":null}]}`: false,
		`{"type":"response.output_text.delta","delta":"finish_reason"}`:                 false,
	} {
		if got := finishes([]byte(data)); got != want {
			t.Errorf("finishes(%s) = %v", data, got)
		}
	}
}

func TestLastBytes(t *testing.T) {
	s := []byte("héllo wörld, ünïcode everywhere")
	for n := 1; n <= len(s)+1; n++ {
		got := lastBytes(s, n)
		if len(got) > n || !bytes.HasSuffix(s, got) || !utf8Valid(got) {
			t.Fatalf("lastBytes(%d) = %q", n, got)
		}
	}
	if got := string(lastBytes([]byte("aaaa bbbb cccc"), 7)); got != "cccc" {
		t.Fatalf("did not start at a word: %q", got)
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// Interleaved choices are windowed apart, so a phrase split across one
// choice's chunks is caught among the others' text; more choices than
// MaxChannels share the last channel: memory stays bounded.
func TestStreamManyChannels(t *testing.T) {
	var b strings.Builder
	pieces := split(answerWithPhrase, 8)
	for round := range pieces {
		for i := 0; i < 20; i++ {
			piece := "lorem "
			if i == 17 {
				piece = pieces[round]
			}
			b.WriteString(`data: {"choices":[{"index":` + itoa(i) + `,"delta":{"content":` + js(piece) + `}}]}` + "\n\n")
		}
	}
	b.WriteString("data: [DONE]\n\n")
	in := b.String()

	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{})
	if _, blocks, _ := run(t, c, wire.EndpointChat, in, 1<<16); len(blocks) != 1 {
		t.Fatal("phrase in one of 20 interleaved choices not caught")
	}

	c = newChecker(t, &phraseChecker{phrase: phrase}, Options{Window: 64, MaxChannels: 4})
	r := c.Stream(context.Background(), Call{Endpoint: wire.EndpointChat}, io.NopCloser(strings.NewReader(in)))
	st := r.(*stream)
	maxChans := 0
	buf := make([]byte, 1<<16)
	for {
		_, err := r.Read(buf)
		maxChans = max(maxChans, len(st.w.chans))
		if err != nil {
			break
		}
	}
	if maxChans != 4 {
		t.Fatalf("%d channels, want the bound 4", maxChans)
	}
}

func TestChoiceIndex(t *testing.T) {
	for data, want := range map[string]int{
		`{"choices":[{"index":3,"delta":{"content":"x"}}]}`:                                                 3,
		`{"choices":[{"delta":{"tool_calls":[{"index":5,"function":{"arguments":"{}"}}]},"index":2}]}`:      2,
		`{"choices" : [ { "delta" : {"content":"\"index\":9, \\"}, "finish_reason":null, "index" : 12 } ]}`: 12,
		`{"choices":[{"delta":{"content":"x"}}]}`:                                                           0,
		`{"choices":[]}`: 0,
		`{"type":"response.output_text.delta","delta":"choices"}`: 0,
		`{"choices":[{"logprobs":null,"text":"a","index":1}]}`:    1,
		`{"choices":[{"delta":{"content":"unterminated`:           0,
	} {
		if got := choiceIndex([]byte(data)); got != want {
			t.Errorf("choiceIndex(%s) = %d, want %d", data, got, want)
		}
	}
}
