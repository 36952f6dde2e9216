package wire

import (
	"strconv"
	"strings"
)

// Extraction by the endpoint's own schema.
//
// Every object a model reads (the top level, a message, a content part or
// block, an input item, a tool call, a media object) is walked member by
// member against the keys the gateway knows for that kind of object:
//
//   - a known text key is inspected by its own rule;
//   - a known control key (role, type, ids, media data, cache_control) is
//     not inspected when its value is a scalar, and is inspected (every
//     string in it) when it is an array or object: nobody reads a control
//     value's strings, but an unexpected shape is never skipped. At the
//     top level, request parameters (topControlKeys: sampling, routing,
//     end user) are not inspected at all;
//   - a key equal to a known key but for letter case ("Content", "Model")
//     is refused: some upstream parsers match keys case-insensitively, so
//     such a key could show the model what the gateway ignored;
//   - any other key has every string under it inspected, with the
//     provenance of the object it sits in.
//
// Item types (function_call, item_reference, reasoning, ...) exist only in
// Responses input; a chat or Anthropic message is read by its role, and its
// "type" field is a control value that changes nothing. Unknown roles and
// content-part types outside the endpoint's schema are refused.

// extractor walks a parsed request. The current location is kept in one
// byte buffer (push/back) so a Where string is allocated only for text that
// is actually found. role, author and fresh are the provenance given to
// every text added.
type extractor struct {
	d      *doc
	req    *Request
	ep     Endpoint
	path   []byte
	role   Role
	author Author
	fresh  bool
	unk    []int32 // stack of kids indexes of members with unknown keys (see scan)
	fold   [64]byte
}

type prov struct {
	role   Role
	author Author
	fresh  bool
}

func (x *extractor) setProv(r Role, a Author, fresh bool) prov {
	old := prov{x.role, x.author, x.fresh}
	x.role, x.author, x.fresh = r, a, fresh
	return old
}

func (x *extractor) restore(p prov) { x.role, x.author, x.fresh = p.role, p.author, p.fresh }

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

// pushPos names a member by position ("{3}"): its key is client data.
func (x *extractor) pushPos(i int) int {
	m := len(x.path)
	x.path = append(x.path, '.', '{')
	x.path = strconv.AppendInt(x.path, int64(i), 10)
	x.path = append(x.path, '}')
	return m
}

func (x *extractor) back(m int) { x.path = x.path[:m] }

func (x *extractor) where() string { return string(x.path) }

func (x *extractor) invalid(msg string) *RequestError {
	if len(x.path) == 0 {
		return invalid("the request body" + msg)
	}
	return invalid(x.where() + msg)
}

func (x *extractor) add(n int32) {
	s := x.d.text(n)
	if s == "" {
		return
	}
	x.req.Texts = append(x.req.Texts, Text{Where: x.where(), Text: s, Role: x.role, Author: x.author, New: x.fresh})
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

// keySet lists the keys of one kind of object that the gateway interprets.
type keySet []string

// maxKeys bounds the length of a keySet (the size of scan's result array).
const maxKeys = 12

// scan matches the members of object o against known: vals[i] receives the
// value node of known[i], -1 when absent. A key that equals a known key but
// for letter case is refused, naming the known key (never the client's).
// Members with any other key are pushed on x.unk for unknown(o, mark).
func (x *extractor) scan(o int32, known keySet, vals *[maxKeys]int32) (int, error) {
	d := x.d
	mark := len(x.unk)
	for i := range known {
		vals[i] = -1
	}
	nd := d.nodes[o]
	for k := nd.first; k < nd.first+nd.n; k += 2 {
		key := d.text(d.kids[k])
		found := false
		for i, w := range known {
			if key == w {
				vals[i] = d.kids[k+1]
				found = true
				break
			}
		}
		if found {
			continue
		}
		if f, ok := foldKey(key, &x.fold); ok {
			for _, w := range known {
				if string(f) == w {
					x.unk = x.unk[:mark]
					return mark, x.invalid(` has a key that differs from "` + w + `" only by letter case`)
				}
			}
		}
		x.unk = append(x.unk, k)
	}
	return mark, nil
}

// unknown inspects every string under the members of o that scan left on
// x.unk above mark, named by position, then pops them.
func (x *extractor) unknown(o int32, mark int) {
	first := x.d.nodes[o].first
	for _, k := range x.unk[mark:] {
		m := x.pushPos(int(k-first) / 2)
		x.allStrings(x.d.kids[k+1], false)
		x.back(m)
	}
	x.unk = x.unk[:mark]
}

// ctl handles a control value (role, type, ids, media data): a scalar is not
// inspected; an array or object, which no schema puts there, has all its
// strings inspected rather than skipped.
func (x *extractor) ctl(n int32, suffix string) {
	if k := x.d.kind(n); k == int(kArray) || k == int(kObject) {
		m := x.push(suffix)
		x.allStrings(n, false)
		x.back(m)
	}
}

// textish inspects a free-text value at the current location + suffix: a
// string is one text; an array or object has all its strings inspected.
func (x *extractor) textish(n int32, suffix string) {
	if n < 0 {
		return
	}
	switch x.d.kind(n) {
	case int(kString):
		x.addAt(n, suffix)
	case int(kArray), int(kObject):
		m := x.push(suffix)
		x.allStrings(n, false)
		x.back(m)
	}
}

// under runs f on n at the current location + suffix, when n is present.
func (x *extractor) under(n int32, suffix string, f func(int32) error) error {
	if n < 0 {
		return nil
	}
	m := x.push(suffix)
	err := f(n)
	x.back(m)
	return err
}

// Top level.

// Top-level keys by what they hold. Keys not listed are inspected (every
// string, as the operator's) so that a field nobody told the gateway about
// is never skipped.
const (
	topControl byte = iota + 1
	topModel
	topModels
	topPreset
	topStream
	topMessages
	topSystem
	topInstructions
	topTools
	topPrompt
	topInput
	topSuffix
	topResponseFormat
	topText
	topPrediction
	topPlugins
	topProvider
	topMetadata
)

var topKeys = map[string]byte{
	"model": topModel, "models": topModels, "preset": topPreset, "stream": topStream,
	"messages": topMessages, "system": topSystem, "instructions": topInstructions, "tools": topTools,
	"prompt": topPrompt, "input": topInput, "suffix": topSuffix, "response_format": topResponseFormat,
	"text": topText, "prediction": topPrediction, "plugins": topPlugins,
	"provider": topProvider, "metadata": topMetadata,
}

// topControlKeys are request parameters no model reads as text. Their
// values are not inspected, whatever their shape.
var topControlKeys = []string{
	"user", "safety_identifier", "stream_options", "temperature", "top_p", "top_k", "top_a", "min_p",
	"frequency_penalty", "presence_penalty", "repetition_penalty", "seed", "max_tokens",
	"max_completion_tokens", "max_output_tokens", "n", "best_of", "echo", "logprobs", "top_logprobs",
	"logit_bias", "stop", "stop_sequences", "tool_choice", "parallel_tool_calls", "reasoning",
	"reasoning_effort", "include_reasoning", "thinking", "transforms", "route", "modalities", "audio",
	"service_tier", "store", "include", "previous_response_id", "truncation", "background",
	"conversation", "max_tool_calls", "prompt_cache_key", "prompt_cache_retention", "verbosity",
	"web_search_options", "encoding_format", "dimensions", "input_type", "usage", "debug",
	"session_id", "image_config", "mcp_servers", "container", "context_management",
}

func init() {
	for _, k := range topControlKeys {
		if _, dup := topKeys[k]; dup {
			panic("wire: top-level key " + k + " is both text and control")
		}
		topKeys[k] = topControl
	}
}

// foldKey returns key folded the way strings.EqualFold compares it with a
// lowercase ASCII word (every key the gateway knows is one): ASCII letters
// lowered, and the only two non-ASCII runes that fold to ASCII letters,
// KELVIN SIGN and LONG S, replaced by k and s. ok is false when key holds
// any other non-ASCII rune, so it cannot equal a known key but for case.
// The fold is written into buf; the result is valid until the next call.
// One pass, so a body of many unknown keys costs linear time.
func foldKey(key string, buf *[64]byte) ([]byte, bool) {
	n := 0
	for _, r := range key {
		switch {
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r == '\u212a':
			r = 'k'
		case r == '\u017f':
			r = 's'
		case r >= 0x80:
			return nil, false
		}
		if n == len(buf) {
			return nil, false // longer than any known key
		}
		buf[n] = byte(r)
		n++
	}
	return buf[:n], true
}

var (
	providerKeys = keySet{"zdr", "data_collection", "order", "only", "ignore", "allow_fallbacks",
		"require_parameters", "sort", "quantizations", "max_price"}
	metadataKeys = keySet{"user_id"}
)

func (x *extractor) request(ep Endpoint) error {
	d, req := x.d, x.req
	x.ep = ep
	root := int32(0)

	// One pass over the top-level members: classify, refuse case variants.
	var tv [topMetadata + 1]int32
	for i := range tv {
		tv[i] = -1
	}
	nd := d.nodes[root]
	var others []int32 // kids indexes of unknown top-level members
	for k := nd.first; k < nd.first+nd.n; k += 2 {
		key := d.text(d.kids[k])
		if t, ok := topKeys[key]; ok {
			if t != topControl {
				tv[t] = d.kids[k+1]
			}
			continue
		}
		if f, ok := foldKey(key, &x.fold); ok {
			if _, known := topKeys[string(f)]; known {
				return invalid(`the request body has a key that differs from "` + string(f) + `" only by letter case`)
			}
		}
		others = append(others, k)
	}

	if m := tv[topModel]; m >= 0 && d.kind(m) != int(kNull) {
		s, ok := d.strVal(m)
		if !ok {
			return invalid(`"model" must be a string`)
		}
		req.Model = s
	}
	if m := tv[topModels]; m >= 0 && d.kind(m) != int(kNull) {
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
	if m := tv[topPreset]; m >= 0 && d.kind(m) != int(kNull) {
		s, ok := d.strVal(m)
		if !ok {
			return invalid(`"preset" must be a string`)
		}
		req.Preset = s
	}
	if s := tv[topStream]; s >= 0 {
		switch d.kind(s) {
		case int(kTrue):
			req.Stream = true
		case int(kFalse), int(kNull):
		default:
			return invalid(`"stream" must be a boolean`)
		}
	}
	// Objects the gateway interprets (Rewrite edits them): no case variants.
	var v [maxKeys]int32
	for _, o := range [...]struct {
		n    int32
		name string
		keys keySet
	}{{tv[topProvider], "provider", providerKeys}, {tv[topMetadata], "metadata", metadataKeys}} {
		if d.kind(o.n) == int(kObject) {
			m := x.push(o.name)
			mark, err := x.scan(o.n, o.keys, &v)
			x.unk = x.unk[:mark]
			x.back(m)
			if err != nil {
				return err
			}
		}
	}
	if err := x.endUser(ep); err != nil {
		return err
	}

	// Text, in reading order. The operator's set-up first (history).
	x.setProv(RoleSystem, AuthorOperator, false)
	if n := tv[topSystem]; n >= 0 {
		var err error
		if ep == EndpointMessages {
			err = x.under(n, "system", x.anthropicContent)
		} else {
			x.textish(n, "system")
		}
		if err != nil {
			return err
		}
	}
	x.textish(tv[topInstructions], "instructions")
	if n := tv[topTools]; n >= 0 {
		x.textish(n, "tools")
	}

	if err := x.under(tv[topMessages], "messages", x.messages); err != nil {
		return err
	}

	// Turnless end-user input.
	x.setProv(RoleUser, AuthorEndUser, true)
	if err := x.under(tv[topPrompt], "prompt", x.prompt); err != nil {
		return err
	}
	if err := x.under(tv[topInput], "input", x.input); err != nil {
		return err
	}
	x.textish(tv[topSuffix], "suffix")

	// The operator's output constraints and add-ons.
	x.setProv(RoleSystem, AuthorOperator, false)
	x.textish(tv[topResponseFormat], "response_format")
	if err := x.under(tv[topText], "text", x.textConfig); err != nil {
		return err
	}
	if err := x.under(tv[topPrediction], "prediction", x.prediction); err != nil {
		return err
	}
	x.textish(tv[topPlugins], "plugins")
	for _, k := range others {
		m := x.pushPos(int(k-nd.first) / 2)
		x.path = append(x.path[:m], x.path[m+1:]...) // no leading '.' at the top
		x.allStrings(d.kids[k+1], false)
		x.back(m)
	}
	return nil
}

var (
	textConfigKeys = keySet{"format", "verbosity"}
	predictionKeys = keySet{"type", "content"}
)

// textConfig handles Responses "text": format is a schema the model reads.
func (x *extractor) textConfig(n int32) error {
	if x.d.kind(n) != int(kObject) {
		x.textish(n, "")
		return nil
	}
	var v [maxKeys]int32
	mark, err := x.scan(n, textConfigKeys, &v)
	if err != nil {
		return err
	}
	x.textish(v[0], ".format")
	x.ctl(v[1], ".verbosity")
	x.unknown(n, mark)
	return nil
}

// prediction handles chat "prediction": {type, content}.
func (x *extractor) prediction(n int32) error {
	if x.d.kind(n) != int(kObject) {
		x.textish(n, "")
		return nil
	}
	var v [maxKeys]int32
	mark, err := x.scan(n, predictionKeys, &v)
	if err != nil {
		return err
	}
	x.ctl(v[0], ".type")
	if err := x.under(v[1], ".content", x.chatContent); err != nil {
		return err
	}
	x.unknown(n, mark)
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

// Turns.

// messages handles "messages" (chat, or Anthropic on the messages
// endpoint). Texts from the last end-user message on are new; with no
// end-user message at all, every message is.
func (x *extractor) messages(n int32) error {
	d := x.d
	switch d.kind(n) {
	case int(kNull):
		return nil
	case int(kArray):
	default:
		return x.invalid(" must be an array")
	}
	msg := x.chatMessage
	if x.ep == EndpointMessages {
		msg = x.anthropicMessage
	}
	return x.turns(n, msg)
}

// turns runs one handler per element of array n; each reports whether its
// element is an end-user turn. It then marks the new texts.
func (x *extractor) turns(n int32, one func(int32) (bool, error)) error {
	start := len(x.req.Texts)
	from := -1
	for i, e := range x.d.items(n) {
		m := x.pushIdx(i)
		at := len(x.req.Texts)
		user, err := one(e)
		if err != nil {
			return err
		}
		if user {
			from = at
		}
		x.back(m)
	}
	if from < 0 {
		from = start
	}
	for i := from; i < len(x.req.Texts); i++ {
		x.req.Texts[i].New = true
	}
	return nil
}

// roleProv maps a role value to its provenance; ok is false for a role the
// schema does not know.
func roleProv(r string, anthropic bool) (Role, Author, bool) {
	switch r {
	case "user":
		return RoleUser, AuthorEndUser, true
	case "assistant":
		return RoleAssistant, AuthorModel, true
	}
	if anthropic {
		return "", "", false
	}
	switch r {
	case "system":
		return RoleSystem, AuthorOperator, true
	case "developer":
		return RoleDeveloper, AuthorOperator, true
	case "tool", "function":
		return RoleTool, AuthorTool, true
	}
	return "", "", false
}

// role reads and checks the role node r of the current object.
func (x *extractor) roleOf(r int32, anthropic bool) (Role, Author, error) {
	if r < 0 {
		return "", "", x.invalid(" has no role")
	}
	s, ok := x.d.strVal(r)
	if !ok {
		return "", "", x.invalid(".role must be a string")
	}
	role, author, ok := roleProv(s, anthropic)
	if !ok {
		if anthropic {
			return "", "", x.invalid(" has an unknown role (want user or assistant)")
		}
		return "", "", x.invalid(" has an unknown role (want system, developer, user, assistant or tool)")
	}
	return role, author, nil
}

var chatMsgKeys = keySet{"role", "content", "name", "refusal", "reasoning", "reasoning_details",
	"tool_calls", "function_call", "tool_call_id", "type", "cache_control"}

// chatMessage handles one chat message, read by its role whatever its
// "type" says.
func (x *extractor) chatMessage(msg int32) (bool, error) {
	d := x.d
	if d.kind(msg) != int(kObject) {
		return false, x.invalid(" must be an object")
	}
	var v [maxKeys]int32
	mark, err := x.scan(msg, chatMsgKeys, &v)
	if err != nil {
		return false, err
	}
	role, author, err := x.roleOf(v[0], false)
	if err != nil {
		x.unk = x.unk[:mark]
		return false, err
	}
	old := x.setProv(role, author, x.fresh)
	defer x.restore(old)
	if err := x.under(v[1], ".content", x.chatContent); err != nil {
		return false, err
	}
	x.textish(v[2], ".name")
	x.textish(v[3], ".refusal")
	x.textish(v[4], ".reasoning")
	if err := x.under(v[5], ".reasoning_details", x.reasoningDetails); err != nil {
		return false, err
	}
	if err := x.under(v[6], ".tool_calls", x.toolCalls); err != nil {
		return false, err
	}
	if err := x.under(v[7], ".function_call", x.function); err != nil {
		return false, err
	}
	x.ctl(v[8], ".tool_call_id")
	x.ctl(v[9], ".type")
	x.ctl(v[10], ".cache_control")
	x.unknown(msg, mark)
	return author == AuthorEndUser, nil
}

var reasoningDetailKeys = keySet{"type", "id", "format", "index", "text", "summary", "data", "signature"}

// reasoningDetails handles chat reasoning_details: text and summary are
// read; encrypted data and signatures are opaque (counted in NonText).
func (x *extractor) reasoningDetails(n int32) error {
	d := x.d
	if d.kind(n) != int(kArray) {
		x.textish(n, "")
		return nil
	}
	for i, e := range d.items(n) {
		m := x.pushIdx(i)
		if d.kind(e) != int(kObject) {
			x.textish(e, "")
			x.back(m)
			continue
		}
		var v [maxKeys]int32
		mark, err := x.scan(e, reasoningDetailKeys, &v)
		if err != nil {
			return err
		}
		for _, j := range [...]int{0, 1, 2, 3} {
			x.ctl(v[j], "."+reasoningDetailKeys[j])
		}
		x.textish(v[4], ".text")
		x.textish(v[5], ".summary")
		if d.kind(v[6]) == int(kString) {
			x.count("reasoning.encrypted")
		} else {
			x.ctl(v[6], ".data")
		}
		x.ctl(v[7], ".signature")
		x.unknown(e, mark)
		x.back(m)
	}
	return nil
}

var (
	toolCallKeys = keySet{"id", "type", "function"}
	functionKeys = keySet{"name", "arguments"}
)

// toolCalls handles chat tool_calls: function name and arguments are read.
func (x *extractor) toolCalls(n int32) error {
	d := x.d
	if d.kind(n) != int(kArray) {
		x.textish(n, "")
		return nil
	}
	for i, c := range d.items(n) {
		m := x.pushIdx(i)
		if d.kind(c) != int(kObject) {
			x.textish(c, "")
			x.back(m)
			continue
		}
		var v [maxKeys]int32
		mark, err := x.scan(c, toolCallKeys, &v)
		if err != nil {
			return err
		}
		x.ctl(v[0], ".id")
		x.ctl(v[1], ".type")
		if err := x.under(v[2], ".function", x.function); err != nil {
			return err
		}
		x.unknown(c, mark)
		x.back(m)
	}
	return nil
}

// function handles {name, arguments} (a tool call's function, a legacy
// function_call).
func (x *extractor) function(n int32) error {
	if x.d.kind(n) != int(kObject) {
		x.textish(n, "")
		return nil
	}
	var v [maxKeys]int32
	mark, err := x.scan(n, functionKeys, &v)
	if err != nil {
		return err
	}
	x.textish(v[0], ".name")
	x.textish(v[1], ".arguments")
	x.unknown(n, mark)
	return nil
}

// Chat content.

// chatContent handles a chat message content: a string, null, an array of
// parts, or one lone part where an array is expected.
func (x *extractor) chatContent(n int32) error {
	d := x.d
	switch d.kind(n) {
	case int(kString):
		x.add(n)
	case int(kNull):
	case int(kArray):
		for i, p := range d.items(n) {
			m := x.pushIdx(i)
			if err := x.chatPart(p); err != nil {
				return err
			}
			x.back(m)
		}
	case int(kObject):
		return x.chatPart(n)
	default:
		return x.invalid(" must be a string or an array of content parts")
	}
	return nil
}

var (
	chatTextKeys    = keySet{"type", "text", "cache_control"}
	chatRefusalKeys = keySet{"type", "refusal"}
	imageURLKeys    = keySet{"type", "image_url", "cache_control"}
	audioKeys       = keySet{"type", "input_audio"}
	fileKeys        = keySet{"type", "file", "cache_control"}
	videoKeys       = keySet{"type", "video_url"}
	urlKeys         = keySet{"url", "detail"}
	audioDataKeys   = keySet{"data", "format"}
	fileDataKeys    = keySet{"filename", "file_data", "file_id"}
)

// partType reads the type of content part p.
func (x *extractor) partType(p int32) (string, error) {
	d := x.d
	if d.kind(p) != int(kObject) {
		return "", x.invalid(" must be a content part object")
	}
	t, ok := d.strVal(d.get(p, "type"))
	if !ok {
		nd := d.nodes[p]
		for k := nd.first; k < nd.first+nd.n; k += 2 {
			if f, ok := foldKey(d.text(d.kids[k]), &x.fold); ok && string(f) == "type" && !d.keyIs(d.kids[k], "type") {
				return "", x.invalid(` has a key that differs from "type" only by letter case`)
			}
		}
		return "", x.invalid(" has no type")
	}
	return t, nil
}

func (x *extractor) unknownPart(t string) error {
	return x.invalid(` has content part type "` + safeType(t) + `", which aupguard cannot inspect`)
}

// chatPart handles one chat content part.
func (x *extractor) chatPart(p int32) error {
	if x.d.kind(p) == int(kString) {
		// Arrays of plain strings appear in some clients' content.
		x.add(p)
		return nil
	}
	t, err := x.partType(p)
	if err != nil {
		return err
	}
	switch t {
	case "text":
		return x.simplePart(p, chatTextKeys, ".text")
	case "refusal":
		return x.simplePart(p, chatRefusalKeys, ".refusal")
	case "image_url":
		return x.mediaPart(p, t, imageURLKeys, urlKeys)
	case "input_audio":
		return x.mediaPart(p, t, audioKeys, audioDataKeys)
	case "file":
		return x.mediaPart(p, t, fileKeys, fileDataKeys)
	case "video_url":
		return x.mediaPart(p, t, videoKeys, urlKeys)
	}
	return x.unknownPart(t)
}

// simplePart handles a part whose keys are type, one text key (keys[1]),
// and control keys.
func (x *extractor) simplePart(p int32, keys keySet, text string) error {
	var v [maxKeys]int32
	mark, err := x.scan(p, keys, &v)
	if err != nil {
		return err
	}
	x.textish(v[1], text)
	for j := 2; j < len(keys); j++ {
		x.ctl(v[j], "."+keys[j])
	}
	x.unknown(p, mark)
	return nil
}

// mediaPart handles a part {type, <media key>: object or URL string, ...}:
// counted in NonText; inside the media object, filename is read, the other
// known keys are media data, and unknown keys are inspected.
func (x *extractor) mediaPart(p int32, t string, keys, inner keySet) error {
	d := x.d
	var v [maxKeys]int32
	mark, err := x.scan(p, keys, &v)
	if err != nil {
		return err
	}
	x.count(t)
	for j := 2; j < len(keys); j++ {
		x.ctl(v[j], "."+keys[j])
	}
	if media := v[1]; d.kind(media) == int(kObject) {
		mm := x.push("." + keys[1])
		var w [maxKeys]int32
		mark2, err := x.scan(media, inner, &w)
		if err != nil {
			return err
		}
		for j, k := range inner {
			if k == "filename" {
				x.textish(w[j], ".filename")
			} else {
				x.ctl(w[j], "."+k)
			}
		}
		x.unknown(media, mark2)
		x.back(mm)
	} else if t == "image_url" {
		x.ctl(media, "."+keys[1]) // a bare image URL
	} else {
		x.textish(media, "."+keys[1]) // no schema puts a string here: read it
	}
	x.unknown(p, mark)
	return nil
}

// Anthropic messages.

var anthropicMsgKeys = keySet{"role", "content"}

// anthropicMessage handles one Anthropic message: user or assistant. A user
// message is an end-user turn unless it only carries tool results.
func (x *extractor) anthropicMessage(msg int32) (bool, error) {
	d := x.d
	if d.kind(msg) != int(kObject) {
		return false, x.invalid(" must be an object")
	}
	var v [maxKeys]int32
	mark, err := x.scan(msg, anthropicMsgKeys, &v)
	if err != nil {
		return false, err
	}
	role, author, err := x.roleOf(v[0], true)
	if err != nil {
		x.unk = x.unk[:mark]
		return false, err
	}
	old := x.setProv(role, author, x.fresh)
	defer x.restore(old)
	if err := x.under(v[1], ".content", x.anthropicContent); err != nil {
		return false, err
	}
	x.unknown(msg, mark)
	if author != AuthorEndUser {
		return false, nil
	}
	c := v[1]
	if d.kind(c) != int(kArray) {
		return true, nil
	}
	for _, b := range d.items(c) {
		if t, _ := d.strVal(d.get(b, "type")); t != "tool_result" && t != "web_search_tool_result" {
			return true, nil
		}
	}
	return d.nodes[c].n == 0, nil
}

// anthropicContent handles Anthropic content (and the top-level system):
// a string, null, an array of blocks, or one lone block.
func (x *extractor) anthropicContent(n int32) error {
	d := x.d
	switch d.kind(n) {
	case int(kString):
		x.add(n)
	case int(kNull):
	case int(kArray):
		for i, b := range d.items(n) {
			m := x.pushIdx(i)
			if err := x.anthropicBlock(b); err != nil {
				return err
			}
			x.back(m)
		}
	case int(kObject):
		return x.anthropicBlock(n)
	default:
		return x.invalid(" must be a string or an array of content blocks")
	}
	return nil
}

var (
	aTextKeys      = keySet{"type", "text", "cache_control"}
	aThinkingKeys  = keySet{"type", "thinking", "signature"}
	aImageKeys     = keySet{"type", "source", "cache_control"}
	aDocumentKeys  = keySet{"type", "source", "title", "context", "cache_control"}
	aSearchKeys    = keySet{"type", "source", "title", "content", "cache_control"}
	aToolUseKeys   = keySet{"type", "id", "name", "input", "cache_control"}
	aToolResKeys   = keySet{"type", "tool_use_id", "content", "is_error", "cache_control"}
	aRedactedKeys  = keySet{"type", "data"}
	aSourceKeys    = keySet{"type", "media_type", "data", "url", "file_id", "content"}
	aWebResultKeys = keySet{"type", "tool_use_id", "content", "cache_control"}
)

// anthropicBlock handles one Anthropic content block.
func (x *extractor) anthropicBlock(b int32) error {
	d := x.d
	if d.kind(b) == int(kString) {
		x.add(b)
		return nil
	}
	t, err := x.partType(b)
	if err != nil {
		return err
	}
	var v [maxKeys]int32
	var keys keySet
	switch t {
	case "text":
		return x.simplePart(b, aTextKeys, ".text")
	case "thinking":
		old := x.setProv(RoleAssistant, AuthorModel, x.fresh)
		defer x.restore(old)
		return x.simplePart(b, aThinkingKeys, ".thinking")
	case "redacted_thinking":
		keys = aRedactedKeys
	case "image":
		keys = aImageKeys
	case "document":
		keys = aDocumentKeys
	case "search_result":
		keys = aSearchKeys
	case "tool_use", "server_tool_use":
		keys = aToolUseKeys
		old := x.setProv(RoleAssistant, AuthorModel, x.fresh)
		defer x.restore(old)
	case "tool_result":
		keys = aToolResKeys
		old := x.setProv(RoleTool, AuthorTool, x.fresh)
		defer x.restore(old)
	case "web_search_tool_result":
		keys = aWebResultKeys
		old := x.setProv(RoleTool, AuthorTool, x.fresh)
		defer x.restore(old)
	default:
		return x.unknownPart(t)
	}
	mark, err := x.scan(b, keys, &v)
	if err != nil {
		return err
	}
	x.ctl(v[0], ".type")
	switch t {
	case "redacted_thinking":
		x.count(t)
		x.ctl(v[1], ".data")
	case "image":
		x.count(t)
		if err := x.under(v[1], ".source", x.anthropicSource); err != nil {
			return err
		}
		x.ctl(v[2], ".cache_control")
	case "document":
		if err := x.under(v[1], ".source", x.anthropicSource); err != nil {
			return err
		}
		if st, _ := d.strVal(d.get(v[1], "type")); st != "text" && st != "content" {
			x.count(t)
		}
		x.textish(v[2], ".title")
		x.textish(v[3], ".context")
		x.ctl(v[4], ".cache_control")
	case "search_result":
		x.textish(v[1], ".source")
		x.textish(v[2], ".title")
		if err := x.under(v[3], ".content", x.anthropicContent); err != nil {
			return err
		}
		x.ctl(v[4], ".cache_control")
	case "tool_use", "server_tool_use":
		x.ctl(v[1], ".id")
		x.textish(v[2], ".name")
		x.textish(v[3], ".input")
		x.ctl(v[4], ".cache_control")
	case "tool_result":
		x.ctl(v[1], ".tool_use_id")
		if err := x.under(v[2], ".content", x.anthropicContent); err != nil {
			return err
		}
		x.ctl(v[3], ".is_error")
		x.ctl(v[4], ".cache_control")
	case "web_search_tool_result":
		x.ctl(v[1], ".tool_use_id")
		x.textish(v[2], ".content")
		x.ctl(v[3], ".cache_control")
	}
	x.unknown(b, mark)
	return nil
}

// anthropicSource handles an image or document source: text and content
// sources are read; base64, url and file sources are media (not read);
// other source types are refused.
func (x *extractor) anthropicSource(n int32) error {
	d := x.d
	if d.kind(n) != int(kObject) {
		x.textish(n, "")
		return nil
	}
	var v [maxKeys]int32
	mark, err := x.scan(n, aSourceKeys, &v)
	if err != nil {
		return err
	}
	st, _ := d.strVal(v[0])
	switch st {
	case "text":
		x.textish(v[2], ".data")
		x.ctl(v[3], ".url")
		x.ctl(v[4], ".file_id")
		x.textish(v[5], ".content")
	case "content":
		if err := x.under(v[5], ".content", x.anthropicContent); err != nil {
			return err
		}
		x.textish(v[2], ".data")
		x.ctl(v[3], ".url")
		x.ctl(v[4], ".file_id")
	case "base64", "url", "file":
		x.ctl(v[2], ".data")
		x.ctl(v[3], ".url")
		x.ctl(v[4], ".file_id")
		x.textish(v[5], ".content")
	default:
		x.unk = x.unk[:mark]
		return x.invalid(" has a source type aupguard cannot inspect")
	}
	x.ctl(v[1], ".media_type")
	x.unknown(n, mark)
	return nil
}

// Turnless input.

// prompt handles "prompt": completions' string, array of strings or token
// arrays; a Responses prompt template (an object) has all its strings
// inspected as the end user's (its variables are).
func (x *extractor) prompt(n int32) error {
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
				if !x.tokenArray(e) {
					x.allStrings(e, false)
				}
			default:
				x.allStrings(e, false)
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

// tokenArray counts n as token ids when it is an array of numbers only.
func (x *extractor) tokenArray(n int32) bool {
	for _, t := range x.d.items(n) {
		if x.d.kind(t) != int(kNumber) {
			return false
		}
	}
	x.count("tokens")
	return true
}

// input handles "input": Responses items on the responses endpoint;
// embeddings input (strings, token arrays, multimodal parts) on embeddings;
// elsewhere it is read like a prompt.
func (x *extractor) input(n int32) error {
	switch x.ep {
	case EndpointResponses:
		return x.responsesInput(n)
	case EndpointEmbeddings:
		return x.embeddingsInput(n)
	}
	return x.prompt(n)
}

var embeddingObjKeys = keySet{"content"}

func (x *extractor) embeddingsInput(n int32) error {
	d := x.d
	switch d.kind(n) {
	case int(kArray):
	case int(kObject):
		return x.embeddingItem(n)
	default:
		return x.prompt(n)
	}
	tokens := false
	for i, e := range d.items(n) {
		m := x.pushIdx(i)
		switch d.kind(e) {
		case int(kString):
			x.add(e)
		case int(kNumber):
			tokens = true
		case int(kArray):
			if !x.tokenArray(e) {
				x.allStrings(e, false)
			}
		case int(kObject):
			if err := x.embeddingItem(e); err != nil {
				return err
			}
		}
		x.back(m)
	}
	if tokens {
		x.count("tokens")
	}
	return nil
}

// embeddingItem is a bare content part ({"type":"text",...}) or an object
// with a content list ({"content":[parts]}).
func (x *extractor) embeddingItem(e int32) error {
	d := x.d
	if d.get(e, "type") >= 0 {
		return x.chatPart(e)
	}
	var v [maxKeys]int32
	mark, err := x.scan(e, embeddingObjKeys, &v)
	if err != nil {
		return err
	}
	if err := x.under(v[0], ".content", x.chatContent); err != nil {
		return err
	}
	x.unknown(e, mark)
	return nil
}

// Responses input.

// responsesInput handles Responses "input": a string (the end user's, new)
// or an array of items.
func (x *extractor) responsesInput(n int32) error {
	d := x.d
	switch d.kind(n) {
	case int(kString):
		x.add(n)
		return nil
	case int(kNull):
		return nil
	case int(kArray):
	case int(kObject):
		_, err := x.responsesItem(n)
		return err
	default:
		return x.invalid(" must be a string or an array of items")
	}
	old := x.setProv(RoleUser, AuthorEndUser, false)
	defer x.restore(old)
	return x.turns(n, x.responsesItem)
}

var (
	respMessageKeys   = keySet{"type", "id", "role", "content", "status"}
	respCallKeys      = keySet{"type", "id", "call_id", "name", "arguments", "status"}
	respCustomKeys    = keySet{"type", "id", "call_id", "name", "input", "status"}
	respOutputKeys    = keySet{"type", "id", "call_id", "output", "status"}
	respReasoningKeys = keySet{"type", "id", "summary", "content", "encrypted_content", "status"}
	respRefKeys       = keySet{"type", "id"}
)

// responsesItem handles one Responses input item; it reports whether the
// item is an end-user turn (a user message).
func (x *extractor) responsesItem(it int32) (bool, error) {
	d := x.d
	switch d.kind(it) {
	case int(kString):
		x.add(it) // lenient clients: a bare string is a user message
		return true, nil
	case int(kNumber):
		x.count("tokens")
		return false, nil
	case int(kObject):
	default:
		x.textish(it, "")
		return false, nil
	}
	tn := d.get(it, "type")
	t, isStr := d.strVal(tn)
	if tn >= 0 && !isStr && d.kind(tn) != int(kNull) {
		return false, x.invalid(".type must be a string")
	}
	var v [maxKeys]int32
	var keys keySet
	role, author := RoleAssistant, AuthorModel
	switch t {
	case "", "message":
		keys = respMessageKeys
	case "function_call":
		keys = respCallKeys
	case "custom_tool_call":
		keys = respCustomKeys
	case "function_call_output", "custom_tool_call_output":
		keys = respOutputKeys
		role, author = RoleTool, AuthorTool
	case "reasoning":
		keys = respReasoningKeys
	case "item_reference":
		keys = respRefKeys
		role, author = RoleUser, AuthorEndUser
	default:
		// Built-in tool calls and their outputs (web_search_call,
		// computer_call_output, mcp_call, ...): not modelled one by one,
		// so every string in them is inspected.
		switch {
		case d.get(it, "role") >= 0:
			r, a, err := x.roleOf(d.get(it, "role"), false)
			if err != nil {
				return false, err
			}
			role, author = r, a
		case strings.HasSuffix(t, "_output"):
			role, author = RoleTool, AuthorTool
		}
		// The role and type are control values (the role is checked
		// above); redacting them in place would change the request.
		old := x.setProv(role, author, x.fresh)
		x.members(it, false, true)
		x.restore(old)
		return false, nil
	}
	mark, err := x.scan(it, keys, &v)
	if err != nil {
		return false, err
	}
	if t == "" || t == "message" {
		role, author, err = x.roleOf(v[2], false)
		if err != nil {
			x.unk = x.unk[:mark]
			return false, err
		}
	}
	old := x.setProv(role, author, x.fresh)
	defer x.restore(old)
	x.ctl(v[1], ".id")
	switch t {
	case "", "message":
		if err := x.under(v[3], ".content", x.responsesContent); err != nil {
			return false, err
		}
		x.ctl(v[4], ".status")
	case "function_call", "custom_tool_call":
		x.ctl(v[2], ".call_id")
		x.textish(v[3], ".name")
		x.textish(v[4], "."+keys[4])
		x.ctl(v[5], ".status")
	case "function_call_output", "custom_tool_call_output":
		x.ctl(v[2], ".call_id")
		if err := x.under(v[3], ".output", x.responsesContent); err != nil {
			return false, err
		}
		x.ctl(v[4], ".status")
	case "reasoning":
		if err := x.under(v[2], ".summary", x.responsesContent); err != nil {
			return false, err
		}
		if err := x.under(v[3], ".content", x.responsesContent); err != nil {
			return false, err
		}
		if d.kind(v[4]) == int(kString) {
			x.count("reasoning.encrypted")
		} else {
			x.ctl(v[4], ".encrypted_content")
		}
		x.ctl(v[5], ".status")
	}
	x.unknown(it, mark)
	return author == AuthorEndUser && t != "item_reference", nil
}

// responsesContent handles Responses content (and function_call_output
// output, reasoning summary/content): a string, null, an array of parts,
// or one lone part.
func (x *extractor) responsesContent(n int32) error {
	d := x.d
	switch d.kind(n) {
	case int(kString):
		x.add(n)
	case int(kNull):
	case int(kArray):
		for i, p := range d.items(n) {
			m := x.pushIdx(i)
			if err := x.responsesPart(p); err != nil {
				return err
			}
			x.back(m)
		}
	case int(kObject):
		return x.responsesPart(n)
	default:
		return x.invalid(" must be a string or an array of content parts")
	}
	return nil
}

var (
	rTextKeys    = keySet{"type", "text"}
	rRefusalKeys = keySet{"type", "refusal"}
	rImageKeys   = keySet{"type", "image_url", "file_id", "detail"}
	rFileKeys    = keySet{"type", "filename", "file_data", "file_id", "file_url"}
)

// responsesPart handles one Responses content part.
func (x *extractor) responsesPart(p int32) error {
	if x.d.kind(p) == int(kString) {
		x.add(p)
		return nil
	}
	t, err := x.partType(p)
	if err != nil {
		return err
	}
	switch t {
	case "input_text", "output_text", "summary_text", "reasoning_text", "text":
		return x.simplePart(p, rTextKeys, ".text")
	case "refusal":
		return x.simplePart(p, rRefusalKeys, ".refusal")
	case "input_audio":
		return x.mediaPart(p, t, audioKeys, audioDataKeys)
	case "input_image", "input_file":
		keys := rImageKeys
		if t == "input_file" {
			keys = rFileKeys
		}
		var v [maxKeys]int32
		mark, err := x.scan(p, keys, &v)
		if err != nil {
			return err
		}
		x.count(t)
		for j := 1; j < len(keys); j++ {
			if keys[j] == "filename" {
				x.textish(v[j], ".filename")
			} else {
				x.ctl(v[j], "."+keys[j])
			}
		}
		x.unknown(p, mark)
		return nil
	}
	return x.unknownPart(t)
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
		x.members(n, keys, false)
	}
}

// members is allStrings for the members of object n; with skipCtl, string
// values of "role" and "type" are left out.
func (x *extractor) members(n int32, keys, skipCtl bool) {
	d := x.d
	nd := d.nodes[n]
	kids := d.kids[nd.first : nd.first+nd.n]
	for k := 0; k < len(kids); k += 2 {
		if skipCtl && d.kind(kids[k+1]) == int(kString) && (d.keyIs(kids[k], "role") || d.keyIs(kids[k], "type")) {
			continue
		}
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
