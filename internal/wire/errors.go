package wire

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// Reason is the machine-readable cause of a refusal. The values are fixed
// strings: clients match on them and metrics use them as labels.
type Reason string

const (
	ReasonAUPBlocked          Reason = "aup_blocked"
	ReasonSuspended           Reason = "end_user_suspended"
	ReasonBanned              Reason = "end_user_banned"
	ReasonEndUserRequired     Reason = "end_user_required"
	ReasonInvalidRequest      Reason = "invalid_request"
	ReasonUnauthorized        Reason = "unauthorized"
	ReasonPathNotAllowed      Reason = "path_not_allowed"
	ReasonModelNotAllowed     Reason = "model_not_allowed"
	ReasonPayloadTooLarge     Reason = "payload_too_large"
	ReasonRateLimited         Reason = "rate_limited"
	ReasonUpstreamUnavailable Reason = "upstream_unavailable"
	ReasonUpstreamTimeout     Reason = "upstream_timeout"
	ReasonStoreUnavailable    Reason = "store_unavailable"
	ReasonInternal            Reason = "internal_error"
	// ReasonAuthThrottled: too many failed authentications from the
	// client's address or network; even a right key waits out Retry-After.
	ReasonAuthThrottled Reason = "auth_throttled"
	// ReasonOverloaded: the gateway holds as many request bodies (or an
	// app as many model calls) as it is configured to; retry shortly.
	ReasonOverloaded Reason = "overloaded"
	// ReasonProviderNotAllowed: the request's provider.only names none of
	// the providers its app may use (apps[].providers).
	ReasonProviderNotAllowed Reason = "provider_not_allowed"
)

// ProviderName is what aupguard puts in metadata.provider_name, so clients
// that log OpenRouter's provider field can tell our refusals from a model's.
const ProviderName = "aupguard"

// Status is the HTTP status of a refusal; OpenRouter's error.code equals it.
// Unknown reasons are internal errors (500).
func (r Reason) Status() int {
	switch r {
	case ReasonAUPBlocked, ReasonSuspended, ReasonBanned, ReasonPathNotAllowed, ReasonModelNotAllowed, ReasonProviderNotAllowed:
		return http.StatusForbidden
	case ReasonEndUserRequired, ReasonInvalidRequest:
		return http.StatusBadRequest
	case ReasonUnauthorized:
		return http.StatusUnauthorized
	case ReasonPayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case ReasonRateLimited, ReasonAuthThrottled:
		return http.StatusTooManyRequests
	case ReasonUpstreamUnavailable:
		return http.StatusBadGateway
	case ReasonUpstreamTimeout:
		return http.StatusGatewayTimeout
	case ReasonStoreUnavailable, ReasonOverloaded:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

type errorObject struct {
	Code     int            `json:"code"`
	Message  string         `json:"message"`
	Metadata map[string]any `json:"metadata"`
}

func errorObj(r Reason, message string, meta map[string]any) errorObject {
	md := make(map[string]any, len(meta)+2)
	for k, v := range meta {
		md[k] = v
	}
	// Ours win over meta: a caller must not be able to mislabel a refusal.
	md["reason"] = string(r)
	md["provider_name"] = ProviderName
	return errorObject{Code: r.Status(), Message: message, Metadata: md}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// meta held something json cannot encode (a func, a channel): keep
		// the refusal well-formed rather than failing to refuse.
		b, _ = json.Marshal(map[string]any{"error": errorObject{
			Code: 500, Message: "internal error encoding a refusal",
			Metadata: map[string]any{"reason": string(ReasonInternal), "provider_name": ProviderName},
		}})
	}
	return b
}

// ErrorBody builds OpenRouter's error JSON:
//
//	{"error":{"code":S,"message":M,"metadata":{"reason":R,"provider_name":"aupguard",...meta}}}
//
// S is r.Status(). meta must not carry content in ZDR mode; that is the
// caller's duty.
func ErrorBody(r Reason, message string, meta map[string]any) []byte {
	return mustJSON(struct {
		Error errorObject `json:"error"`
	}{errorObj(r, message, meta)})
}

// WriteError writes ErrorBody with its status and a JSON content type.
// Callers set Retry-After themselves for rate_limited.
func WriteError(w http.ResponseWriter, r Reason, message string, meta map[string]any) {
	writeBody(w, r.Status(), ErrorBody(r, message, meta))
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Del("Content-Encoding")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// StreamError is the refusal sent once a stream has begun (the HTTP status is
// already 200): one SSE event whose JSON has a top-level "error" like
// OpenRouter's mid-stream errors and a choice with finish_reason "error", so
// the OpenAI SDKs raise it. The caller ends the stream after writing it.
func StreamError(r Reason, message string, meta map[string]any) []byte {
	type choice struct {
		Index        int      `json:"index"`
		Delta        struct{} `json:"delta"`
		FinishReason string   `json:"finish_reason"`
	}
	b := mustJSON(struct {
		Object  string      `json:"object"`
		Error   errorObject `json:"error"`
		Choices []choice    `json:"choices"`
	}{"chat.completion.chunk", errorObj(r, message, meta), []choice{{FinishReason: "error"}}})
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, '\n', '\n')
}

// BlockedMeta is the metadata of an aup_blocked refusal: the categories
// (never null) and the decision id.
func BlockedMeta(categories []string, decisionID string) map[string]any {
	if categories == nil {
		categories = []string{}
	}
	return map[string]any{"reasons": categories, "decision_id": decisionID}
}

// ReplaceResponse turns an upstream response into an OpenRouter error
// response (status, body, headers), for refusals decided after forwarding.
func ReplaceResponse(resp *http.Response, r Reason, message string, meta map[string]any) {
	replaceBody(resp, r.Status(), ErrorBody(r, message, meta))
}

func replaceBody(resp *http.Response, status int, b []byte) {
	resp.StatusCode = status
	resp.Status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.TransferEncoding = nil
	h := resp.Header
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Del("Content-Encoding")
	h.Del("Etag")
}

// Shape is the error format a refusal is written in: OpenRouter's (the
// default, every endpoint but messages) or Anthropic's, on the messages
// endpoint, whose clients are the Anthropic SDKs.
type Shape uint8

const (
	ShapeOpenRouter Shape = iota
	ShapeAnthropic
)

// ShapeFor is the error shape of an endpoint's clients.
func ShapeFor(e Endpoint) Shape {
	if e == EndpointMessages {
		return ShapeAnthropic
	}
	return ShapeOpenRouter
}

// AnthropicType is the Anthropic error type of an HTTP status, as the
// Anthropic API uses them (the SDKs pick their error class by status).
func AnthropicType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// anthropicBody is Anthropic's error JSON with aupguard's metadata (the
// same object as in OpenRouter's shape) in error.metadata, a field the
// Anthropic SDKs ignore, and the message repeated at the top level:
//
//	{"type":"error","error":{"type":T,"message":M,"metadata":{"reason":R,"provider_name":"aupguard",...meta}},"message":M}
//
// The Anthropic TypeScript SDK makes its error's message from the body's
// top-level "message" and prints the whole body as JSON without one (as it
// does for Anthropic's own errors); other clients read error.message.
func anthropicBody(r Reason, message string, meta map[string]any) []byte {
	eo := errorObj(r, message, meta)
	type errObj struct {
		Type     string         `json:"type"`
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	}
	return mustJSON(struct {
		Type    string `json:"type"`
		Error   errObj `json:"error"`
		Message string `json:"message"`
	}{"error", errObj{AnthropicType(eo.Code), eo.Message, eo.Metadata}, eo.Message})
}

// ErrorBody is the refusal's JSON in shape s; the HTTP status is r.Status().
func (s Shape) ErrorBody(r Reason, message string, meta map[string]any) []byte {
	if s == ShapeAnthropic {
		return anthropicBody(r, message, meta)
	}
	return ErrorBody(r, message, meta)
}

// WriteError is WriteError in shape s.
func (s Shape) WriteError(w http.ResponseWriter, r Reason, message string, meta map[string]any) {
	writeBody(w, r.Status(), s.ErrorBody(r, message, meta))
}

// StreamError is the mid-stream refusal in shape s. Anthropic's is one
// event named "error" (the Anthropic SDKs raise it):
//
//	event: error
//	data: {"type":"error","error":{"type":T,"message":M,"metadata":{...}}}
func (s Shape) StreamError(r Reason, message string, meta map[string]any) []byte {
	if s != ShapeAnthropic {
		return StreamError(r, message, meta)
	}
	b := anthropicBody(r, message, meta)
	out := make([]byte, 0, len(b)+22)
	out = append(out, "event: error\ndata: "...)
	out = append(out, b...)
	return append(out, '\n', '\n')
}

// ReplaceResponse is ReplaceResponse in shape s.
func (s Shape) ReplaceResponse(resp *http.Response, r Reason, message string, meta map[string]any) {
	replaceBody(resp, r.Status(), s.ErrorBody(r, message, meta))
}
