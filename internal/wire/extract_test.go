package wire

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// has reports whether r has a text equal to s.
func has(r *Request, s string) bool {
	for _, t := range r.Texts {
		if t.Text == s {
			return true
		}
	}
	return false
}

// The review's bypass: a chat message with a Responses item type kept its
// content from inspection while the model still read it.
func TestChatMessageTypeDoesNotSwitchInspectionOff(t *testing.T) {
	for _, typ := range []string{"item_reference", "function_call", "reasoning", "function_call_output",
		"custom_tool_call", "message", "text", "image_url", "tool_result", "hologram", ""} {
		for _, role := range []string{"user", "system", "assistant", "tool"} {
			body := fmt.Sprintf(`{"model":"m","messages":[{"role":%q,"type":%q,"content":"FORBIDDEN"},
				{"role":%q,"type":%q,"content":[{"type":"text","text":"FORBIDDEN2"}]}]}`, role, typ, role, typ)
			r := mustParse(t, EndpointChat, body)
			if !has(r, "FORBIDDEN") || !has(r, "FORBIDDEN2") {
				t.Errorf("type %q role %s: content not inspected: %q", typ, role, texts(r))
			}
		}
	}
	// An Anthropic message's type changes nothing either.
	for _, typ := range []string{"item_reference", "function_call", "reasoning", "function_call_output", "custom_tool_call"} {
		r := mustParse(t, EndpointMessages, `{"messages":[{"role":"user","type":"`+typ+`","content":"FORBIDDEN"}]}`)
		if !has(r, "FORBIDDEN") {
			t.Errorf("anthropic type %q: content not inspected", typ)
		}
	}
	// Nor does a type on an item reference, in Responses, hide a content.
	r := mustParse(t, EndpointResponses, `{"input":[{"type":"item_reference","id":"x","content":"FORBIDDEN"}]}`)
	if !has(r, "FORBIDDEN") {
		t.Errorf("item_reference content not inspected: %q", texts(r))
	}
}

func TestFieldsModelsReadAreInspected(t *testing.T) {
	cases := []struct {
		name string
		ep   Endpoint
		body string
		want []string
	}{
		{"refusal", EndpointChat, `{"messages":[{"role":"assistant","content":null,"refusal":"R1"}]}`, []string{"messages[0].refusal=R1"}},
		{"name", EndpointChat, `{"messages":[{"role":"user","name":"N1","content":"c"}]}`, []string{"messages[0].content=c", "messages[0].name=N1"}},
		{"reasoning_details", EndpointChat, `{"messages":[{"role":"assistant","content":"a","reasoning_details":[
			{"type":"reasoning.text","text":"RD1","signature":"sig","format":"anthropic-claude-v1","index":0},
			{"type":"reasoning.summary","summary":"RD2"},{"type":"reasoning.encrypted","data":"b64"}]}]}`,
			[]string{"messages[0].content=a", "messages[0].reasoning_details[0].text=RD1", "messages[0].reasoning_details[1].summary=RD2"}},
		{"plugins search_prompt", EndpointChat, `{"messages":[],"plugins":[{"id":"web","max_results":3,"search_prompt":"SP1"}]}`,
			[]string{"plugins[0].{0}=web", "plugins[0].{2}=SP1"}},
		{"tool call name", EndpointChat, `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"TN","arguments":"A"}}]}]}`,
			[]string{"messages[0].tool_calls[0].function.name=TN", "messages[0].tool_calls[0].function.arguments=A"}},
		{"legacy function_call", EndpointChat, `{"messages":[{"role":"assistant","function_call":{"name":"F","arguments":"A"}},{"role":"function","name":"F","content":"out"}]}`,
			[]string{"messages[0].function_call.name=F", "messages[0].function_call.arguments=A", "messages[1].content=out", "messages[1].name=F"}},
		{"unknown message key", EndpointChat, `{"messages":[{"role":"user","content":"c","x_hidden":{"deep":["U1"]}}]}`,
			[]string{"messages[0].content=c", "messages[0].{2}.{0}[0]=U1"}},
		{"unknown part key", EndpointChat, `{"messages":[{"role":"user","content":[{"type":"text","text":"t","extra":"U2"}]}]}`,
			[]string{"messages[0].content[0].text=t", "messages[0].content[0].{2}=U2"}},
		{"control key with an object", EndpointChat, `{"messages":[{"role":"user","content":"c","type":{"text":"U3"}}]}`,
			[]string{"messages[0].content=c", "messages[0].type.{0}=U3"}},
		{"file name", EndpointChat, `{"messages":[{"role":"user","content":[{"type":"file","file":{"filename":"FN","file_data":"data:application/pdf;base64,AAA"}}]}]}`,
			[]string{"messages[0].content[0].file.filename=FN"}},
		{"media object given as a string", EndpointChat, `{"messages":[{"role":"user","content":[{"type":"file","file":"F1"},{"type":"image_url","image_url":"https://x/i.png"}]}]}`,
			[]string{"messages[0].content[0].file=F1"}},
		{"unknown top-level key", EndpointChat, `{"messages":[],"x_future":"U4","temperature":1,"stop":["s"]}`, []string{"{1}=U4"}},
		{"completions suffix", EndpointCompletions, `{"prompt":"p","suffix":"S1"}`, []string{"prompt=p", "suffix=S1"}},
		{"anthropic document title", EndpointMessages, `{"messages":[{"role":"user","content":[{"type":"document","title":"T","context":"C","source":{"type":"url","url":"https://x"}}]}]}`,
			[]string{"messages[0].content[0].title=T", "messages[0].content[0].context=C"}},
		{"anthropic search result", EndpointMessages, `{"messages":[{"role":"user","content":[{"type":"search_result","source":"src","title":"T","content":[{"type":"text","text":"body"}]}]}]}`,
			[]string{"messages[0].content[0].source=src", "messages[0].content[0].title=T", "messages[0].content[0].content[0].text=body"}},
		{"responses unknown item key", EndpointResponses, `{"input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}","note":"U5"}]}`,
			[]string{"input[0].name=f", "input[0].arguments={}", "input[0].{4}=U5"}},
		{"responses custom tool call", EndpointResponses, `{"input":[{"type":"custom_tool_call","call_id":"c","name":"f","input":"CI"},{"type":"custom_tool_call_output","call_id":"c","output":[{"type":"input_text","text":"CO"}]}]}`,
			[]string{"input[0].name=f", "input[0].input=CI", "input[1].output[0].text=CO"}},
		{"responses reasoning content", EndpointResponses, `{"input":[{"type":"reasoning","summary":[{"type":"summary_text","text":"S"}],"content":[{"type":"reasoning_text","text":"RC"}],"encrypted_content":"enc"}]}`,
			[]string{"input[0].summary[0].text=S", "input[0].content[0].text=RC"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustParse(t, c.ep, c.body)
			if got := texts(r); !reflect.DeepEqual(got, c.want) {
				t.Errorf("texts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestCaseVariantKeysRefused(t *testing.T) {
	cases := []struct {
		ep         Endpoint
		body, want string
	}{
		{EndpointChat, `{"Model":"m","messages":[]}`, `the request body has a key that differs from "model" only by letter case`},
		{EndpointChat, `{"MESSAGES":[{"role":"user","content":"x"}]}`, `"messages"`},
		{EndpointChat, `{"messages":[],"\u004d\u006fdel":"m"}`, `"model"`},
		{EndpointChat, `{"messages":[],"\u212aey":"x","ſtream":true}`, `"stream"`},
		{EndpointChat, `{"messages":[],"top_\u212a":1}`, `"top_k"`},
		{EndpointMessages, `{"messages":[{"role":"assistant","content":[{"type":"thin\u212aing","thin\u212aing":"x"}]}]}`, `"thin`},
		{EndpointChat, `{"messages":[{"role":"user","Content":"x"}]}`, `messages[0] has a key that differs from "content" only`},
		{EndpointChat, `{"messages":[{"Role":"user","content":"x"}]}`, `"role"`},
		{EndpointChat, `{"messages":[{"role":"user","content":[{"type":"text","Text":"x"}]}]}`, `messages[0].content[0] has a key that differs from "text"`},
		{EndpointChat, `{"messages":[{"role":"user","content":[{"Type":"text","text":"x"}]}]}`, `"type"`},
		{EndpointChat, `{"messages":[{"role":"assistant","tool_calls":[{"Function":{"arguments":"x"}}]}]}`, `messages[0].tool_calls[0]`},
		{EndpointChat, `{"messages":[{"role":"assistant","tool_calls":[{"function":{"Arguments":"x"}}]}]}`, `"arguments"`},
		{EndpointChat, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"URL":"x"}}]}]}`, `"url"`},
		{EndpointChat, `{"messages":[],"provider":{"ZDR":false}}`, `provider has a key that differs from "zdr"`},
		{EndpointChat, `{"messages":[],"User":"u"}`, `"user"`},
		{EndpointResponses, `{"Input":"x"}`, `"input"`},
		{EndpointResponses, `{"input":[{"role":"user","Content":"x"}]}`, `input[0]`},
		{EndpointResponses, `{"input":[{"type":"function_call","Arguments":"x"}]}`, `"arguments"`},
		{EndpointResponses, `{"Instructions":"x"}`, `"instructions"`},
		{EndpointMessages, `{"System":"x","messages":[]}`, `"system"`},
		{EndpointMessages, `{"messages":[{"role":"user","content":[{"type":"tool_result","Content":"x"}]}]}`, `"content"`},
		{EndpointMessages, `{"messages":[],"metadata":{"User_ID":"u"}}`, `metadata has a key that differs from "user_id"`},
		{EndpointCompletions, `{"Prompt":"x"}`, `"prompt"`},
		{EndpointEmbeddings, `{"INPUT":["x"]}`, `"input"`},
	}
	for _, c := range cases {
		wantInvalid(t, c.ep, c.body, c.want)
		_, err := ParseRequest(c.ep, []byte(c.body), ParseOptions{})
		if strings.Contains(err.Error(), `"x"`) || strings.Contains(err.Error(), "Content") {
			t.Errorf("%s: error echoes the body: %v", c.body, err)
		}
	}
}

func TestRolesRefused(t *testing.T) {
	wantInvalid(t, EndpointChat, `{"messages":[{"role":"narrator","content":"x"}]}`, "messages[0] has an unknown role")
	wantInvalid(t, EndpointChat, `{"messages":[{"content":"x"}]}`, "messages[0] has no role")
	wantInvalid(t, EndpointChat, `{"messages":[{"role":1,"content":"x"}]}`, "role must be a string")
	wantInvalid(t, EndpointChat, `{"messages":["x"]}`, "messages[0] must be an object")
	wantInvalid(t, EndpointMessages, `{"messages":[{"role":"system","content":"x"}]}`, "unknown role (want user or assistant)")
	wantInvalid(t, EndpointResponses, `{"input":[{"role":"root","content":"x"}]}`, "input[0] has an unknown role")
	wantInvalid(t, EndpointResponses, `{"input":[{"type":"message","content":"x"}]}`, "input[0] has no role")
	// Parts outside the endpoint's schema.
	wantInvalid(t, EndpointChat, `{"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, `"tool_result"`)
	wantInvalid(t, EndpointChat, `{"messages":[{"role":"user","content":[{"type":"input_text","text":"x"}]}]}`, `"input_text"`)
	wantInvalid(t, EndpointMessages, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]}`, `"image_url"`)
	wantInvalid(t, EndpointMessages, `{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"hologram","data":"x"}}]}]}`, "source type")
	wantInvalid(t, EndpointResponses, `{"input":[{"role":"user","content":[{"type":"tool_use","input":{}}]}]}`, `"tool_use"`)
}

type prov3 struct {
	where  string
	role   Role
	author Author
	new    bool
}

func provOf(r *Request) []prov3 {
	out := make([]prov3, len(r.Texts))
	for i, t := range r.Texts {
		out[i] = prov3{t.Where, t.Role, t.Author, t.New}
	}
	return out
}

func checkProv(t *testing.T, ep Endpoint, body string, want []prov3) {
	t.Helper()
	r := mustParse(t, ep, body)
	if got := provOf(r); !reflect.DeepEqual(got, want) {
		var b strings.Builder
		for _, p := range got {
			fmt.Fprintf(&b, "%+v\n", p)
		}
		t.Errorf("provenance:\n%swant:\n%+v", b.String(), want)
	}
}

const (
	sys  = RoleSystem
	dev  = RoleDeveloper
	usr  = RoleUser
	asst = RoleAssistant
	tool = RoleTool
	op   = AuthorOperator
	eu   = AuthorEndUser
	mod  = AuthorModel
	tl   = AuthorTool
)

func TestProvenanceChat(t *testing.T) {
	body := `{"model":"m","user":"u",
	"tools":[{"type":"function","function":{"name":"lookup","description":"Look up"}}],
	"messages":[
	 {"role":"system","content":"You are helpful."},
	 {"role":"developer","content":"Be brief."},
	 {"role":"user","content":"first question"},
	 {"role":"assistant","content":"first answer","reasoning":"why"},
	 {"role":"user","name":"bob","content":[{"type":"text","text":"look it up"}]},
	 {"role":"assistant","content":null,"refusal":"no","tool_calls":[{"id":"c1","type":"function","function":{"name":"lookup","arguments":"{\"q\":1}"}}]},
	 {"role":"tool","tool_call_id":"c1","content":"result"},
	 {"role":"user","content":"thanks, and now?"},
	 {"role":"assistant","content":"Sure:"}],
	"response_format":{"type":"json_schema","json_schema":{"name":"out"}},
	"prediction":{"type":"content","content":"predicted"},
	"plugins":[{"id":"web","search_prompt":"search"}]}`
	checkProv(t, EndpointChat, body, []prov3{
		{"tools[0].type", sys, op, false},
		{"tools[0].function.name", sys, op, false},
		{"tools[0].function.description", sys, op, false},
		{"messages[0].content", sys, op, false},
		{"messages[1].content", dev, op, false},
		{"messages[2].content", usr, eu, false},
		{"messages[3].content", asst, mod, false},
		{"messages[3].reasoning", asst, mod, false},
		{"messages[4].content[0].text", usr, eu, false},
		{"messages[4].name", usr, eu, false},
		{"messages[5].refusal", asst, mod, false},
		{"messages[5].tool_calls[0].function.name", asst, mod, false},
		{"messages[5].tool_calls[0].function.arguments", asst, mod, false},
		{"messages[6].content", tool, tl, false},
		{"messages[7].content", usr, eu, true},
		{"messages[8].content", asst, mod, true},
		{"response_format.type", sys, op, false},
		{"response_format.json_schema.name", sys, op, false},
		{"prediction.content", sys, op, false},
		{"plugins[0].{0}", sys, op, false},
		{"plugins[0].{1}", sys, op, false},
	})
	// The new turn may end with tool results: the last user turn and all after it.
	checkProv(t, EndpointChat, `{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"function":{"arguments":"a"}}]},{"role":"tool","content":"r"}]}`,
		[]prov3{{"messages[0].content", usr, eu, true}, {"messages[1].tool_calls[0].function.arguments", asst, mod, true}, {"messages[2].content", tool, tl, true}})
	// No end-user turn at all: every message is new (nothing is history).
	checkProv(t, EndpointChat, `{"messages":[{"role":"system","content":"s"},{"role":"assistant","content":"a"}]}`,
		[]prov3{{"messages[0].content", sys, op, true}, {"messages[1].content", asst, mod, true}})
}

func TestProvenanceAnthropic(t *testing.T) {
	body := `{"system":[{"type":"text","text":"sys"}],
	"tools":[{"name":"search","input_schema":{"type":"object"}}],
	"messages":[
	 {"role":"user","content":"hello"},
	 {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"calling"},{"type":"tool_use","id":"t","name":"search","input":{"q":"x"}}]},
	 {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"found"}]}]},
	 {"role":"assistant","content":"done"},
	 {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"more"},{"type":"text","text":"and this?"}]},
	 {"role":"assistant","content":[{"type":"text","text":"prefill"}]}]}`
	checkProv(t, EndpointMessages, body, []prov3{
		{"system[0].text", sys, op, false},
		{"tools[0].name", sys, op, false},
		{"tools[0].input_schema.type", sys, op, false},
		{"messages[0].content", usr, eu, false},
		{"messages[1].content[0].thinking", asst, mod, false},
		{"messages[1].content[1].text", asst, mod, false},
		{"messages[1].content[2].name", asst, mod, false},
		{"messages[1].content[2].input.{0}", asst, mod, false},
		{"messages[2].content[0].content[0].text", tool, tl, false},
		{"messages[3].content", asst, mod, false},
		{"messages[4].content[0].content", tool, tl, true},
		{"messages[4].content[1].text", usr, eu, true},
		{"messages[5].content[0].text", asst, mod, true},
	})
	// A user message of tool results only is not an end-user turn.
	checkProv(t, EndpointMessages, `{"system":"s","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"},{"role":"user","content":[{"type":"tool_result","content":"r"}]}]}`,
		[]prov3{{"system", sys, op, false}, {"messages[0].content", usr, eu, true}, {"messages[1].content", asst, mod, true}, {"messages[2].content[0].content", tool, tl, true}})
}

func TestProvenanceResponses(t *testing.T) {
	checkProv(t, EndpointResponses, `{"instructions":"be nice","input":"hi","text":{"format":{"type":"json_schema","name":"o"}}}`, []prov3{
		{"instructions", sys, op, false}, {"input", usr, eu, true}, {"text.format.type", sys, op, false}, {"text.format.name", sys, op, false},
	})
	checkProv(t, EndpointResponses, `{"instructions":"i","input":[
		{"role":"system","content":"s"},
		{"role":"developer","content":"d"},
		{"role":"user","content":[{"type":"input_text","text":"q1"}]},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"sum"}]},
		{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
		{"type":"function_call_output","call_id":"c","output":"out"},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a1"}]},
		{"type":"item_reference","id":"r"},
		{"type":"message","role":"user","content":"q2"},
		{"type":"web_search_call","action":{"query":"w"}},
		{"type":"computer_call_output","output":{"image_url":"i"}}]}`, []prov3{
		{"instructions", sys, op, false},
		{"input[0].content", sys, op, false},
		{"input[1].content", dev, op, false},
		{"input[2].content[0].text", usr, eu, false},
		{"input[3].summary[0].text", asst, mod, false},
		{"input[4].name", asst, mod, false},
		{"input[4].arguments", asst, mod, false},
		{"input[5].output", tool, tl, false},
		{"input[6].content[0].text", asst, mod, false},
		{"input[8].content", usr, eu, true},
		{"input[9].{1}.{0}", asst, mod, true},
		{"input[10].{1}.{0}", tool, tl, true},
	})
	checkProv(t, EndpointResponses, `{"prompt":{"id":"p","variables":{"city":"Paris"}}}`, []prov3{
		{"prompt.{0}", usr, eu, true}, {"prompt.{1}.{0}", usr, eu, true},
	})
}

func TestProvenanceTurnless(t *testing.T) {
	checkProv(t, EndpointCompletions, `{"prompt":["a",[1,2]],"suffix":"s"}`, []prov3{
		{"prompt[0]", usr, eu, true}, {"suffix", usr, eu, true},
	})
	checkProv(t, EndpointEmbeddings, `{"input":["a",{"type":"text","text":"b"},{"content":[{"type":"text","text":"c"}]}]}`, []prov3{
		{"input[0]", usr, eu, true}, {"input[1].text", usr, eu, true}, {"input[2].content[0].text", usr, eu, true},
	})
}

// Redaction still reaches every text, in every new place.
func TestRewriteRedactsNewPlaces(t *testing.T) {
	body := `{"messages":[{"role":"user","name":"bob@x.io","content":"c","x":"bob@x.io"},{"role":"assistant","refusal":"bob@x.io","reasoning_details":[{"type":"reasoning.text","text":"bob@x.io"}]}],"plugins":[{"id":"web","search_prompt":"bob@x.io"}]}`
	r := mustParse(t, EndpointChat, body)
	out, _, err := r.Rewrite(Rewrite{Pseudonym: "P", Redact: func(s string) string { return strings.ReplaceAll(s, "bob@x.io", "[EMAIL]") }})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "bob@x.io") {
		t.Fatalf("not redacted: %s", out)
	}
}
