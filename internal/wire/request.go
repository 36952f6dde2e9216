package wire

import "errors"

// Text is one piece of text a model will read. Where locates it in the body
// ("messages[2].content[0]"); it never contains client content, so it may be
// logged and stored even in ZDR mode.
type Text struct {
	Where  string
	Text   string
	Role   Role   // who the endpoint says speaks: system, developer, user, assistant, tool
	Author Author // who wrote it: the operator, the end user, the model or a tool
	New    bool   // part of this request's new turn (the last user turn and what follows it), not replayed history
}

// Role is the speaker of a text as the endpoint's schema names it.
type Role string

// The roles of the supported endpoints.
const (
	RoleSystem    Role = "system"
	RoleDeveloper Role = "developer"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Author is who wrote a text. Only the end user's own words make the end
// user's record; the operator's system prompt, the model's earlier answers
// and tool output are judged, but charged elsewhere (see docs/detection.md).
type Author string

// The authors of a text.
const (
	AuthorOperator Author = "operator"
	AuthorEndUser  Author = "end_user"
	AuthorModel    Author = "model"
	AuthorTool     Author = "tool"
)

// Request is a parsed model call.
type Request struct {
	Endpoint Endpoint
	Model    string
	Models   []string // fallback list (body "models")
	Stream   bool
	// Preset names an OpenRouter preset (body "preset"): a saved
	// configuration that may choose the model and add a system prompt.
	Preset    string
	EndUser   string         // the body's own end-user field (user / safety_identifier / metadata.user_id)
	Texts     []Text         // ALL text a model reads, in body order
	TextBytes int            // sum of len(Texts[i].Text)
	NonText   map[string]int // non-text parts by type ("image_url", "input_audio", "file", "video_url", "tokens", ...); nil when none

	doc   *doc    // the decoded body, kept so Rewrite does not decode again
	spans []int32 // node index in doc of each Texts[i], for redaction in place
}

// RequestError is a client error found while parsing; Reason is
// ReasonInvalidRequest. Message never echoes body content.
type RequestError struct {
	Reason  Reason
	Message string
}

func (e *RequestError) Error() string { return string(e.Reason) + ": " + e.Message }

func invalid(msg string) *RequestError {
	return &RequestError{Reason: ReasonInvalidRequest, Message: msg}
}

// DefaultMaxDepth bounds JSON nesting when ParseOptions.MaxDepth is 0.
const DefaultMaxDepth = 64

// ParseOptions tunes ParseRequest.
type ParseOptions struct {
	MaxDepth int // maximum nesting of arrays and objects; 0 means DefaultMaxDepth
}

// Rewrite says how to change a request before it goes upstream.
type Rewrite struct {
	Pseudonym string              // replaces the end-user field(s); always set
	ZDR       bool                // merge provider.zdr=true, provider.data_collection="deny"
	Redact    func(string) string // nil: no redaction; else applied to every extracted text field
	Providers *ProviderRule       // nil: no app constraint; else merged into provider (a client narrows, never widens)
}

var errNoDoc = errors.New("wire: Rewrite on a Request not made by ParseRequest")
