package server

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/identity"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// Acceptance: the official OpenAI Go SDK gets the same results through the
// gateway as straight from the (fake) upstream.

// sdkClients returns a client of the fake itself and one of the gateway in
// front of it. The direct client sends the end user's pseudonym as "user",
// so both reach the fake with bodies of one length (the fake's token counts
// depend on it).
func sdkClients(t *testing.T) (direct, viaGateway openai.Client) {
	t.Helper()
	g := startGateway(t, "")
	ps, _ := identity.NewPseudonymizer([]byte(testPseudonymKey))
	direct = openai.NewClient(
		option.WithBaseURL(g.fake.URL+"/"),
		option.WithAPIKey(operatorKey),
		option.WithMaxRetries(0),
		option.WithJSONSet("user", ps.Pseudonym("web", "customer-4711")),
	)
	viaGateway = openai.NewClient(
		option.WithBaseURL(g.url+"/api/v1/"),
		option.WithAPIKey(appKey),
		option.WithHeader("X-AUP-End-User", "customer-4711"),
		option.WithMaxRetries(0),
	)
	return direct, viaGateway
}

// normal strips what differs between any two calls (ids, timestamps).
func normal(t *testing.T, raw string) map[string]any {
	t.Helper()
	raw = genID.ReplaceAllString(raw, "gen-ID")
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	delete(m, "created")
	return m
}

var genID = regexp.MustCompile(`gen-[0-9]+-[0-9]+`)

func chatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me about Lisbon.")},
	}
}

func TestSDKPlainCompletion(t *testing.T) {
	direct, via := sdkClients(t)
	ctx := context.Background()
	a, err := direct.Chat.Completions.New(ctx, chatParams("openai/gpt-4o-mini"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := via.Chat.Completions.New(ctx, chatParams("openai/gpt-4o-mini"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Choices[0].Message.Content == "" || !reflect.DeepEqual(normal(t, a.RawJSON()), normal(t, b.RawJSON())) {
		t.Fatalf("differ:\n direct  %s\n gateway %s", a.RawJSON(), b.RawJSON())
	}
}

type streamed struct {
	chunks []map[string]any
	usage  openai.CompletionUsage
	text   string
	err    string
}

func stream(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams) streamed {
	t.Helper()
	s := c.Chat.Completions.NewStreaming(context.Background(), p)
	defer s.Close()
	var out streamed
	for s.Next() {
		ch := s.Current()
		out.chunks = append(out.chunks, normal(t, ch.RawJSON()))
		if len(ch.Choices) > 0 {
			out.text += ch.Choices[0].Delta.Content
		}
		if ch.Usage.TotalTokens > 0 {
			out.usage = ch.Usage
		}
	}
	if err := s.Err(); err != nil {
		out.err = err.Error()
	}
	return out
}

func TestSDKStreamedCompletion(t *testing.T) {
	direct, via := sdkClients(t)
	p := chatParams("openai/gpt-4o-mini")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	a, b := stream(t, direct, p), stream(t, via, p)
	if a.err != "" || b.err != "" {
		t.Fatalf("errors: %q %q", a.err, b.err)
	}
	if len(a.chunks) < 3 || a.usage.TotalTokens == 0 || a.text == "" {
		t.Fatalf("fake stream too small to compare: %+v", a)
	}
	if !reflect.DeepEqual(a.chunks, b.chunks) || a.usage.TotalTokens != b.usage.TotalTokens || a.text != b.text {
		t.Fatalf("streams differ:\n direct  %v\n gateway %v", a.chunks, b.chunks)
	}
}

func TestSDKToolCalls(t *testing.T) {
	direct, via := sdkClients(t)
	p := chatParams("openai/gpt-4o-mini")
	p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Weather in a city"),
		Parameters:  shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	})}
	ctx := context.Background()
	a, err := direct.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := via.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Choices[0].Message.ToolCalls) == 0 || a.Choices[0].Message.ToolCalls[0].Function.Name != "get_weather" {
		t.Fatalf("fake gave no tool call: %s", a.RawJSON())
	}
	if !reflect.DeepEqual(normal(t, a.RawJSON()), normal(t, b.RawJSON())) {
		t.Fatalf("differ:\n direct  %s\n gateway %s", a.RawJSON(), b.RawJSON())
	}
	// Streamed tool calls too.
	sa, sb := stream(t, direct, p), stream(t, via, p)
	if sa.err != "" || !reflect.DeepEqual(sa.chunks, sb.chunks) {
		t.Fatalf("streamed tool calls differ:\n direct  %v\n gateway %v", sa.chunks, sb.chunks)
	}
}

func sdkError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("not an API error: %v", err)
	}
	return e
}

func TestSDKUpstreamErrors(t *testing.T) {
	direct, via := sdkClients(t)
	for _, model := range []string{"fake/error-400", "fake/error-402", "fake/error-429", "fake/error-502"} {
		t.Run(model, func(t *testing.T) {
			_, errA := direct.Chat.Completions.New(context.Background(), chatParams(model))
			_, errB := via.Chat.Completions.New(context.Background(), chatParams(model))
			a, b := sdkError(t, errA), sdkError(t, errB)
			if a.StatusCode != b.StatusCode || a.Error() != b.Error() || a.RawJSON() != b.RawJSON() {
				t.Fatalf("differ:\n direct  %d %s\n gateway %d %s", a.StatusCode, a.RawJSON(), b.StatusCode, b.RawJSON())
			}
			if !strings.Contains(model, itoa(a.StatusCode)) {
				t.Fatalf("status %d for %s", a.StatusCode, model)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSDKMidStreamError(t *testing.T) {
	direct, via := sdkClients(t)
	p := chatParams("fake/midstream-error")
	a, b := stream(t, direct, p), stream(t, via, p)
	if a.err == "" || a.text == "" {
		t.Fatalf("the fake's mid-stream error did not surface: %+v", a)
	}
	if a.err != b.err || a.text != b.text || !reflect.DeepEqual(a.chunks, b.chunks) {
		t.Fatalf("differ:\n direct  %q %q\n gateway %q %q", a.text, a.err, b.text, b.err)
	}
}

// A refusal by the gateway reaches SDK users as an ordinary API error.
func TestSDKGatewayRefusal(t *testing.T) {
	g := startGateway(t, "")
	c := openai.NewClient(option.WithBaseURL(g.url+"/v1/"), option.WithAPIKey(appKey), option.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(context.Background(), chatParams("openai/gpt-4o-mini"))
	e := sdkError(t, err)
	if e.StatusCode != 400 || !strings.Contains(e.RawJSON(), `"reason":"end_user_required"`) {
		t.Fatalf("%d %s", e.StatusCode, e.RawJSON())
	}
}
