package middleware

import (
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/wire"
)

// API roots served; both lead to the same upstream root.
var apiRoots = [...]string{"/api/v1/", "/v1/"}

// RouteOptions configure the path guard.
type RouteOptions struct {
	// AllowPaths lists extra paths below the API root passed through
	// (globs, e.g. "key", "credits"); every other path that is neither a
	// model call nor a metadata read is refused.
	AllowPaths []string
}

// Route accepts only clean paths under /api/v1/ or /v1/ and classifies
// them. Encoded slashes or backslashes, "." or ".." segments, double
// slashes and control characters are refused with 403 path_not_allowed, as
// is any path that is not a model call or metadata read and not allowed by
// the config.
func Route(opt RouteOptions) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		rel, ok := cleanRel(c.Request.URL.Path, c.Request.URL.RawPath)
		if !ok {
			Refuse(c, wire.ReasonPathNotAllowed, "this path is not served by the gateway", nil)
			return
		}
		ep := wire.Classify(c.Request.Method, rel)
		if ep == wire.EndpointOther || ep == wire.EndpointAccount {
			if !matchAny(opt.AllowPaths, rel) {
				Refuse(c, wire.ReasonPathNotAllowed, "this path is not served by the gateway"+baseURLHint(rel), nil)
				return
			}
		}
		st.Endpoint, st.Rel, st.Routed = ep, rel, true
		c.Next()
	}
}

// baseURLHint explains a path that repeats the API root ("/api/v1/v1/messages"):
// an SDK given a base URL that already ends in the root it appends itself.
// The Anthropic SDKs append "/v1/messages", so their base URL is the
// gateway's "/api"; the OpenAI SDKs append "/chat/completions" and friends
// to "/api/v1".
func baseURLHint(rel string) string {
	var repeated string
	for _, root := range apiRoots {
		if strings.HasPrefix(rel, root[1:]) {
			repeated = root[1:]
			break
		}
	}
	if repeated == "" {
		return ""
	}
	hint := ": the path repeats /" + strings.TrimSuffix(repeated, "/") + " (the SDK's base URL already ends in it)."
	if strings.HasSuffix(rel, "messages") {
		return hint + " The Anthropic SDK appends /v1/messages itself: set its base URL to http://HOST:PORT/api (not /api/v1)."
	}
	return hint + " OpenAI SDKs take the base URL http://HOST:PORT/api/v1; the Anthropic SDK http://HOST:PORT/api."
}

// cleanRel returns the path below an API root, or false for anything odd.
func cleanRel(p, raw string) (string, bool) {
	if raw != "" {
		// Percent-encoded separators would mean one path to us and another upstream.
		l := strings.ToLower(raw)
		if strings.Contains(l, "%2f") || strings.Contains(l, "%5c") || strings.Contains(l, "%2e") || strings.Contains(l, "%00") {
			return "", false
		}
	}
	var rel string
	for _, root := range apiRoots {
		if strings.HasPrefix(p, root) {
			rel = p[len(root):]
			break
		}
	}
	if rel == "" {
		return "", false
	}
	for i := 0; i < len(rel); i++ {
		if c := rel[i]; c < 0x20 || c == 0x7f || c == '\\' || c == '%' {
			return "", false
		}
	}
	if strings.Contains(rel, "//") || strings.HasPrefix(rel, "/") || strings.HasSuffix(rel, "/") {
		return "", false
	}
	if path.Clean(rel) != rel {
		return "", false // "." or ".." segments
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == ".." || seg == "." {
			return "", false
		}
	}
	return rel, true
}

func matchAny(globs []string, rel string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(strings.TrimPrefix(g, "/"), rel); ok {
			return true
		}
	}
	return false
}
