// Package fakeupstream is a fake OpenRouter for tests and benchmarks. It
// speaks OpenRouter's real formats (plain JSON and SSE) so the gateway and
// the OpenAI SDKs can be tested end to end without the network.
//
// Start(opts) serves it on a loopback httptest server whose URL ends in
// /api/v1; Handler(opts) is the same as a plain http.Handler (paths below
// /api/v1/ or /v1/) for load tests, where Options.NoRecord skips recording.
//
// Paths: POST chat/completions, completions, responses, messages,
// embeddings; GET models, models/{author}/{slug}/endpoints,
// generation?id=, key, credits. Other paths are 404 and wrong methods 405,
// both with OpenRouter's error JSON. With Options.APIKey set, requests
// without "Authorization: Bearer <APIKey>" get 401.
//
// Every model-call answer carries X-Generation-Id (also the body's id), and
// GET generation knows the ids it issued.
//
// # Scenarios
//
// Chosen by the X-Fake-Scenario request header, or by a model named
// "fake/<scenario>" (handy through SDKs that cannot set headers):
//
//	(none), ok        a normal answer; SSE when the body says stream:true
//	error-NNN         HTTP NNN with {"error":{"code":NNN,"message":...}};
//	                  error-502 adds metadata provider_name and raw;
//	                  error-429 adds Retry-After: 1
//	moderation        403 with metadata.reasons ["violence"],
//	                  flagged_input (the last user text, at most 100 chars),
//	                  provider_name and model_slug
//	midstream-error   stream: role chunk, two content chunks, then one event
//	                  with a top-level error (code 502) and finish_reason
//	                  "error", then the body ends without [DONE]; not
//	                  streamed: HTTP 200 carrying only "error"
//	slow              chunks spaced by Options.Delay (X-Fake-Delay: a Go
//	                  duration overrides it)
//	reset             stream: a chunk, then the connection is closed mid
//	                  stream; not streamed: closed before any response
//	bad-sse           a stream with a garbage line and a non-JSON data event
//	bad-json          HTTP 200, JSON content type, truncated JSON body
//	hang              no response until the client cancels
//	hang-stream       stream headers and a ": OPENROUTER PROCESSING" comment,
//	                  then nothing until the client cancels
//	tools             answer with a tool call even if the request has no tools
//
// A request with a non-empty "tools" array (and tool_choice other than
// "none") is answered with a call of its first tool, arguments
// {"input":<answer>}, plain or streamed as delta.tool_calls.
//
// The answer text is Options.Answer, or the X-Fake-Answer header (prefix
// "base64:" for text a header cannot carry). Streams split it into chunks
// of Options.ChunkSize runes (X-Fake-Chunk-Size overrides). A stream starts
// with ": OPENROUTER PROCESSING", repeats it after the second content chunk
// when there are more, ends with an empty-delta chunk carrying
// finish_reason and usage, then "data: [DONE]".
//
// Cancelled() counts requests whose context ended, or whose stream could no
// longer be written, while the fake was still answering (a hang or a stream
// the client abandoned), so tests can assert that the gateway cancels
// upstream calls; WaitCancelled waits for it.
package fakeupstream
