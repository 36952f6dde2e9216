// Package wire speaks OpenRouter's (OpenAI-compatible) formats for the
// gateway: it classifies paths, parses and rewrites request bodies, builds
// refusals in OpenRouter's error shape, reads SSE streams and pulls the text
// out of answers. It imports nothing of aupguard's.
//
// Decisions worth knowing:
//
//   - Bodies are parsed by a small strict JSON parser of our own (json.go)
//     that records where each value sits. ParseRequest decodes once; Rewrite
//     splices its few changes into the original bytes, so numbers, key order
//     and unknown fields reach upstream exactly as sent (no float rounding,
//     no UseNumber needed) at a fraction of encoding/json's cost. Its
//     grammar is fuzzed against encoding/json (FuzzParseRequest).
//   - Before decoding: UTF-8 validity (utf8.Valid) and a linear nesting scan
//     (ParseOptions.MaxDepth, default 64). Syntax errors carry
//     encoding/json's message, which never quotes more than one character.
//   - A body with a duplicate object key is refused: parsers disagree about
//     which duplicate wins, so it could show aupguard one prompt and the
//     model another.
//   - Text is extracted by each endpoint's own schema, with provenance
//     (role, author, new turn or history) on every Text. A key that differs
//     from a known key only by letter case, an unknown role and a content
//     part of an unknown type are refused (invalid_request); an unknown key
//     in an object a model reads has all its strings inspected, never
//     skipped. Responses input items of types not modelled one by one are
//     not refused; every string in them is inspected instead.
//   - Text locations (Text.Where) never contain client content; inside
//     free-form JSON (tool schemas, tool_use input) members whose key is not
//     a JSON-schema word are named by position ("{2}").
//   - Answers (AnswerTexts, ChunkTexts, ModerationReasons) never fail: what
//     cannot be parsed yields no text and is forwarded as is.
//   - EventReader bounds lines (1 MiB) and events (8 MiB) and returns
//     caller-owned bytes, so events may be kept after the next read.
package wire
