package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// ParseRequest parses the body of a model call and extracts what aupguard
// inspects. The Request's texts share memory with body: the caller must
// not change body afterwards. Errors are *RequestError (invalid_request); their messages never
// echo body content.
//
// Checks, in order:
//   - the body is valid UTF-8 (utf8.Valid);
//   - nesting is at most opt.MaxDepth: the parser stops at the first
//     container past it, so a hostile body cannot make it recurse deeply;
//   - the body is one JSON object; a syntax error is reported with
//     encoding/json's message (which names at most one offending character);
//   - no object anywhere has the same key twice. Parsers disagree on which
//     duplicate wins, so a body with duplicates could show aupguard one
//     prompt and the model another; it is refused instead;
//   - no key in an object whose keys aupguard interprets (the top level, a
//     message, a content part or block, an input item, a tool call, a media
//     object, provider, metadata) differs from a known key only by letter
//     case ("Content", "Model"): some upstream parsers match keys
//     case-insensitively, so such a key could feed the model a field
//     aupguard never read;
//   - every role is one the endpoint's schema knows, and every content part
//     has a type the endpoint's schema knows. A part aupguard cannot read is
//     a part it cannot vouch for, so it is refused rather than passed on
//     unchecked.
//
// Texts hold every string a model reads, extracted by the endpoint's own
// schema (extract.go; docs/detection.md, "What is inspected, per
// endpoint", has the table), each with its provenance (Role, Author, New).
// Item types (function_call, item_reference, reasoning, ...) apply only to
// Responses input; a chat or Anthropic message is read by its role. A key
// aupguard does not know, in any object a model reads, has every string
// under it inspected; so do unknown top-level keys and Responses items of
// types not modelled one by one. Control values (ids, roles, types, media
// data) are not inspected when they are scalars; top-level request
// parameters (sampling, routing, end user: topControlKeys) are not
// inspected at all.
//
// Non-text parts are counted in NonText by part type ("image_url",
// "input_audio", "file", "video_url", "image", "document", "input_image",
// "input_file", "redacted_thinking", "reasoning.encrypted", ...); token-id
// arrays count as "tokens". aupguard cannot read them (a PDF that
// OpenRouter's file parser turns into text included), so the policy decides
// what to do with them.
//
// The end-user field is "user" (chat, completions, embeddings, other),
// "safety_identifier" falling back to "user" (responses), "metadata.user_id"
// falling back to "user" (messages); a non-string end-user field is refused.
func ParseRequest(ep Endpoint, body []byte, opt ParseOptions) (*Request, error) {
	max := opt.MaxDepth
	if max <= 0 {
		max = DefaultMaxDepth
	}
	if !utf8.Valid(body) {
		return nil, invalid("request body is not valid UTF-8")
	}
	// parseDoc stops at the first container past max, so nesting never
	// costs more than max levels of recursion.
	d, ok := parseDoc(body, max)
	d.alias = true
	if !ok {
		if d.err == errTooDeep {
			return nil, invalid("request body nests deeper than " + strconv.Itoa(max) + " levels")
		}
		return nil, syntaxError(body, d)
	}
	if d.nodes[0].kind != kObject {
		return nil, invalid("request body must be a JSON object")
	}
	if err := d.checkDuplicates(); err != nil {
		return nil, err
	}
	// Sized once from the plan: texts are at most its string values, and
	// growing a slice of a million texts would allocate several times that.
	req := &Request{Endpoint: ep, doc: d, Texts: make([]Text, 0, d.strs), spans: make([]int32, 0, d.strs)}
	x := extractor{d: d, req: req, path: make([]byte, 0, 64)}
	if err := x.request(ep); err != nil {
		return nil, err
	}
	return req, nil
}

func syntaxError(body []byte, d *doc) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return invalid("request body is not valid JSON: " + err.Error())
	}
	// encoding/json accepted what we refused: should not happen (fuzzed),
	// but refusing with our own message is the safe side.
	return invalid("request body is not valid JSON: " + d.err + " at offset " + strconv.Itoa(d.errAt))
}

// depthExceeds reports whether brackets outside strings nest deeper than
// max. One pass; string bodies are skipped with IndexByte.
func depthExceeds(b []byte, max int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
			if depth > max {
				return true
			}
		case '}', ']':
			depth--
		case '"':
			for {
				j := bytes.IndexByte(b[i+1:], '"')
				if j < 0 {
					return false // unterminated: the parser reports it
				}
				i += j + 1
				// The quote is escaped if preceded by an odd run of backslashes.
				k := i - 1
				for k >= 0 && b[k] == '\\' {
					k--
				}
				if (i-1-k)%2 == 0 {
					break
				}
			}
		}
	}
	return false
}

// checkDuplicates refuses objects with a repeated key.
func (d *doc) checkDuplicates() error {
	for o := range d.nodes {
		nd := &d.nodes[o]
		if nd.kind != kObject || nd.n <= 2 {
			continue
		}
		keys := d.kids[nd.first : nd.first+nd.n]
		if nd.n > 32 {
			seen := make(map[string]struct{}, nd.n/2)
			for k := 0; k < len(keys); k += 2 {
				s := d.text(keys[k])
				if _, dup := seen[s]; dup {
					return invalid("request body has a duplicate object key")
				}
				seen[s] = struct{}{}
			}
			continue
		}
		for a := 0; a < len(keys); a += 2 {
			for b := a + 2; b < len(keys); b += 2 {
				if d.sameKey(keys[a], keys[b]) {
					return invalid("request body has a duplicate object key")
				}
			}
		}
	}
	return nil
}

func (d *doc) sameKey(a, b int32) bool {
	na, nb := &d.nodes[a], &d.nodes[b]
	if !na.esc && !nb.esc {
		return bytes.Equal(d.src[na.start:na.end], d.src[nb.start:nb.end])
	}
	return d.text(a) == d.text(b)
}
