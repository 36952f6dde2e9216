package fakeupstream

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
)

// The OpenAI Go SDK is the strictest judge of the fake's formats.
func TestOpenAISDK(t *testing.T) {
	s := Start(Options{Answer: "Hi from the SDK test", ChunkSize: 3})
	defer s.Close()
	client := openai.NewClient(option.WithBaseURL(s.URL+"/"), option.WithAPIKey("sk-or-v1-x"), option.WithHTTPClient(s.Client()), option.WithMaxRetries(0))
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "openai/gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}

	c, err := client.Chat.Completions.New(ctx, params)
	if err != nil || c.Choices[0].Message.Content != "Hi from the SDK test" || c.Usage.TotalTokens == 0 {
		t.Fatalf("%v %+v", err, c)
	}

	st := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil || acc.Choices[0].Message.Content != "Hi from the SDK test" || acc.Usage.TotalTokens == 0 {
		t.Fatalf("%v %+v", err, acc.Choices)
	}

	// Tool calls, streamed.
	params.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "lookup"})}
	st = client.Chat.Completions.NewStreaming(ctx, params)
	acc = openai.ChatCompletionAccumulator{}
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil || len(acc.Choices[0].Message.ToolCalls) != 1 ||
		acc.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"input":"Hi from the SDK test"}` {
		t.Fatalf("%v %+v", err, acc.Choices)
	}
	params.Tools = nil

	// A mid-stream error is raised by the SDK.
	st = client.Chat.Completions.NewStreaming(ctx, params, option.WithHeader("X-Fake-Scenario", "midstream-error"))
	for st.Next() {
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), "Provider returned error") {
		t.Fatalf("mid-stream error not raised: %v", err)
	}

	// Error statuses become *openai.Error with the status code.
	_, err = client.Chat.Completions.New(ctx, params, option.WithHeader("X-Fake-Scenario", "moderation"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 {
		t.Fatalf("%v", err)
	}

	// Responses, plain and streamed.
	rp := responses.ResponseNewParams{Model: "openai/gpt-4o-mini", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}
	r, err := client.Responses.New(ctx, rp)
	if err != nil || r.OutputText() != "Hi from the SDK test" {
		t.Fatalf("%v %+v", err, r)
	}
	rs := client.Responses.NewStreaming(ctx, rp)
	var text string
	completed := false
	for rs.Next() {
		ev := rs.Current()
		switch ev.Type {
		case "response.output_text.delta":
			text += ev.Delta
		case "response.completed":
			completed = true
		}
	}
	if err := rs.Err(); err != nil || text != "Hi from the SDK test" || !completed {
		t.Fatalf("%v %q %v", err, text, completed)
	}

	// Embeddings.
	e, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "e", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
	if err != nil || len(e.Data) != 2 {
		t.Fatalf("%v %+v", err, e)
	}
}
