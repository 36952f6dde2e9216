package wire

import "strings"

// Endpoint is what a request path means to aupguard. Only model calls are
// inspected and need an end user; the rest are metadata or account reads.
type Endpoint int

const (
	EndpointOther Endpoint = iota
	EndpointChat
	EndpointCompletions
	EndpointResponses
	EndpointMessages
	EndpointEmbeddings
	EndpointModels     // GET models, GET models/{author}/{slug}/endpoints
	EndpointGeneration // GET generation?id=
	EndpointAccount    // GET key, GET credits
)

var endpointNames = [...]string{"other", "chat", "completions", "responses", "messages", "embeddings", "models", "generation", "account"}

// String is stable: it is used as a metric label.
func (e Endpoint) String() string {
	if e < 0 || int(e) >= len(endpointNames) {
		return "other"
	}
	return endpointNames[e]
}

// IsModelCall reports whether requests to e reach a model, so their text is
// inspected and they need an end user.
func (e Endpoint) IsModelCall() bool {
	switch e {
	case EndpointChat, EndpointCompletions, EndpointResponses, EndpointMessages, EndpointEmbeddings:
		return true
	}
	return false
}

// Classify maps a method and a path below the API root (no leading slash,
// already cleaned, no query) to an Endpoint. Anything not listed, including a
// known path with the wrong method, is EndpointOther: the gateway refuses
// those unless configured, so nothing reaches a model unchecked.
func Classify(method, rel string) Endpoint {
	switch method {
	case "POST":
		switch rel {
		case "chat/completions":
			return EndpointChat
		case "completions":
			return EndpointCompletions
		case "responses":
			return EndpointResponses
		case "messages":
			return EndpointMessages
		case "embeddings":
			return EndpointEmbeddings
		}
	case "GET", "HEAD":
		switch rel {
		case "models":
			return EndpointModels
		case "generation":
			return EndpointGeneration
		case "key", "credits":
			return EndpointAccount
		}
		// models/{author}/{slug}/endpoints
		if rest, ok := strings.CutPrefix(rel, "models/"); ok {
			if mid, ok := strings.CutSuffix(rest, "/endpoints"); ok {
				a, s, ok := strings.Cut(mid, "/")
				if ok && a != "" && s != "" && !strings.Contains(s, "/") {
					return EndpointModels
				}
			}
		}
	}
	return EndpointOther
}
