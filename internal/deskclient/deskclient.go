// Package deskclient is a client of the desk's JSON API (internal/deskapi)
// on a running gateway's admin listener: what the aupguard desk and export
// commands use, so they never open the store the gateway holds.
package deskclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

// maxAnswer bounds a JSON answer read into memory.
const maxAnswer = 64 << 20

// Client talks to one admin listener with one bearer token.
type Client struct {
	base  string // the listener's URL, without /admin/v1
	token string
	hc    *http.Client
}

// New returns a client of the admin listener at adminURL (with or without
// the /admin/v1 suffix); timeout bounds every call.
func New(adminURL, token string, timeout time.Duration) (*Client, error) {
	if token == "" {
		return nil, errors.New("no admin token: set AUPGUARD_TOKEN (or --token)")
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--admin-url %q is not an http(s) URL", adminURL)
	}
	base := strings.TrimSuffix(strings.TrimRight(adminURL, "/"), strings.TrimSuffix(deskapi.Prefix, "/"))
	return &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: timeout}}, nil
}

// Error is a refusal by the API.
type Error struct {
	Status  int
	Message string
	Reason  string   // metadata.reason
	Apps    []string // metadata.apps: the apps that know an ambiguous id
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s (HTTP %d", e.Message, e.Status)
	if e.Reason != "" {
		msg += ", " + e.Reason
	}
	msg += ")"
	if len(e.Apps) > 0 {
		msg += "\napps that know this id: " + strings.Join(e.Apps, ", ") + " — add --app NAME"
	}
	return msg
}

// QueueFilter narrows GET queue; zero fields do not filter.
type QueueFilter struct {
	Category, Status, App, Cursor string
	Risk                          string // the lowest risk listed, as the user typed it
	Limit                         int
}

// Queue lists a page of the review queue. Every call also returns the
// API's JSON as sent, for callers that print it.
func (c *Client) Queue(ctx context.Context, f QueueFilter) (store.Page[store.QueueItem], json.RawMessage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"category": f.Category, "status": f.Status, "app": f.App, "risk": f.Risk, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var page store.Page[store.QueueItem]
	raw, err := c.call(ctx, "GET", "queue", q, nil, &page)
	return page, raw, err
}

// Case reads one end user's record; app may be "" when one app knows user.
func (c *Client) Case(ctx context.Context, app, user string) (deskapi.Case, json.RawMessage, error) {
	var cv deskapi.Case
	raw, err := c.call(ctx, "GET", "users/"+url.PathEscape(user), appQuery(app), nil, &cv)
	return cv, raw, err
}

// Act records a reviewer's action on an end user.
func (c *Client) Act(ctx context.Context, user string, req deskapi.ActionRequest) (deskapi.ActionResult, json.RawMessage, error) {
	var res deskapi.ActionResult
	raw, err := c.call(ctx, "POST", "users/"+url.PathEscape(user)+"/actions", nil, req, &res)
	return res, raw, err
}

// Decision finds the reports that carry a decision id.
func (c *Client) Decision(ctx context.Context, id string) (deskapi.Decision, json.RawMessage, error) {
	var d deskapi.Decision
	raw, err := c.call(ctx, "GET", "decisions/"+url.PathEscape(id), nil, nil, &d)
	return d, raw, err
}

// Erase carries out an erasure request (every app that knows user when
// app is "").
func (c *Client) Erase(ctx context.Context, app, user, reason string) (deskapi.EraseResult, json.RawMessage, error) {
	var res deskapi.EraseResult
	raw, err := c.call(ctx, "POST", "users/"+url.PathEscape(user)+"/erase", appQuery(app), deskapi.EraseRequest{Reason: reason}, &res)
	return res, raw, err
}

// Holds lists the legal holds in force.
func (c *Client) Holds(ctx context.Context) (deskapi.Holds, json.RawMessage, error) {
	var hs deskapi.Holds
	raw, err := c.call(ctx, "GET", "holds", nil, nil, &hs)
	return hs, raw, err
}

// Hold places a legal hold.
func (c *Client) Hold(ctx context.Context, req deskapi.HoldRequest) (deskapi.HoldPlaced, json.RawMessage, error) {
	var res deskapi.HoldPlaced
	raw, err := c.call(ctx, "POST", "holds", nil, req, &res)
	return res, raw, err
}

// Release lifts a legal hold.
func (c *Client) Release(ctx context.Context, req deskapi.HoldRequest) (deskapi.HoldReleased, json.RawMessage, error) {
	var res deskapi.HoldReleased
	raw, err := c.call(ctx, "POST", "holds/release", nil, req, &res)
	return res, raw, err
}

// Export streams the evidence bundle of GET export?q; the caller closes it.
func (c *Client) Export(ctx context.Context, q url.Values) (io.ReadCloser, error) {
	return c.download(ctx, "export", q)
}

// SubjectExport streams the access-request bundle of one end user.
func (c *Client) SubjectExport(ctx context.Context, app, user string) (io.ReadCloser, error) {
	return c.download(ctx, "users/"+url.PathEscape(user)+"/export", appQuery(app))
}

func appQuery(app string) url.Values {
	if app == "" {
		return nil
	}
	return url.Values{"app": {app}}
}

func (c *Client) request(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	u := c.base + deskapi.Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.hc.Do(req)
}

// call sends a JSON request and decodes a 2xx answer into out.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body, out any) (json.RawMessage, error) {
	resp, err := c.request(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(resp, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, err
	}
	return data, nil
}

// download answers a bundle's body once the status says it is one.
func (c *Client) download(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.request(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("%s: %s", resp.Status, errorMessage(data))
	}
	return resp.Body, nil
}

func apiError(resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var body deskapi.Error
	if json.Unmarshal(data, &body) == nil && body.Error.Message != "" {
		e.Message = body.Error.Message
		e.Reason, _ = body.Error.Metadata["reason"].(string)
		if apps, ok := body.Error.Metadata["apps"].([]any); ok {
			for _, a := range apps {
				if s, ok := a.(string); ok {
					e.Apps = append(e.Apps, s)
				}
			}
		}
		return e
	}
	e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
	if e.Message == "" {
		e.Message = resp.Status
	}
	return e
}

// errorMessage pulls the message out of an error body: the API's shape,
// an {"error": "text"} from a proxy in between, or the text itself.
func errorMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var obj deskapi.ErrorBody
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	if s := strings.TrimSpace(string(body)); s != "" {
		return s
	}
	return "no details"
}

// Period selects a transparency report or the subprocessor register: the
// times as the user typed them (RFC 3339, a date, or a duration back from
// now; the gateway reads them) and an app ("" for all).
type Period struct {
	Since, Until, App string
}

func (p Period) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"since": p.Since, "until": p.Until, "app": p.App} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Transparency reads the transparency report of a period.
func (c *Client) Transparency(ctx context.Context, p Period) (deskapi.Transparency, json.RawMessage, error) {
	var t deskapi.Transparency
	raw, err := c.call(ctx, "GET", "transparency", p.query(), nil, &t)
	return t, raw, err
}

// Providers reads the subprocessor register of a period.
func (c *Client) Providers(ctx context.Context, p Period) (deskapi.ProviderRegister, json.RawMessage, error) {
	var r deskapi.ProviderRegister
	raw, err := c.call(ctx, "GET", "providers", p.query(), nil, &r)
	return r, raw, err
}
