package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// depthOf is a slow reference for depthExceeds: encoding/json's tokenizer.
func depthOf(b []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth, max := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return max, true
		}
		if err != nil {
			return 0, false
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			if depth > max {
				max = depth
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"user":"u"}`), uint8(0))
	f.Add(chat2K(), uint8(0))
	f.Add([]byte(`{"a":[[[[1]]]]}`), uint8(3))
	f.Add([]byte(`{"input":[{"type":"function_call","arguments":"{}"}],"safety_identifier":"s","provider":{"zdr":false}}`), uint8(2))
	f.Add([]byte(`{"metadata":{"user_id":"x"},"messages":[{"role":"user","content":[{"type":"tool_result","content":"r"}]}]}`), uint8(4))
	f.Add([]byte("{\"a\":\"\\ud800\\udc00\xff\"}"), uint8(0))
	for name, b := range seedBodies(f) {
		// The selector of this endpoint with the deepest nesting bound.
		best := uint8(endpointOf(name))
		for sel := best; sel < 48; sel += 6 {
			if sel%8 > best%8 {
				best = sel
			}
		}
		f.Add(b, best)
	}
	f.Fuzz(func(t *testing.T, body []byte, sel uint8) {
		ep := Endpoint(sel % 6) // other..embeddings
		max := int(sel%8) + 1
		r, err := ParseRequest(ep, body, ParseOptions{MaxDepth: max})
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Reason != ReasonInvalidRequest {
				t.Fatalf("error %v is not an invalid_request", err)
			}
		}
		valid := utf8.Valid(body)
		if !valid && err == nil {
			t.Fatal("invalid UTF-8 accepted")
		}
		depth, tokensOK := depthOf(body)
		if err == nil && (!tokensOK || depth > max) {
			t.Fatalf("accepted depth %d > %d (tokens ok %v)", depth, max, tokensOK)
		}
		if valid {
			// Our grammar agrees with encoding/json's (within the depth bound).
			if d, ok := parseDoc(body, 1<<20); ok != json.Valid(body) && !depthExceeds(body, 1<<20) {
				t.Fatalf("parseDoc ok=%v, json.Valid=%v (%s at %d)", ok, json.Valid(body), d.err, d.errAt)
			}
		}
		if err != nil {
			return
		}
		out, _, err := r.Rewrite(Rewrite{Pseudonym: "P\"1", ZDR: sel&1 == 1, Redact: func(s string) string { return s + "!" }})
		if err != nil {
			t.Fatalf("Rewrite: %v", err)
		}
		r2, err := ParseRequest(ep, out, ParseOptions{MaxDepth: max + 2})
		if err != nil {
			t.Fatalf("rewritten body does not parse: %v\n%s", err, out)
		}
		if r2.EndUser != "P\"1" {
			t.Fatalf("end user after rewrite %q", r2.EndUser)
		}
		if len(r2.Texts) != len(r.Texts) {
			t.Fatalf("texts %d → %d after rewrite\n%s\n%s", len(r.Texts), len(r2.Texts), body, out)
		}
		for i := range r.Texts {
			if r2.Texts[i].Text != r.Texts[i].Text+"!" && !(r.Texts[i].Text == "" || !utf8.ValidString(r.Texts[i].Text)) {
				t.Fatalf("text %d %q → %q", i, r.Texts[i].Text, r2.Texts[i].Text)
			}
		}
	})
}

func FuzzEventReader(f *testing.F) {
	f.Add([]byte(": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: a\r\ndata: b\r\n\r\nevent: x\ndata\n\n\n\ndata: tail"))
	f.Add([]byte("\r\r\n:\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		collect := func(r io.Reader) ([]Event, error) {
			er := NewEventReader(r)
			var evs []Event
			for {
				ev, err := er.Next()
				if err != nil {
					return evs, err
				}
				evs = append(evs, ev)
			}
		}
		a, errA := collect(bytes.NewReader(in))
		b, errB := collect(iotest.OneByteReader(bytes.NewReader(in)))
		if errA != errB || len(a) != len(b) {
			t.Fatalf("chunking changes the result: %v/%v %d/%d", errA, errB, len(a), len(b))
		}
		rest := in
		for i := range a {
			if !bytes.Equal(a[i].Raw, b[i].Raw) || !bytes.Equal(a[i].Data, b[i].Data) || a[i].Comment != b[i].Comment {
				t.Fatalf("event %d differs by chunking", i)
			}
			// Raw is a piece of the input, in order.
			j := bytes.Index(rest, a[i].Raw)
			if j < 0 || len(a[i].Raw) == 0 {
				t.Fatalf("event %d raw %q not in input", i, a[i].Raw)
			}
			rest = rest[j+len(a[i].Raw):]
			if len(a[i].Data) > len(a[i].Raw) {
				t.Fatal("data longer than raw")
			}
		}
	})
}
