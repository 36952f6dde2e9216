// Package policy decides requests and answers with the AUP policy bundle:
// detectors (internal/detect) turn text into signals, the Rego policy
// (data.aup.decision / data.aup.output_decision) turns signals, the subject
// and an optional guard-model verdict into a typed Decision. Queries are
// prepared once per bundle version and swapped atomically on reload; a
// broken bundle never replaces a working one.
package policy

import (
	"github.com/aupguard/aupguard/internal/classify"
	"math"
	"unicode/utf8"

	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/internal/metrics"
	"github.com/aupguard/aupguard/internal/wire"
)

// The entrypoints of the bundle (the policy contract, docs/architecture.md).
const (
	RequestQuery = "data.aup.decision"
	OutputQuery  = "data.aup.output_decision"
)

// DryRunAll puts every category in shadow mode.
const DryRunAll = "all"

// Options configure an Engine.
type Options struct {
	// Dir is the policy directory (the bundle root holding aup/); "" uses
	// the bundle embedded in the binary.
	Dir string
	// Watch polls Dir every PollInterval and reloads on change. Ignored for
	// the embedded bundle.
	Watch        bool
	PollInterval time.Duration // default 1s
	// DryRun lists categories (or "all") whose refusals are only logged:
	// merged into data.aup.dry_run of every bundle version loaded.
	DryRun []string
	Logger *slog.Logger // default: discard
	// Model replaces the bundle's learned model (aup/model.bin); for
	// evaluations that train one per fold. nil: the bundle's.
	Model *classify.Model
	// NoModel runs without any learned model (the lexicon alone), for
	// evaluations that compare the tiers.
	NoModel bool
	// Classifier is the optional guard-model tier; nil or Mode "off" disables it.
	Classifier *ClassifierOptions
	// Unscanned, when set, replaces data.aup.unscanned.action (config
	// policy.unscanned): what a request carrying media no detector reads
	// gets, allow, flag or block.
	Unscanned string
	// AppUnscanned sets data.aup.apps.NAME.unscanned.action per app
	// (config apps[].unscanned; "" keeps the global one).
	AppUnscanned map[string]string
	// OnLoad, when set, is called with the hash and files of every bundle
	// version loaded successfully (the first load and every reload, an
	// unchanged bundle too), before that version decides anything, so a
	// record citing a hash is never made before OnLoad saw it. The files
	// must not be modified. OnLoad cannot fail a load; it should not block
	// for long (the gateway keeps each version in the store for evidence).
	OnLoad func(hash string, files map[string][]byte)
}

// Engine decides requests and answers. Safe for concurrent use.
type Engine struct {
	opt Options
	log *slog.Logger
	cls *Classifier

	cur atomic.Pointer[state]
	mu  sync.Mutex // serialises loads
	m   metrics.Policy

	stop context.CancelFunc
	done chan struct{}
}

// state is one loaded bundle version; immutable once published.
type state struct {
	req, out    rego.PreparedEvalQuery
	det         *detect.Detector
	model       *classify.Model // nil: the bundle has none
	hash        string
	files       map[string][]byte
	fingerprint string
	// fast: the bundle's Rego is the bundled policy's, proven to allow every
	// input without signals exactly like fastAllow does, so such inputs skip
	// Rego (see fastpath.go).
	fast bool
	// unscannedActs: some app's data.aup.unscanned action is not allow,
	// so a request with unscanned media never takes the fast path.
	unscannedActs bool
	// modelBound: learned-tier scores below it are signal-free for the
	// fast path (the policy's _model_flag, read from data; modelBoundOf).
	modelBound modelBound
	// canon: the learned tier's scores as the bundled policy reads them,
	// for the memo (canon.go; used only when fast).
	canon modelCanon
	// use: the input paths the policy reads, for the memos (see memo.go).
	use              inputUse
	reqMemo, outMemo *memo
	sigs             *sigCache // signals of the other authors' texts (CheckRequest)
}

// New loads the bundle (failing if it does not compile or cannot decide a
// plain request) and, with Watch, starts polling it.
func New(ctx context.Context, opt Options) (*Engine, error) {
	if opt.PollInterval <= 0 {
		opt.PollInterval = time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Engine{opt: opt, log: log}
	if opt.Classifier != nil && opt.Classifier.Mode != "" && opt.Classifier.Mode != ModeOff {
		c, err := NewClassifier(*opt.Classifier)
		if err != nil {
			return nil, err
		}
		c.m = &e.m.Classifier
		e.cls = c
	}
	st, err := e.load(ctx)
	if err != nil {
		return nil, err
	}
	e.loaded(st)
	e.cur.Store(st)
	if opt.Watch && opt.Dir != "" {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		e.stop, e.done = cancel, make(chan struct{})
		go e.watch(wctx)
	}
	return e, nil
}

// Close stops the watcher. Decisions may still be made after Close.
func (e *Engine) Close() error {
	if e.stop != nil {
		e.stop()
		<-e.done
		e.stop = nil
	}
	return nil
}

// Metrics are the engine's counters: reloads and the guard model's calls
// (internal/metrics reads them).
func (e *Engine) Metrics() *metrics.Policy { return &e.m }

// Hash is the version hash of the bundle in force.
func (e *Engine) Hash() string { return e.cur.Load().hash }

// Files returns the files of the bundle in force (for evidence bundles);
// the caller must not modify them.
func (e *Engine) Files() map[string][]byte { return e.cur.Load().files }

// Reload loads the bundle again (SIGHUP). On error the bundle in force stays.
func (e *Engine) Reload(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.cur.Load()
	st, err := e.load(ctx)
	if err != nil {
		e.m.ReloadsFailed.Add(1)
		e.log.Error("policy reload failed; keeping the bundle in force", "err", err, "policy_hash", old.hash)
		return err
	}
	e.m.ReloadsOK.Add(1)
	e.loaded(st)
	if st.hash == old.hash {
		return nil
	}
	e.cur.Store(st)
	e.log.Info("policy reloaded", "policy_hash", st.hash, "previous_hash", old.hash)
	return nil
}

// loaded tells OnLoad of a version about to be published.
func (e *Engine) loaded(st *state) {
	e.m.LoadedAt.Store(time.Now().Unix())
	if e.opt.OnLoad != nil {
		e.opt.OnLoad(st.hash, st.files)
	}
}

func (e *Engine) watch(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(e.opt.PollInterval)
	defer t.Stop()
	seen := e.cur.Load().fingerprint
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := fingerprint(e.opt.Dir)
		if err != nil {
			e.log.Warn("policy watch", "err", err)
			continue
		}
		if fp == seen {
			continue
		}
		// Seen whatever the outcome: a broken version is not retried (and
		// logged) every tick, a touched but unchanged file not reloaded
		// again; the next edit changes the fingerprint again.
		seen = fp
		_ = e.Reload(ctx) // logs its error and keeps the bundle in force
	}
}

// load reads, compiles and prepares one bundle version.
func (e *Engine) load(ctx context.Context) (*state, error) {
	var fp string
	if e.opt.Dir != "" {
		var err error
		// Taken before reading, so an edit during the read triggers another load.
		if fp, err = fingerprint(e.opt.Dir); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	b, err := readBundle(e.opt.Dir)
	if err != nil {
		return nil, err
	}
	lex, err := b.lexicon()
	if err != nil {
		return nil, err
	}
	det, err := detect.Compile(lex)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", LexiconFile, err)
	}
	mdl, err := b.model()
	if err != nil {
		return nil, err
	}
	if e.opt.Model != nil {
		mdl = e.opt.Model
	}
	if e.opt.NoModel {
		mdl = nil
	}
	mods, err := b.modules(false)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	data, err := b.data()
	if err != nil {
		return nil, err
	}
	if err := checkTaxonomy(data); err != nil {
		return nil, err
	}
	if err := checkDryRun(data, e.opt.DryRun); err != nil {
		return nil, err
	}
	if err := mergeDryRun(data, e.opt.DryRun); err != nil {
		return nil, err
	}
	mergeUnscanned(data, e.opt.Unscanned, e.opt.AppUnscanned)
	acts, err := checkUnscanned(data)
	if err != nil {
		return nil, err
	}
	comp := ast.NewCompiler().WithStrict(true).WithEnablePrintStatements(false)
	if comp.Compile(mods); comp.Failed() {
		return nil, fmt.Errorf("policy: compile: %w", comp.Errors)
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	prep := func(q string) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.Query(q),
			rego.Compiler(comp),
			rego.Store(store),
			rego.StoreReadAST(true),
			rego.Strict(true),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
	}
	st := &state{det: det, model: mdl, hash: b.hash(), files: b.files, fingerprint: fp, use: analyseInput(comp.Modules), reqMemo: &memo{}, outMemo: &memo{}, sigs: &sigCache{seed: maphash.MakeSeed()}}
	if st.req, err = prep(RequestQuery); err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", RequestQuery, err)
	}
	if st.out, err = prep(OutputQuery); err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", OutputQuery, err)
	}
	// A bundle must decide a plain request (probed for every app in data);
	// the Go fast path stands in for it only if its Rego is the bundled
	// policy's (fastpath.go).
	st.unscannedActs = acts
	fast, why, err := fastPath(ctx, st, b, appNames(data))
	if err != nil {
		return nil, err
	}
	st.fast = fast
	st.modelBound = modelBoundOf(data)
	st.canon = modelCanonOf(data)
	e.log.Info("policy: fast path", "on", fast, "reason", why, "policy_hash", st.hash)
	return st, nil
}

// mergeDryRun adds the engine's dry-run list to data.aup.dry_run.
func mergeDryRun(data map[string]any, extra []string) error {
	if len(extra) == 0 {
		return nil
	}
	aup, ok := data["aup"].(map[string]any)
	if !ok {
		aup = map[string]any{}
		data["aup"] = aup
	}
	var list []any
	switch v := aup["dry_run"].(type) {
	case nil:
	case []any:
		list = v
	default:
		return errors.New("policy: data.aup.dry_run must be a list")
	}
	for _, c := range extra {
		list = append(list, c)
	}
	aup["dry_run"] = list
	return nil
}

// checkDryRun refuses dry-run entries that name nothing: a typo would
// silently enforce what the operator meant to shadow.
func checkDryRun(data map[string]any, list []string) error {
	aup, _ := data["aup"].(map[string]any)
	cats, _ := aup["categories"].(map[string]any)
	pii, _ := aup["pii"].(map[string]any)
	for _, c := range list {
		if c == DryRunAll || c == UnscannedCategory || cats[c] != nil {
			continue
		}
		if k, ok := strings.CutPrefix(c, "pii_"); ok && pii[k] != nil {
			continue
		}
		return fmt.Errorf("policy: dry_run: %q is not a category of data.aup.categories, pii_KIND, %q or %q", c, UnscannedCategory, DryRunAll)
	}
	return nil
}

// CheckRequest decides one end-user request from all the text a model
// would read, with its provenance. The detectors scan each author's text on
// its own: the end user's becomes input.signals (decision, which strikes),
// the operator's, the model's and tools' input.by_author (decision.operator
// judges the operator's; see docs/detection.md). A text with an empty or
// unknown author is the end user's. In classifier mode "before", the guard
// model is asked first about the end user's text (bounded by its timeout).
// An undefined or malformed policy result is an error, never an allow.
func (e *Engine) CheckRequest(ctx context.Context, s Subject, texts []wire.Text) (Decision, error) {
	st := e.cur.Load()
	user, op, model, tool := Split(texts)
	// A chat's history and an app's system prompt come again with every turn.
	sig := st.det.ScanCached(user)
	sig.Model = st.modelScores(user)
	var by *ByAuthor
	if len(op)+len(model)+len(tool) > 0 {
		by = &ByAuthor{Operator: st.scanAuthor(0, op), Model: st.scanAuthor(1, model), Tool: st.scanAuthor(2, tool)}
	}
	var v *Verdict
	if e.cls != nil && (e.cls.opt.Mode == ModeBefore || e.cls.opt.Mode == ModeCascade && Unsure(sig, e.cls.opt.CascadeBand)) {
		cv := e.cls.Classify(ctx, user, s.ZDR)
		v = &cv
	}
	d, err := e.decide(ctx, st, &st.req, st.reqMemo, s, sig, by, v)
	if err == nil && d.Unscanned != nil {
		// Counted here, once per request (a parallel verdict decides it again).
		for k, n := range d.Unscanned {
			e.m.UnscannedParts.Add(metrics.Key{k}, int64(n))
		}
		e.m.UnscannedRequests.Inc(string(d.Action))
	}
	return d, err
}

// scanAuthor scans the texts of input.by_author[authorFields[a]]. No text,
// or a policy that never reads that author (memo analysis), gives the empty
// signals: no scan. The rest goes through the state's signals cache, since
// an app sends the same system prompt with every request.
func (st *state) scanAuthor(a int, texts []string) detect.Signals {
	if len(texts) == 0 || (st.use.memo && st.use.byAuthor[a] == signalUse{}) {
		return detect.Signals{}
	}
	// The learned tier reads the operator's text too, so that the policy can
	// confirm the lexicon's hits on a system prompt as it does on the end
	// user's words (most system prompts name what the app must refuse).
	withModel := a == 0 && (!st.use.memo || st.use.byAuthor[0][modelField])
	return st.sigs.scan(a, texts, func() detect.Signals {
		sig := st.det.ScanCached(texts)
		if withModel {
			sig.Model = st.modelScores(texts)
		}
		return sig
	})
}

const modelField = 4 // signalFields[modelField] == "model"

const sigCacheMax = 1024 // entries per bundle version; the map is dropped when full

// sigCache remembers the signals of whole groups of texts (an app's
// operator texts), keyed by a seeded hash of the texts, never the text. A
// scan has a fixed cost of microseconds however short the text; a hit
// costs a hash. Cached signals are shared and never modified.
type sigCache struct {
	seed maphash.Seed
	mu   sync.RWMutex
	m    map[uint64]detect.Signals
}

func (c *sigCache) scan(author int, texts []string, compute func() detect.Signals) detect.Signals {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteByte(byte(author)) // the same text is read differently per author
	var n [8]byte
	for _, t := range texts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(t)))
		h.Write(n[:])
		h.WriteString(t)
	}
	k := h.Sum64()
	c.mu.RLock()
	sig, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return sig
	}
	sig = compute()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= sigCacheMax {
		c.m = make(map[uint64]detect.Signals, 64)
	}
	c.m[k] = sig
	c.mu.Unlock()
	return sig
}

// CheckOutput decides a model answer (or the text of a stream so far).
func (e *Engine) CheckOutput(ctx context.Context, s Subject, texts []string) (Decision, error) {
	st := e.cur.Load()
	return e.decide(ctx, st, &st.out, st.outMemo, s, st.det.Scan(texts), nil, nil)
}

// Decide evaluates the request policy on signals the caller already has
// (e.g. from an earlier Scan) of the end user's text, the other authors'
// (nil: none) and an optional verdict.
func (e *Engine) Decide(ctx context.Context, s Subject, sig detect.Signals, by *ByAuthor, v *Verdict) (Decision, error) {
	st := e.cur.Load()
	return e.decide(ctx, st, &st.req, st.reqMemo, s, sig, by, v)
}

func (e *Engine) decide(ctx context.Context, st *state, pq *rego.PreparedEvalQuery, m *memo, s Subject, sig detect.Signals, by *ByAuthor, v *Verdict) (Decision, error) {
	var d Decision
	switch {
	case st.fast && v == nil && signalFreeBelow(sig, st.modelBound) && by.signalFree() &&
		!(st.unscannedActs && hasUnscanned(s.NonText)):
		d = fastAllow()
	case v == nil && st.use.memo:
		if st.fast {
			sig, by = st.canon.apply(sig, by) // canon.go: decided alike, met more often
		}
		k := st.use.key(s, sig, by)
		var ok bool
		if d, ok = m.get(k); !ok {
			var err error
			if d, err = evalDecision(ctx, pq, inputValueBy(s, sig, by, v)); err != nil {
				return Decision{}, err
			}
			m.put(k, d)
		}
	default:
		var err error
		if d, err = evalDecision(ctx, pq, inputValueBy(s, sig, by, v)); err != nil {
			return Decision{}, err
		}
	}
	d.ID = NewID()
	d.PolicyHash = st.hash
	if pq == &st.req && hasUnscanned(s.NonText) {
		d.Unscanned = Unscanned(s.NonText)
	}
	if len(d.Redactions) > 0 {
		det, kinds := st.det, d.Redactions
		d.Redact = func(t string) string { return det.Redact(t, kinds) }
	}
	if v != nil && (v.Verdict == VerdictTimeout || v.Verdict == VerdictError) && e.cls != nil {
		e.cls.applyUnavailable(&d, v)
	}
	if d.DryRun {
		e.log.Info("policy dry-run: refusal let through",
			"decision_id", d.ID, "would_action", string(d.WouldAction), "reasons", d.Reasons, "policy_hash", d.PolicyHash)
	}
	return d, nil
}

// modelScores runs the learned tier on the end user's text (texts seen
// lately, a chat's history, are not scored again: ScoreCached). Scores are
// rounded to two decimals, like the lexicon's, so the decision memo still
// meets equal inputs. nil: no model, or no end-user text.
func (st *state) modelScores(texts []string) *detect.ModelScores {
	if st.model == nil || len(texts) == 0 {
		return nil
	}
	sc := st.model.ScoreCached(modelView(texts))
	ms := &detect.ModelScores{Harmful: round2(sc.Harmful), English: round2(sc.English), Categories: make(map[string]float64, len(sc.Categories))}
	for c, v := range sc.Categories {
		ms.Categories[c] = round2(v)
	}
	return ms
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// modelHeadTail bounds what the learned tier reads of one text: its first
// and last 32 KiB. A request is asked at a text's start or end; the lexicon
// still reads every byte, and this keeps a megabyte prompt within budget.
const modelHeadTail = 32 << 10

func modelView(texts []string) []string {
	long := false
	for _, t := range texts {
		long = long || len(t) > 2*modelHeadTail
	}
	if !long {
		return texts
	}
	out := make([]string, 0, len(texts)+1)
	for _, t := range texts {
		if len(t) <= 2*modelHeadTail {
			out = append(out, t)
			continue
		}
		head, tail := modelHeadTail, len(t)-modelHeadTail
		for head > 0 && !utf8.RuneStart(t[head]) {
			head--
		}
		for tail < len(t) && !utf8.RuneStart(t[tail]) {
			tail++
		}
		out = append(out, t[:head], t[tail:])
	}
	return out
}
