package middleware

import "net/http"

// httpMaxBytesError is what an operator's http.MaxBytesReader in front of
// us reports; treated as too large, not as a broken body.
type httpMaxBytesError = http.MaxBytesError
