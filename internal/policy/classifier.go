package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/internal/metrics"
)

// Classifier modes.
const (
	ModeOff      = "off"
	ModeBefore   = "before"   // ask the guard model first; its verdict joins the decision
	ModeParallel = "parallel" // forward at once; the gateway stops the answer on an unsafe verdict
	// ModeCascade asks the guard model first, but only about requests the
	// built-in tiers are unsure of (see Unsure); the rest never wait for it.
	ModeCascade = "cascade"
)

// DefaultCascadeBand is the learned tier's harm probability, [low, high),
// in which cascade mode asks the guard model: high is where the learned
// tier acts alone (settings.model.flag), low where leave-one-source-out
// evaluation shows its held-out scores start to mean something.
var DefaultCascadeBand = [2]float64{0.8, 0.96}

// Unsure reports whether the built-in tiers disagree or hesitate about
// the end user's text: the learned tier's harm probability lies in the
// band, or the lexicon scores a category at 0.5 or more (ambiguous or
// clear, by its own scale) while the learned tier is below the band's top.
// Without a learned tier, any such lexicon score is unsure.
func Unsure(sig detect.Signals, band [2]float64) bool {
	lex := false
	for _, c := range sig.Categories {
		lex = lex || c.Score >= 0.5
	}
	if sig.Model == nil {
		return lex
	}
	h := sig.Model.Harmful
	return h < band[1] && (lex || h >= band[0])
}

// Classifier kinds.
const (
	// KindLlamaGuard asks a guard model through an OpenAI-compatible
	// chat/completions API (OpenRouter): the answer is "safe" or
	// "unsafe\nS1,S9" with MLCommons hazard codes.
	KindLlamaGuard = "llama_guard"
	// KindModeration posts to an OpenAI-compatible /moderations endpoint.
	KindModeration = "moderation"
)

// Verdicts. Timeout and error are "unavailable": ClassifierOptions.OnTimeout
// decides what they mean.
const (
	VerdictSafe    = "safe"
	VerdictUnsafe  = "unsafe"
	VerdictTimeout = "timeout"
	VerdictError   = "error"
)

// DefaultGuardModel is the guard model used when none is configured.
const DefaultGuardModel = "meta-llama/llama-guard-4-12b"

// ClassifierOptions configure the guard-model tier.
type ClassifierOptions struct {
	Mode string // off | before | parallel | cascade
	// CascadeBand is cascade mode's band of the learned tier's harm
	// probability; zero: DefaultCascadeBand.
	CascadeBand [2]float64
	Kind        string // llama_guard | moderation; default: moderation when URL ends in /moderations, else llama_guard
	// URL: for llama_guard the API base (e.g. https://openrouter.ai/api/v1),
	// to which /chat/completions is added; for moderation the endpoint itself.
	URL     string
	APIKey  string
	Model   string        // llama_guard: default DefaultGuardModel; moderation: optional
	Timeout time.Duration // bound on one verdict, default 2s
	// OnTimeout is the least action when no verdict came in time or the
	// classifier failed: allow (default), flag or block.
	OnTimeout Action
	// MaxChars caps the text sent (the start is kept), default 64 KiB.
	MaxChars   int
	Headers    map[string]string // extra request headers (e.g. HTTP-Referer, X-Title)
	HTTPClient *http.Client      // default: a client with no timeout of its own
}

// Verdict is the classifier's answer, fed to the policy as input.classifier.
type Verdict struct {
	Verdict    string   `json:"verdict"`              // safe | unsafe | timeout | error
	Codes      []string `json:"codes,omitempty"`      // S-codes or moderation labels; data.aup.classifier.map maps them
	Categories []string `json:"categories,omitempty"` // taxonomy ids, when already known
	Err        string   `json:"error,omitempty"`
}

// Classifier asks a guard model for a verdict. Safe for concurrent use.
type Classifier struct {
	opt ClassifierOptions
	hc  *http.Client
	m   *metrics.Classifier // the engine's counters; nil: not counted
}

// NewClassifier validates the options and fills in defaults.
func NewClassifier(opt ClassifierOptions) (*Classifier, error) {
	switch opt.Mode {
	case ModeBefore, ModeParallel, ModeCascade:
	case "", ModeOff:
		return nil, errors.New("policy: classifier mode is off")
	default:
		return nil, fmt.Errorf("policy: classifier mode %q: want off, before, parallel or cascade", opt.Mode)
	}
	if opt.CascadeBand == [2]float64{} {
		opt.CascadeBand = DefaultCascadeBand
	}
	if b := opt.CascadeBand; b[0] < 0 || b[1] > 1 || b[0] >= b[1] {
		return nil, fmt.Errorf("policy: classifier cascade band [%v, %v): want 0 <= low < high <= 1", b[0], b[1])
	}
	if opt.Kind == "" {
		// An endpoint URL says what it is; an API base means a guard model.
		opt.Kind = KindLlamaGuard
		if strings.HasSuffix(strings.TrimSuffix(opt.URL, "/"), "/moderations") {
			opt.Kind = KindModeration
		}
	}
	switch opt.Kind {
	case KindLlamaGuard:
		if opt.Model == "" {
			opt.Model = DefaultGuardModel
		}
	case KindModeration:
	default:
		return nil, fmt.Errorf("policy: classifier kind %q: want llama_guard or moderation", opt.Kind)
	}
	if opt.URL == "" {
		return nil, errors.New("policy: classifier needs a URL")
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Second
	}
	if opt.OnTimeout == "" {
		opt.OnTimeout = Allow
	}
	switch opt.OnTimeout {
	case Allow, Flag, Block:
	default:
		return nil, fmt.Errorf("policy: classifier on_timeout %q: want allow, flag or block", opt.OnTimeout)
	}
	if opt.MaxChars <= 0 {
		opt.MaxChars = 64 << 10
	}
	hc := opt.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Classifier{opt: opt, hc: hc}, nil
}

// Mode is the configured mode.
func (c *Classifier) Mode() string { return c.opt.Mode }

// Classify returns a verdict within the timeout. It never fails: an
// unreachable, slow or confused classifier yields VerdictTimeout or
// VerdictError with Err set. With zdr, a guard-model request carries
// OpenRouter's zero-data-retention routing like the request it judges.
func (c *Classifier) Classify(ctx context.Context, texts []string, zdr bool) Verdict {
	start := time.Now()
	v := c.classify(ctx, texts, zdr)
	if c.m != nil {
		c.m.Latency.Observe(time.Since(start))
		c.m.Calls.Inc(v.Verdict)
	}
	return v
}

func (c *Classifier) classify(ctx context.Context, texts []string, zdr bool) Verdict {
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	text := joinCapped(texts, c.opt.MaxChars)
	var v Verdict
	var err error
	if c.opt.Kind == KindModeration {
		v, err = c.moderate(ctx, text)
	} else {
		v, err = c.guard(ctx, text, zdr)
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Verdict{Verdict: VerdictTimeout, Err: err.Error()}
		}
		return Verdict{Verdict: VerdictError, Err: err.Error()}
	}
	return v
}

func joinCapped(texts []string, max int) string {
	var b strings.Builder
	for i, t := range texts {
		if i > 0 {
			b.WriteString("\n\n")
		}
		if room := max - b.Len(); len(t) > room {
			if room > 0 {
				b.WriteString(t[:room])
			}
			break
		}
		b.WriteString(t)
	}
	return b.String()
}

func (c *Classifier) post(ctx context.Context, url string, body any, out any) error {
	buf, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.opt.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.opt.APIKey)
	}
	for k, v := range c.opt.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("classifier: HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("classifier: bad JSON: %w", err)
	}
	return nil
}

func (c *Classifier) guard(ctx context.Context, text string, zdr bool) (Verdict, error) {
	var resp struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	body := map[string]any{
		"model":       c.opt.Model,
		"messages":    []map[string]string{{"role": "user", "content": text}},
		"temperature": 0,
		"max_tokens":  32,
	}
	if zdr {
		body["provider"] = map[string]any{"zdr": true, "data_collection": "deny"}
	}
	if err := c.post(ctx, strings.TrimSuffix(c.opt.URL, "/")+"/chat/completions", body, &resp); err != nil {
		return Verdict{}, err
	}
	if len(resp.Choices) == 0 {
		return Verdict{}, errors.New("classifier: no choices")
	}
	return ParseGuardAnswer(resp.Choices[0].Message.Content)
}

// ParseGuardAnswer reads a Llama Guard answer: "safe", or "unsafe" and a
// line of comma-separated hazard codes ("S1,S9").
func ParseGuardAnswer(s string) (Verdict, error) {
	lines := strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), ",", " "))
	if len(lines) == 0 {
		return Verdict{}, errors.New("classifier: empty answer")
	}
	switch strings.ToLower(lines[0]) {
	case VerdictSafe:
		return Verdict{Verdict: VerdictSafe}, nil
	case VerdictUnsafe:
		v := Verdict{Verdict: VerdictUnsafe}
		for _, code := range lines[1:] {
			v.Codes = append(v.Codes, strings.ToUpper(code))
		}
		return v, nil
	}
	return Verdict{}, fmt.Errorf("classifier: unexpected answer %.40q", s)
}

func (c *Classifier) moderate(ctx context.Context, text string) (Verdict, error) {
	var resp struct {
		Results []struct {
			Flagged    bool            `json:"flagged"`
			Categories map[string]bool `json:"categories"`
		} `json:"results"`
	}
	body := map[string]any{"input": text}
	if c.opt.Model != "" {
		body["model"] = c.opt.Model
	}
	if err := c.post(ctx, c.opt.URL, body, &resp); err != nil {
		return Verdict{}, err
	}
	if len(resp.Results) == 0 {
		return Verdict{}, errors.New("classifier: no results")
	}
	v := Verdict{Verdict: VerdictSafe}
	seen := map[string]bool{}
	for _, r := range resp.Results {
		if r.Flagged {
			v.Verdict = VerdictUnsafe
		}
		for label, on := range r.Categories {
			if on && !seen[label] {
				seen[label] = true
				v.Codes = append(v.Codes, label)
			}
		}
	}
	sort.Strings(v.Codes)
	return v, nil
}

// applyUnavailable raises a decision to OnTimeout when no verdict came.
func (c *Classifier) applyUnavailable(d *Decision, v *Verdict) {
	act := c.opt.OnTimeout
	d.Reasons = append(d.Reasons, fmt.Sprintf("classifier_unavailable: %s (on_timeout %s)", v.Verdict, act))
	d.Rules = append(d.Rules, "classifier."+v.Verdict)
	if act.Rank() > d.Action.Rank() {
		d.Action = act
	}
}

// ClassifierMode is the classifier tier's mode: off, before or parallel.
func (e *Engine) ClassifierMode() string {
	if e.cls == nil {
		return ModeOff
	}
	return e.cls.opt.Mode
}

// Classify asks the guard model about texts (the end user's own, as
// CheckRequest does) and decides the request with
// its verdict and the detectors' signals, like CheckRequest does in mode
// "before". In mode "parallel" the gateway calls it (or StartClassify)
// beside forwarding and stops the answer when the result is a Block.
func (e *Engine) Classify(ctx context.Context, s Subject, texts []string) (Decision, error) {
	if e.cls == nil {
		return Decision{}, errors.New("policy: no classifier configured")
	}
	st := e.cur.Load()
	sig := st.det.ScanCached(texts)
	v := e.cls.Classify(ctx, texts, s.ZDR)
	return e.decide(ctx, st, &st.req, st.reqMemo, s, sig, nil, &v)
}

// Pending is a Classify running in the background.
type Pending struct {
	done chan struct{}
	d    Decision
	err  error
}

// StartClassify runs Classify in a goroutine; it ends within the
// classifier's timeout, or when ctx ends.
func (e *Engine) StartClassify(ctx context.Context, s Subject, texts []string) *Pending {
	p := &Pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.d, p.err = e.Classify(ctx, s, texts)
	}()
	return p
}

// Done is closed when the decision is ready.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result returns the decision; call it after Done is closed (it waits).
func (p *Pending) Result() (Decision, error) {
	<-p.done
	return p.d, p.err
}
