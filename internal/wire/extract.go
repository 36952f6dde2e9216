package wire

import "strconv"

// extractor walks a parsed request. The current location is kept in one
// byte buffer (push/back) so a Where string is allocated only for text that
// is actually found.
type extractor struct {
	d    *doc
	req  *Request
	path []byte
}

func (x *extractor) push(s string) int {
	m := len(x.path)
	x.path = append(x.path, s...)
	return m
}

func (x *extractor) pushIdx(i int) int {
	m := len(x.path)
	x.path = append(x.path, '[')
	x.path = strconv.AppendInt(x.path, int64(i), 10)
	x.path = append(x.path, ']')
	return m
}

func (x *extractor) back(m int) { x.path = x.path[:m] }

func (x *extractor) where() string { return string(x.path) }

func (x *extractor) invalid(msg string) *RequestError { return invalid(x.where() + msg) }

func (x *extractor) add(n int32) {
	s := x.d.text(n)
	if s == "" {
		return
	}
	x.req.Texts = append(x.req.Texts, Text{Where: x.where(), Text: s})
	x.req.spans = append(x.req.spans, n)
	x.req.TextBytes += len(s)
}

// addAt adds string node n at the current location + suffix.
func (x *extractor) addAt(n int32, suffix string) {
	m := x.push(suffix)
	x.add(n)
	x.back(m)
}

func (x *extractor) count(kind string) {
	if x.req.NonText == nil {
		x.req.NonText = make(map[string]int, 2)
	}
	x.req.NonText[kind]++
}

func (x *extractor) request(ep Endpoint) error {
	d, req := x.d, x.req
	root := int32(0)

	if m := d.get(root, "model"); m >= 0 && d.kind(m) != int(kNull) {
		s, ok := d.strVal(m)
		if !ok {
			return invalid(`"model" must be a string`)
		}
		req.Model = s
	}
	if m := d.get(root, "models"); m >= 0 && d.kind(m) != int(kNull) {
		if d.kind(m) != int(kArray) {
			return invalid(`"models" must be an array of strings`)
		}
		for _, e := range d.items(m) {
			s, ok := d.strVal(e)
			if !ok {
				return invalid(`"models" must be an array of strings`)
			}
			req.Models = append(req.Models, s)
		}
	}
	if m := d.get(root, "preset"); m >= 0 && d.kind(m) != int(kNull) {
		s, ok := d.strVal(m)
		if !ok {
			return invalid(`"preset" must be a string`)
		}
		req.Preset = s
	}
	if s := d.get(root, "stream"); s >= 0 {
		switch d.kind(s) {
		case int(kTrue):
			req.Stream = true
		case int(kFalse), int(kNull):
		default:
			return invalid(`"stream" must be a boolean`)
		}
	}
	if err := x.endUser(ep); err != nil {
		return err
	}

	// Text, in reading order.
	field := func(key string, f func(n int32) error) error {
		n := d.get(root, key)
		if n < 0 {
			return nil
		}
		m := x.push(key)
		err := f(n)
		x.back(m)
		return err
	}
	if err := field("system", x.content); err != nil {
		return err
	}
	if err := field("instructions", x.content); err != nil {
		return err
	}
	if err := field("tools", func(n int32) error {
		switch d.kind(n) {
		case int(kNull):
			return nil
		case int(kArray):
		default:
			return invalid(`"tools" must be an array`)
		}
		for i, t := range d.items(n) {
			m := x.pushIdx(i)
			x.allStrings(t, false)
			x.back(m)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := field("messages", func(n int32) error {
		switch d.kind(n) {
		case int(kNull):
			return nil
		case int(kArray):
		default:
			return invalid(`"messages" must be an array`)
		}
		for i, msg := range d.items(n) {
			m := x.pushIdx(i)
			if err := x.item(msg); err != nil {
				return err
			}
			x.back(m)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := field("prompt", x.input); err != nil {
		return err
	}
	if err := field("input", x.input); err != nil {
		return err
	}
	_ = field("response_format", func(n int32) error { x.allStrings(n, false); return nil })
	if t := d.get(root, "text"); t >= 0 {
		if n := d.get(t, "format"); n >= 0 {
			m := x.push("text.format")
			x.allStrings(n, false)
			x.back(m)
		}
	}
	if p := d.get(root, "prediction"); p >= 0 {
		if n := d.get(p, "content"); n >= 0 {
			m := x.push("prediction.content")
			err := x.content(n)
			x.back(m)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *extractor) endUser(ep Endpoint) error {
	d := x.d
	field := func(obj int32, key, name string) (string, bool, error) {
		n := d.get(obj, key)
		if n < 0 || d.kind(n) == int(kNull) {
			return "", false, nil
		}
		s, ok := d.strVal(n)
		if !ok {
			return "", false, invalid(`"` + name + `" must be a string`)
		}
		return s, true, nil
	}
	var (
		s   string
		ok  bool
		err error
	)
	switch ep {
	case EndpointResponses:
		if s, ok, err = field(0, "safety_identifier", "safety_identifier"); err != nil || ok {
			break
		}
		s, _, err = field(0, "user", "user")
	case EndpointMessages:
		if md := d.get(0, "metadata"); md >= 0 && d.kind(md) == int(kObject) {
			if s, ok, err = field(md, "user_id", "metadata.user_id"); err != nil || ok {
				break
			}
		}
		s, _, err = field(0, "user", "user")
	default:
		s, _, err = field(0, "user", "user")
	}
	x.req.EndUser = s
	return err
}

// content handles a message content: a string, null, or an array of parts.
func (x *extractor) content(n int32) error {
	switch x.d.kind(n) {
	case int(kString):
		x.add(n)
	case int(kNull):
	case int(kArray):
		for i, p := range x.d.items(n) {
			m := x.pushIdx(i)
			if err := x.part(p); err != nil {
				return err
			}
			x.back(m)
		}
	case int(kObject):
		// A lone part where an array is expected: read it, never skip it.
		return x.part(n)
	default:
		return x.invalid(" must be a string or an array of content parts")
	}
	return nil
}

// part handles one content part or block of any supported API.
func (x *extractor) part(p int32) error {
	d := x.d
	if d.kind(p) == int(kString) {
		// Arrays of plain strings appear in some clients' system/content.
		x.add(p)
		return nil
	}
	if d.kind(p) != int(kObject) {
		return x.invalid(" must be a content part object")
	}
	t, ok := d.strVal(d.get(p, "type"))
	if !ok {
		return x.invalid(" has no type")
	}
	switch t {
	case "text", "input_text", "output_text", "reasoning_text", "summary_text":
		return x.str(d.get(p, "text"), ".text")
	case "refusal":
		return x.str(d.get(p, "refusal"), ".refusal")
	case "thinking":
		return x.str(d.get(p, "thinking"), ".thinking")
	case "image_url", "input_audio", "file", "video_url", "image", "input_image", "input_file", "input_video", "redacted_thinking":
		x.count(t)
	case "document":
		// Anthropic documents may carry plain text or content blocks.
		src := d.get(p, "source")
		switch st, _ := d.strVal(d.get(src, "type")); st {
		case "text":
			return x.str(d.get(src, "data"), ".source.data")
		case "content":
			m := x.push(".source.content")
			defer x.back(m)
			return x.content(d.get(src, "content"))
		default:
			x.count(t)
		}
	case "tool_use", "server_tool_use":
		m := x.push(".input")
		x.allStrings(d.get(p, "input"), false)
		x.back(m)
	case "tool_result":
		if n := d.get(p, "content"); n >= 0 {
			m := x.push(".content")
			defer x.back(m)
			return x.content(n)
		}
	default:
		return x.invalid(` has content part type "` + safeType(t) + `", which aupguard cannot inspect`)
	}
	return nil
}

// safeType keeps an unknown type name short and printable in an error.
func safeType(t string) string {
	if len(t) > 40 {
		t = t[:40]
	}
	b := []byte(t)
	for i, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

// str adds string node n at the current location + suffix; absent and null
// are fine, any other type is refused.
func (x *extractor) str(n int32, suffix string) error {
	switch x.d.kind(n) {
	case int(kString):
		x.addAt(n, suffix)
	case -1, int(kNull):
	default:
		m := x.push(suffix)
		defer x.back(m)
		return x.invalid(" must be a string")
	}
	return nil
}

// item handles a chat/Anthropic message or a Responses input item.
func (x *extractor) item(it int32) error {
	d := x.d
	if d.kind(it) == int(kString) {
		x.add(it)
		return nil
	}
	if d.kind(it) != int(kObject) {
		return x.invalid(" must be an object")
	}
	t, _ := d.strVal(d.get(it, "type"))
	switch t {
	case "", "message":
		if n := d.get(it, "content"); n >= 0 {
			m := x.push(".content")
			err := x.content(n)
			x.back(m)
			if err != nil {
				return err
			}
		}
		if err := x.str(d.get(it, "reasoning"), ".reasoning"); err != nil {
			return err
		}
		if tc := d.get(it, "tool_calls"); d.kind(tc) == int(kArray) {
			m := x.push(".tool_calls")
			for i, c := range d.items(tc) {
				mi := x.pushIdx(i)
				if err := x.str(d.get(d.get(c, "function"), "arguments"), ".function.arguments"); err != nil {
					return err
				}
				x.back(mi)
			}
			x.back(m)
		}
	case "function_call":
		return x.str(d.get(it, "arguments"), ".arguments")
	case "custom_tool_call":
		return x.str(d.get(it, "input"), ".input")
	case "function_call_output", "custom_tool_call_output":
		if n := d.get(it, "output"); n >= 0 {
			m := x.push(".output")
			defer x.back(m)
			return x.content(n)
		}
	case "reasoning":
		for _, key := range [...]string{"summary", "content"} {
			if n := d.get(it, key); d.kind(n) == int(kArray) {
				m := x.push("." + key)
				for i, p := range d.items(n) {
					mi := x.pushIdx(i)
					if err := x.str(d.get(p, "text"), ".text"); err != nil {
						return err
					}
					x.back(mi)
				}
				x.back(m)
			}
		}
	case "item_reference":
	case "text", "input_text", "output_text", "refusal", "image_url", "input_image", "input_file",
		"input_audio", "file", "video_url", "image", "document":
		// A bare content part where an item is expected (multimodal
		// embeddings inputs, lenient clients): read it as a part.
		return x.part(it)
	default:
		// Tool calls of built-in tools and the like: we do not model each
		// shape, so every string in them is inspected.
		x.allStrings(it, false)
	}
	return nil
}

// input handles "prompt" and "input": a string, an array of strings, token
// arrays, or (Responses) an array of items; an object (a Responses prompt
// template with variables) has all its strings inspected.
func (x *extractor) input(n int32) error {
	d := x.d
	switch d.kind(n) {
	case int(kString):
		x.add(n)
	case int(kNull):
	case int(kObject):
		x.allStrings(n, false)
	case int(kArray):
		tokens := false
		for i, e := range d.items(n) {
			m := x.pushIdx(i)
			switch d.kind(e) {
			case int(kNumber):
				tokens = true
			case int(kArray):
				for _, t := range d.items(e) {
					if d.kind(t) != int(kNumber) {
						return x.invalid(" must be an array of tokens")
					}
				}
				x.count("tokens")
			default:
				if err := x.item(e); err != nil {
					return err
				}
			}
			x.back(m)
		}
		if tokens {
			x.count("tokens")
		}
	default:
		return x.invalid(" must be a string or an array")
	}
	return nil
}

// schemaWords are JSON-schema keywords and tool fields kept by name in
// locations; other keys of free-form objects are named by position, so a
// location never carries client content.
var schemaWords = map[string]bool{
	"function": true, "name": true, "description": true, "parameters": true, "input_schema": true,
	"properties": true, "items": true, "enum": true, "const": true, "default": true, "examples": true,
	"title": true, "type": true, "anyOf": true, "oneOf": true, "allOf": true, "not": true,
	"$defs": true, "definitions": true, "required": true, "pattern": true, "format": true,
	"json_schema": true, "schema": true, "strict": true, "additionalProperties": true, "$ref": true,
}

// allStrings extracts every string value under n and, when keys is set
// (the members of a JSON schema's "properties"), the member names: the
// model reads those too.
func (x *extractor) allStrings(n int32, keys bool) {
	d := x.d
	if n < 0 {
		return
	}
	nd := d.nodes[n]
	switch nd.kind {
	case kString:
		x.add(n)
	case kArray:
		for i, e := range d.items(n) {
			m := x.pushIdx(i)
			x.allStrings(e, false)
			x.back(m)
		}
	case kObject:
		kids := d.kids[nd.first : nd.first+nd.n]
		for k := 0; k < len(kids); k += 2 {
			m := len(x.path)
			x.path = append(x.path, '.')
			kn := &d.nodes[kids[k]]
			raw := d.src[kn.start+1 : kn.end-1]
			props := !kn.esc && string(raw) == "properties"
			if !kn.esc && schemaWords[string(raw)] {
				x.path = append(x.path, raw...)
			} else {
				x.path = append(x.path, '{')
				x.path = strconv.AppendInt(x.path, int64(k/2), 10)
				x.path = append(x.path, '}')
			}
			if keys {
				x.addAt(kids[k], "#key")
			}
			x.allStrings(kids[k+1], props)
			x.back(m)
		}
	}
}
