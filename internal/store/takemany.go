package store

import (
	"context"
	"time"
)

// TakeReq is one Take of a batch.
type TakeReq struct {
	Key   string
	Limit Limit
	N     int
}

// TakeRes is what one TakeReq got: Take's results.
type TakeRes struct {
	Granted    int
	RetryAfter time.Duration
	Err        error
}

// BatchTaker is a store whose Take is a round trip to a server and that
// can do many Takes in one (Redis: a pipeline). The results are those of
// the Takes done one after another in order.
type BatchTaker interface {
	TakeMany(ctx context.Context, reqs []TakeReq, res []TakeRes)
}

// TakeMany does reqs on st, in one round trip when st is a BatchTaker, and
// writes each result to res (len(res) >= len(reqs)).
func TakeMany(ctx context.Context, st Store, reqs []TakeReq, res []TakeRes) {
	res = res[:len(reqs)]
	if bt, ok := st.(BatchTaker); ok {
		bt.TakeMany(ctx, reqs, res)
		return
	}
	for i, r := range reqs {
		g, retry, err := st.Take(ctx, r.Key, r.Limit, r.N)
		res[i] = TakeRes{g, retry, err}
	}
}
