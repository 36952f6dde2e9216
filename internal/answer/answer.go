// Package answer checks model answers against the output policy: plain
// responses before they are returned, streams while they flow. A stream's
// events are forwarded as they arrive; the extracted text is checked over a
// sliding window behind them, and a blocked answer is cut with one SSE error
// event in OpenRouter's mid-stream error form. Answer text is held only in
// the window (never logged, never written), so the check is ZDR-safe by
// construction. See docs/answer-check.md.
package answer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// OutputChecker decides a model answer; *policy.Engine is one.
type OutputChecker interface {
	CheckOutput(ctx context.Context, s policy.Subject, texts []string) (policy.Decision, error)
}

var _ OutputChecker = (*policy.Engine)(nil)

// Defaults of Options.
const (
	DefaultWindow        = 2048
	DefaultInterval      = 32
	DefaultMaxPlainBytes = 8 << 20
	DefaultMaxChannels   = 32
)

// Options configure a Checker. The zero value is usable: every field has a default.
type Options struct {
	// Window is how many bytes of already-checked text (per channel: one
	// choice's content, reasoning or tool arguments) are kept and checked
	// again with the new text, so a phrase split across chunks is caught.
	// Phrases longer than Window may be missed. Default 2048.
	Window int
	// Interval is how many bytes of new stream text may gather before a
	// check runs: the bound on work per chunk (a check costs about Window
	// bytes of scanning). A text-free event (the finish or usage chunk,
	// [DONE], Responses' *.done events) and the end of the stream always
	// check what is pending first. Default 32; 1 checks after every chunk.
	Interval int
	// Categories, when not empty, are the only categories answer checks
	// act on: a decision none of whose categories is listed counts as
	// allow, and the others are dropped from the decision. Per-category
	// actions and thresholds for answers belong in the policy (the
	// "output" object of a category in data.json); this is a coarse switch.
	Categories []string
	// FailClosed refuses (plain) or cuts (stream) an answer whose check
	// failed. Default (false): the answer goes on and one warning is logged.
	FailClosed bool
	// MaxPlainBytes bounds how much of a plain answer is read for checking;
	// a larger answer is treated like a failed check. Default 8 MiB.
	MaxPlainBytes int64
	// MaxChannels bounds the number of separately windowed text channels
	// per stream (choices × fields: content, reasoning, tool arguments);
	// further channels share the last one, where interleaved text of
	// several may hide a split phrase. Default 32.
	MaxChannels int
	// Logger gets warnings (never content). Default: discard.
	Logger *slog.Logger
}

// Checker checks answers with one OutputChecker and Options. Safe for
// concurrent use; build one per distinct Options (e.g. per app).
type Checker struct {
	chk  OutputChecker
	opt  Options
	cats map[string]bool
	log  *slog.Logger
}

// New validates opt, fills in its defaults and returns a Checker.
func New(chk OutputChecker, opt Options) (*Checker, error) {
	if chk == nil {
		return nil, errors.New("answer: nil OutputChecker")
	}
	if opt.Window < 0 || opt.Interval < 0 || opt.MaxPlainBytes < 0 || opt.MaxChannels < 0 {
		return nil, fmt.Errorf("answer: negative option in %+v", opt)
	}
	if opt.Window == 0 {
		opt.Window = DefaultWindow
	}
	if opt.Window < 64 {
		return nil, fmt.Errorf("answer: window %d is below 64 bytes", opt.Window)
	}
	if opt.Interval == 0 {
		opt.Interval = DefaultInterval
	}
	if opt.MaxPlainBytes == 0 {
		opt.MaxPlainBytes = DefaultMaxPlainBytes
	}
	if opt.MaxChannels == 0 {
		opt.MaxChannels = DefaultMaxChannels
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Checker{chk: chk, opt: opt, log: opt.Logger}
	if len(opt.Categories) > 0 {
		c.cats = make(map[string]bool, len(opt.Categories))
		for _, id := range opt.Categories {
			c.cats[id] = true
		}
	}
	return c, nil
}

// Options returns the options in force, defaults filled in.
func (c *Checker) Options() Options { return c.opt }

// Call is one answer to check: whose it is and whom to tell.
type Call struct {
	Endpoint wire.Endpoint
	Subject  policy.Subject
	// OnBlock is called at most once, when the answer is refused (plain) or
	// cut (stream), with the decision (categories already filtered by
	// Options.Categories). The caller files the abuse report (source
	// "answer"). It runs on the proxy's goroutine before the refusal is
	// sent: hand slow work off, with context.WithoutCancel. The keys of
	// what it returns join the refusal's metadata (e.g. statement_id).
	OnBlock func(policy.Decision) map[string]any
	// OnFlag is called at most once per answer, for the first decision that
	// is a violation but not a block (the answer goes on). A stream that is
	// flagged and later blocked calls both.
	OnFlag func(policy.Decision)
}

// filter applies Options.Categories to a decision.
func (c *Checker) filter(d policy.Decision) policy.Decision {
	if c.cats == nil || d.Action == policy.Allow {
		return d
	}
	kept := make([]string, 0, len(d.Categories))
	for _, id := range d.Categories {
		if c.cats[id] {
			kept = append(kept, id)
		}
	}
	if len(kept) == 0 && len(d.Categories) > 0 {
		d.Action, d.Strike, d.Escalation, d.LegalHold = policy.Allow, 0, "", false
	}
	d.Categories = kept
	return d
}

// Plain checks a plain (non-streamed) answer body: message content,
// reasoning, refusals and tool-call arguments. The decision has
// Options.Categories applied; Action == policy.Block means refuse. An error
// means the check failed (Options.FailClosed tells the caller what to do;
// Response does it). Plain calls neither OnBlock nor OnFlag.
func (c *Checker) Plain(ctx context.Context, ep wire.Endpoint, s policy.Subject, body []byte) (policy.Decision, error) {
	ts := wire.AnswerTexts(ep, body)
	if len(ts) == 0 {
		return policy.Decision{Action: policy.Allow}, nil
	}
	texts := make([]string, len(ts))
	for i, t := range ts {
		texts[i] = t.Text
	}
	d, err := c.chk.CheckOutput(ctx, s, texts)
	if err != nil {
		return policy.Decision{}, err
	}
	return c.filter(d), nil
}

// Refusal messages, shown to the end user's app.
const (
	msgBlocked   = "The model's answer was blocked by the acceptable use policy."
	msgUnchecked = "The model's answer could not be checked against the acceptable use policy."
)

// blocked calls OnBlock and returns the refusal's metadata: the decision's
// categories and id, and what OnBlock adds.
func (call Call) blocked(d policy.Decision) map[string]any {
	meta := wire.BlockedMeta(d.Categories, d.ID)
	if call.OnBlock != nil {
		for k, v := range call.OnBlock(d) {
			meta[k] = v
		}
	}
	return meta
}
