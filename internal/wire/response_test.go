package wire

import (
	"reflect"
	"strings"
	"testing"
)

func textList(ts []Text) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Where+"="+t.Text)
	}
	return out
}

func TestModerationReasons(t *testing.T) {
	body := `{"error":{"code":403,"message":"Input was flagged","metadata":{"reasons":["violence","hate"],"flagged_input":"...","provider_name":"OpenAI","model_slug":"openai/gpt-4o"}}}`
	rs, ok := ModerationReasons([]byte(body))
	if !ok || !reflect.DeepEqual(rs, []string{"violence", "hate"}) {
		t.Fatalf("%v %v", rs, ok)
	}
	for _, b := range []string{
		`{"error":{"code":400,"message":"bad","metadata":{"reasons":["x"]}}}`,
		`{"error":{"code":403,"message":"guardrail"}}`,
		`{"choices":[]}`, `not json`, ``,
	} {
		if _, ok := ModerationReasons([]byte(b)); ok {
			t.Errorf("%s: ok", b)
		}
	}
}

func TestAnswerTexts(t *testing.T) {
	cases := []struct {
		ep   Endpoint
		body string
		want []string
	}{
		{EndpointChat, `{"id":"g","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there","reasoning":"r",
			"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":\"b\"}"}}]},"finish_reason":"stop"}]}`,
			[]string{"choices[0].message.reasoning=r", "choices[0].message.content=Hi there", `choices[0].message.tool_calls[0].function.arguments={"a":"b"}`}},
		{EndpointCompletions, `{"choices":[{"text":"once"},{"text":"twice"}]}`, []string{"choices[0].text=once", "choices[1].text=twice"}},
		{EndpointResponses, `{"output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"s"}]},
			{"type":"message","role":"assistant","content":[{"type":"output_text","text":"answer"},{"type":"refusal","refusal":"no"}]},
			{"type":"function_call","name":"f","arguments":"{}"}]}`,
			[]string{"output[0].summary[0].text=s", "output[1].content[0].text=answer", "output[1].content[1].refusal=no", "output[2].arguments={}"}},
		{EndpointMessages, `{"type":"message","content":[{"type":"thinking","thinking":"t"},{"type":"text","text":"hello"},{"type":"tool_use","input":{"q":"x"}}]}`,
			[]string{"content[0].thinking=t", "content[1].text=hello", "content[2].input.{0}=x"}},
		{EndpointChat, `{"error":{"code":502,"message":"m"}}`, nil},
		{EndpointChat, `garbage`, nil},
	}
	for _, c := range cases {
		if got := textList(AnswerTexts(c.ep, []byte(c.body))); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %.40s:\n got %q\nwant %q", c.ep, c.body, got, c.want)
		}
	}
}

func TestChunkTexts(t *testing.T) {
	cases := []struct {
		ep   Endpoint
		data string
		want []string
		err  bool
	}{
		{EndpointChat, `{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}`, []string{"choices[0].delta.content=Hel"}, false},
		{EndpointChat, `{"choices":[{"index":0,"delta":{"reasoning":"hm","tool_calls":[{"index":0,"function":{"arguments":"{\"q"}}]}}]}`,
			[]string{"choices[0].delta.reasoning=hm", `choices[0].delta.tool_calls[0].function.arguments={"q`}, false},
		{EndpointChat, `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"total_tokens":3}}`, nil, false},
		{EndpointChat, `{"error":{"code":502,"message":"provider died"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`, nil, true},
		{EndpointChat, `[DONE]`, nil, false},
		{EndpointCompletions, `{"choices":[{"text":"abc"}]}`, []string{"choices[0].text=abc"}, false},
		{EndpointResponses, `{"type":"response.output_text.delta","delta":"wor"}`, []string{"delta=wor"}, false},
		{EndpointResponses, `{"type":"response.function_call_arguments.delta","delta":"{}"}`, []string{"delta={}"}, false},
		{EndpointResponses, `{"type":"response.completed","response":{}}`, nil, false},
		{EndpointResponses, `{"type":"error","code":"x","message":"m"}`, nil, true},
		{EndpointMessages, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"yo"}}`, []string{"delta.text=yo"}, false},
	}
	for _, c := range cases {
		got, err := ChunkTexts(c.ep, []byte(c.data))
		if !reflect.DeepEqual(textList(got), c.want) || err != c.err {
			t.Errorf("%s %s:\n got %q %v\nwant %q %v", c.ep, c.data, textList(got), err, c.want, c.err)
		}
	}
	// Deeply nested chunks are ignored, not recursed into.
	if got, _ := ChunkTexts(EndpointChat, []byte(strings.Repeat("[", 100000))); got != nil {
		t.Fatal("deep chunk")
	}
}

func TestAnswerTextsProvenance(t *testing.T) {
	ts := AnswerTexts(EndpointChat, []byte(`{"choices":[{"message":{"role":"assistant","content":"hi","tool_calls":[{"function":{"arguments":"{}"}}]}}]}`))
	if len(ts) == 0 {
		t.Fatal("no texts")
	}
	for _, x := range ts {
		if x.Role != RoleAssistant || x.Author != AuthorModel || !x.New {
			t.Fatalf("%+v", x)
		}
	}
}
