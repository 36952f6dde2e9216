package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, ep Endpoint, body string) *Request {
	t.Helper()
	r, err := ParseRequest(ep, []byte(body), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", body, err)
	}
	return r
}

func texts(r *Request) []string {
	var out []string
	for _, t := range r.Texts {
		out = append(out, t.Where+"="+t.Text)
	}
	return out
}

func wantInvalid(t *testing.T, ep Endpoint, body, contains string) {
	t.Helper()
	_, err := ParseRequest(ep, []byte(body), ParseOptions{})
	var re *RequestError
	if !errors.As(err, &re) || re.Reason != ReasonInvalidRequest {
		t.Fatalf("ParseRequest(%q) = %v, want invalid_request", body, err)
	}
	if !strings.Contains(re.Message, contains) {
		t.Fatalf("message %q does not contain %q", re.Message, contains)
	}
}

func TestParseChat(t *testing.T) {
	body := `{"model":"openai/gpt-4o","models":["a/b","c/d"],"stream":true,"user":"u-1",
	"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather lookup",
	  "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name","enum":["Paris","Rome"]}}}}}],
	"messages":[
	 {"role":"system","content":"You are helpful."},
	 {"role":"user","name":"bob","content":[{"type":"text","text":"Look at \u00e9 this"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]},
	 {"role":"assistant","content":null,"reasoning":"thinking...","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
	 {"role":"tool","tool_call_id":"c1","content":"sunny"}]}`
	r := mustParse(t, EndpointChat, body)
	if r.Model != "openai/gpt-4o" || !reflect.DeepEqual(r.Models, []string{"a/b", "c/d"}) || !r.Stream || r.EndUser != "u-1" {
		t.Fatalf("fields: %+v", r)
	}
	want := []string{
		"tools[0].type=function",
		"tools[0].function.name=get_weather",
		"tools[0].function.description=Weather lookup",
		"tools[0].function.parameters.type=object",
		"tools[0].function.parameters.properties.{0}#key=city",
		"tools[0].function.parameters.properties.{0}.type=string",
		"tools[0].function.parameters.properties.{0}.description=City name",
		"tools[0].function.parameters.properties.{0}.enum[0]=Paris",
		"tools[0].function.parameters.properties.{0}.enum[1]=Rome",
		"messages[0].content=You are helpful.",
		"messages[1].content[0].text=Look at é this",
		"messages[1].name=bob",
		"messages[2].reasoning=thinking...",
		"messages[2].tool_calls[0].function.name=get_weather",
		`messages[2].tool_calls[0].function.arguments={"city":"Paris"}`,
		"messages[3].content=sunny",
	}
	if got := texts(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("texts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(r.NonText, map[string]int{"image_url": 1, "input_audio": 1}) {
		t.Fatalf("NonText = %v", r.NonText)
	}
	n := 0
	for _, x := range r.Texts {
		n += len(x.Text)
	}
	if r.TextBytes != n {
		t.Fatalf("TextBytes %d, want %d", r.TextBytes, n)
	}
}

func TestParseOtherEndpoints(t *testing.T) {
	cases := []struct {
		name    string
		ep      Endpoint
		body    string
		user    string
		want    []string
		nonText map[string]int
	}{
		{"completions string", EndpointCompletions, `{"model":"m","prompt":"Once upon","user":"x"}`, "x",
			[]string{"prompt=Once upon"}, nil},
		{"completions array", EndpointCompletions, `{"prompt":["a","b",[1,2]]}`, "",
			[]string{"prompt[0]=a", "prompt[1]=b"}, map[string]int{"tokens": 1}},
		{"completions tokens", EndpointCompletions, `{"prompt":[1,2,3]}`, "", nil, map[string]int{"tokens": 1}},
		{"embeddings", EndpointEmbeddings, `{"input":["one","two"],"user":"e"}`, "e",
			[]string{"input[0]=one", "input[1]=two"}, nil},
		{"responses string", EndpointResponses, `{"input":"hi","instructions":"be nice","safety_identifier":"s","user":"u"}`, "s",
			[]string{"instructions=be nice", "input=hi"}, nil},
		{"responses user fallback", EndpointResponses, `{"input":"hi","user":"u"}`, "u", []string{"input=hi"}, nil},
		{"responses items", EndpointResponses, `{"input":[
			{"role":"user","content":[{"type":"input_text","text":"q"},{"type":"input_image","image_url":"x"},{"type":"input_file","file_id":"f"}]},
			{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"},{"type":"refusal","refusal":"no"}]},
			{"type":"function_call","call_id":"c","name":"f","arguments":"{\"x\":1}"},
			{"type":"function_call_output","call_id":"c","output":"result"},
			{"type":"reasoning","summary":[{"type":"summary_text","text":"sum"}]},
			{"type":"item_reference","id":"r"}]}`, "",
			[]string{"input[0].content[0].text=q", "input[1].content[0].text=a", "input[1].content[1].refusal=no",
				"input[2].name=f", `input[2].arguments={"x":1}`, "input[3].output=result", "input[4].summary[0].text=sum"},
			map[string]int{"input_image": 1, "input_file": 1}},
		{"messages", EndpointMessages, `{"model":"anthropic/claude","metadata":{"user_id":"m-1"},
			"system":[{"type":"text","text":"sys"}],
			"messages":[{"role":"user","content":[{"type":"text","text":"hello"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},
			  {"type":"document","source":{"type":"text","data":"doc text"}},{"type":"document","source":{"type":"base64"}}]},
			 {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"tool_use","id":"t","name":"n","input":{"q":"search me","n":3}}]},
			 {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"found"}]},{"type":"tool_result","tool_use_id":"t","content":"plain"}]}]}`,
			"m-1",
			[]string{"system[0].text=sys", "messages[0].content[0].text=hello", "messages[0].content[2].source.data=doc text",
				"messages[1].content[0].thinking=hmm", "messages[1].content[1].name=n", "messages[1].content[1].input.{0}=search me",
				"messages[2].content[0].content[0].text=found", "messages[2].content[1].content=plain"},
			map[string]int{"image": 1, "document": 1}},
		{"messages system string", EndpointMessages, `{"system":"s","messages":[{"role":"user","content":"c"}]}`, "",
			[]string{"system=s", "messages[0].content=c"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustParse(t, c.ep, c.body)
			if r.EndUser != c.user {
				t.Errorf("EndUser = %q, want %q", r.EndUser, c.user)
			}
			if got := texts(r); !reflect.DeepEqual(got, c.want) {
				t.Errorf("texts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if !reflect.DeepEqual(r.NonText, c.nonText) {
				t.Errorf("NonText = %v, want %v", r.NonText, c.nonText)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	wantInvalid(t, EndpointChat, "{\"messages\":\"\xff\"}", "not valid UTF-8")
	wantInvalid(t, EndpointChat, strings.Repeat("[", 65)+strings.Repeat("]", 65), "deeper than 64")
	wantInvalid(t, EndpointChat, `{"a":`+strings.Repeat("[", 64)+strings.Repeat("]", 64)+`}`, "deeper than 64")
	wantInvalid(t, EndpointChat, `{"a":`+strings.Repeat("[", 1<<20), "deeper than 64") // unclosed: still the depth, not a syntax error
	wantInvalid(t, EndpointChat, `[1,2]`, "must be a JSON object")
	wantInvalid(t, EndpointChat, `"x"`, "must be a JSON object")
	wantInvalid(t, EndpointChat, `{"model":"secret-word`, "not valid JSON")
	wantInvalid(t, EndpointChat, `{"model":x}`, "not valid JSON")
	wantInvalid(t, EndpointChat, `{"model":"a","model":"b"}`, "duplicate")
	wantInvalid(t, EndpointChat, `{"messages":[{"role":"user","content":"a","content":"b"}]}`, "duplicate")
	wantInvalid(t, EndpointChat, `{"m\u006fdel":"a","model":"b"}`, "duplicate")
	wantInvalid(t, EndpointChat, `{"messages":[{"role":"user","content":[{"type":"hologram","data":"x"}]}]}`, `"hologram"`)
	wantInvalid(t, EndpointChat, `{"messages":[{"role":"user","content":[{"text":"no type"}]}]}`, "no type")
	wantInvalid(t, EndpointChat, `{"messages":{}}`, "must be an array")
	wantInvalid(t, EndpointChat, `{"model":1}`, "model")
	wantInvalid(t, EndpointChat, `{"user":1}`, "user")
	wantInvalid(t, EndpointChat, `{"stream":"yes"}`, "stream")
	// The depth limit is exact: 64 levels are fine.
	mustParse(t, EndpointChat, `{"a":`+strings.Repeat("[", 63)+strings.Repeat("]", 63)+`}`)
	// Brackets inside strings do not count.
	mustParse(t, EndpointChat, `{"a":"`+strings.Repeat("[", 100)+`\"`+strings.Repeat("{", 100)+`"}`)
	// Error messages do not echo content beyond one character.
	_, err := ParseRequest(EndpointChat, []byte(`{"model":"secret-word`), ParseOptions{})
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error echoes content: %v", err)
	}
	if _, err := ParseRequest(EndpointChat, []byte(`{"a":[[[1]]]}`), ParseOptions{MaxDepth: 3}); err == nil {
		t.Fatal("MaxDepth 3 not enforced")
	}
}

func rewriteJSON(t *testing.T, ep Endpoint, body string, rw Rewrite) (map[string]any, string, []string) {
	t.Helper()
	r := mustParse(t, ep, body)
	out, ov, err := r.Rewrite(rw)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("rewritten body invalid: %v\n%s", err, out)
	}
	return m, string(out), ov
}

func TestRewriteUser(t *testing.T) {
	cases := []struct {
		ep   Endpoint
		body string
		want string
	}{
		{EndpointChat, `{"model":"m","messages":[]}`, `{"model":"m","messages":[],"user":"P"}`},
		{EndpointChat, `{}`, `{"user":"P"}`},
		{EndpointChat, `{"user":"alice","n":1.50000000000000000001}`, `{"user":"P","n":1.50000000000000000001}`},
		{EndpointChat, `{"user":"alice","safety_identifier":"a","metadata":{"user_id":"a"}}`, `{"user":"P","safety_identifier":"P","metadata":{"user_id":"P"}}`},
		{EndpointEmbeddings, `{"input":"x"}`, `{"input":"x","user":"P"}`},
		{EndpointResponses, `{"input":"x"}`, `{"input":"x","safety_identifier":"P"}`},
		{EndpointResponses, `{"user":"alice"}`, `{"safety_identifier":"P"}`},
		{EndpointResponses, `{"input":"x", "user":"alice" }`, `{"input":"x", "safety_identifier":"P" }`},
		{EndpointResponses, `{"user":"alice","safety_identifier":"a"}`, `{"safety_identifier":"P"}`},
		{EndpointResponses, `{"safety_identifier":"a", "user":"alice"}`, `{"safety_identifier":"P"}`},
		{EndpointResponses, `{"a":1,"user":"alice","safety_identifier":"a"}`, `{"a":1,"safety_identifier":"P"}`},
		{EndpointMessages, `{"messages":[]}`, `{"messages":[],"metadata":{"user_id":"P"}}`},
		{EndpointMessages, `{"metadata":{}}`, `{"metadata":{"user_id":"P"}}`},
		{EndpointMessages, `{"metadata":{"k":"v"}}`, `{"metadata":{"k":"v","user_id":"P"}}`},
		{EndpointMessages, `{"metadata":null}`, `{"metadata":{"user_id":"P"}}`},
		{EndpointMessages, `{"metadata":{"user_id":"x"},"user":"y"}`, `{"metadata":{"user_id":"P"},"user":"P"}`},
	}
	for _, c := range cases {
		_, got, ov := rewriteJSON(t, c.ep, c.body, Rewrite{Pseudonym: "P"})
		if got != c.want || ov != nil {
			t.Errorf("%s %s\n got %s %v\nwant %s", c.ep, c.body, got, ov, c.want)
		}
	}
	// Pseudonyms are JSON-escaped.
	_, got, _ := rewriteJSON(t, EndpointChat, `{}`, Rewrite{Pseudonym: "a\"b\\c\n"})
	if got != `{"user":"a\"b\\c\n"}` {
		t.Errorf("escaping: %s", got)
	}
	r := mustParse(t, EndpointChat, `{}`)
	if _, _, err := r.Rewrite(Rewrite{}); err == nil {
		t.Error("empty pseudonym accepted")
	}
}

func TestRewriteZDR(t *testing.T) {
	cases := []struct {
		body string
		want string
		ov   []string
	}{
		{`{"model":"m"}`, `{"model":"m","user":"P","provider":{"zdr":true,"data_collection":"deny"}}`, nil},
		{`{"provider":null}`, `{"provider":{"zdr":true,"data_collection":"deny"},"user":"P"}`, nil},
		{`{"provider":{"order":["a"],"zdr":false,"data_collection":"allow"}}`,
			`{"provider":{"order":["a"],"zdr":true,"data_collection":"deny"},"user":"P"}`, []string{"provider.zdr", "provider.data_collection"}},
		{`{"provider":{"zdr":true,"data_collection":"deny","sort":"price"}}`,
			`{"provider":{"zdr":true,"data_collection":"deny","sort":"price"},"user":"P"}`, nil},
		{`{"provider":{}}`, `{"provider":{"zdr":true,"data_collection":"deny"},"user":"P"}`, nil},
		{`{"provider":{"only":["x"]}}`, `{"provider":{"only":["x"],"zdr":true,"data_collection":"deny"},"user":"P"}`, nil},
		{`{"provider":"weird"}`, `{"provider":{"zdr":true,"data_collection":"deny"},"user":"P"}`, []string{"provider"}},
	}
	for _, c := range cases {
		_, got, ov := rewriteJSON(t, EndpointChat, c.body, Rewrite{Pseudonym: "P", ZDR: true})
		if got != c.want || !reflect.DeepEqual(ov, c.ov) {
			t.Errorf("%s\n got %s %v\nwant %s %v", c.body, got, ov, c.want, c.ov)
		}
	}
}

func TestRewriteRedact(t *testing.T) {
	body := `{"messages":[{"role":"user","content":"mail bob@x.io now"},{"role":"user","content":[{"type":"text","text":"also bob@x.io"}]}],"temperature":0.70,"seed":12345678901234567890}`
	r := mustParse(t, EndpointChat, body)
	out, _, err := r.Rewrite(Rewrite{Pseudonym: "P", Redact: func(s string) string { return strings.ReplaceAll(s, "bob@x.io", "[EMAIL]\u2028") }})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"messages":[{"role":"user","content":"mail [EMAIL]\u2028 now"},{"role":"user","content":[{"type":"text","text":"also [EMAIL]\u2028"}]}],"temperature":0.70,"seed":12345678901234567890,"user":"P"}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if r.Texts[0].Text != "mail bob@x.io now" {
		t.Fatal("Redact changed the Request's texts")
	}
	// A re-parse sees the redacted text.
	r2 := mustParse(t, EndpointChat, string(out))
	if r2.Texts[0].Text != "mail [EMAIL]\u2028 now" {
		t.Fatalf("reparsed: %q", r2.Texts[0].Text)
	}
}

func TestStringDecoding(t *testing.T) {
	body := `{"prompt":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\ud83d\ude00\ud800x\udc00"}`
	r := mustParse(t, EndpointCompletions, body)
	var want struct{ Prompt string }
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	if r.Texts[0].Text != want.Prompt {
		t.Fatalf("got %q want %q", r.Texts[0].Text, want.Prompt)
	}
}

func TestParsePartsAsItems(t *testing.T) {
	r := mustParse(t, EndpointEmbeddings, `{"input":[{"type":"text","text":"caption"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}`)
	if got := texts(r); !reflect.DeepEqual(got, []string{"input[0].text=caption"}) || r.NonText["image_url"] != 1 {
		t.Fatalf("%q %v", got, r.NonText)
	}
	// Unknown Responses item types: every string but the type is inspected, not refused.
	r = mustParse(t, EndpointResponses, `{"input":[{"type":"local_shell_call","action":{"command":["rm","-rf"]}}]}`)
	if got := texts(r); len(got) != 2 || got[0] != "input[0].{1}.{0}[0]=rm" {
		t.Fatalf("%q", got)
	}
	// A Responses prompt template: variables are read.
	r = mustParse(t, EndpointResponses, `{"prompt":{"id":"pmpt_1","variables":{"city":"Paris"}}}`)
	if got := texts(r); len(got) != 2 || got[1] != "prompt.{1}.{0}=Paris" {
		t.Fatalf("%q", got)
	}
}

// TestSpecial8: the 8-byte skip in string literals never skips a quote, a
// backslash or a control character, wherever it sits among any bytes.
func TestSpecial8(t *testing.T) {
	ref := func(b []byte) bool {
		for _, c := range b {
			if c == '"' || c == '\\' || c < 0x20 {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var b [8]byte
	for n := range 200000 {
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if n%2 == 0 {
				b[i] = 0x20 + byte(rng.IntN(0x60)) // mostly ASCII text
			}
		}
		if n%3 == 0 {
			b[rng.IntN(8)] = []byte{'"', '\\', 0, 0x1f, '\n', 0x7f, 0xff, 0x20}[rng.IntN(8)]
		}
		if got, want := special8(binary.LittleEndian.Uint64(b[:])), ref(b[:]); want && !got {
			t.Fatalf("%q: special8 missed it", b)
		}
	}
}
