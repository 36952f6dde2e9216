package deskclient

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

// Notice takes an abuse notice in: it opens a case on the user behind it.
func (c *Client) Notice(ctx context.Context, req deskapi.NoticeRequest) (deskapi.NoticeAck, json.RawMessage, error) {
	var ack deskapi.NoticeAck
	raw, err := c.call(ctx, "POST", "notices", nil, req, &ack)
	return ack, raw, err
}

// Appeals lists appeals with status ("" for every status), oldest first.
func (c *Client) Appeals(ctx context.Context, status, cursor string) (store.Page[deskapi.AppealItem], json.RawMessage, error) {
	var pg store.Page[deskapi.AppealItem]
	q := url.Values{"status": {status}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	raw, err := c.call(ctx, "GET", "appeals", q, nil, &pg)
	return pg, raw, err
}

// DecideAppeal upholds or reverses an open appeal.
func (c *Client) DecideAppeal(ctx context.Context, id string, req deskapi.AppealDecisionRequest) (deskapi.AppealItem, json.RawMessage, error) {
	var it deskapi.AppealItem
	raw, err := c.call(ctx, "POST", "appeals/"+url.PathEscape(id)+"/decision", nil, req, &it)
	return it, raw, err
}
