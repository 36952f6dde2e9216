// Package register keeps the subprocessor register: per app and UTC day,
// which upstream providers and models served how many model calls, and
// whether under ZDR routing, read from each response's provider and model
// fields (never its content). The operator lists OpenRouter and these
// providers as subprocessors in its privacy notice.
//
// The request path pays one map increment under a mutex: counts gather in
// memory and a background flush adds them to the store every
// FlushInterval (one bbolt transaction, or one Redis pipeline), and once
// more on Close. A crash loses at most the counts of the last interval; a
// failed flush keeps them for the next one.
package register

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aupguard/aupguard/internal/store"
)

// Sink is what the recorder needs of the store.
type Sink interface {
	AddProviderCounts(ctx context.Context, counts []store.ProviderCount) error
}

// DefaultFlushInterval is how often counts reach the store, and so about
// how much a crash can lose.
const DefaultFlushInterval = 2 * time.Second

// maxPending bounds the distinct cells held between flushes (and while the
// store is down); past it new cells are dropped and counted as lost.
const maxPending = 50_000

// Unknown is the provider of a response that named none.
const Unknown = "unknown"

// Options configure a Recorder.
type Options struct {
	FlushInterval time.Duration    // default DefaultFlushInterval
	Clock         func() time.Time // default time.Now
	Logger        *slog.Logger
}

// Recorder batches counts and flushes them to a Sink.
type Recorder struct {
	sink     Sink
	now      func() time.Time
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	pending map[store.ProviderCell]int64
	lost    int64

	flushMu   sync.Mutex // one flush at a time
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New starts a recorder flushing to sink.
func New(sink Sink, o Options) *Recorder {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Recorder{sink: sink, now: o.Clock, log: o.Logger, interval: o.FlushInterval,
		pending: map[store.ProviderCell]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

// Served counts one model call of app served by provider with model.
func (r *Recorder) Served(app, provider, model string, zdr bool) {
	c := store.ProviderCell{Day: store.Day(r.now()), App: app, Provider: clean(provider), Model: clean(model), ZDR: zdr}
	if c.Provider == "" {
		c.Provider = Unknown
	}
	r.mu.Lock()
	if _, ok := r.pending[c]; ok || len(r.pending) < maxPending {
		r.pending[c]++
	} else {
		r.lost++
	}
	r.mu.Unlock()
}

// clean keeps a name the upstream sent printable and bounded: it ends up
// in a privacy notice, a CSV file and a web page.
func clean(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > store.MaxRegisterName {
		s = s[:store.MaxRegisterName]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

func (r *Recorder) loop() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.Flush(ctx); err != nil {
				r.log.Warn("subprocessor register: flush failed; counts kept for the next one", "error", err.Error())
			}
			cancel()
		case <-r.stop:
			return
		}
	}
}

// Flush adds the pending counts to the store now; on failure they stay
// pending (added to whatever arrives meanwhile).
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch, lost := r.pending, r.lost
	if len(batch) == 0 && lost == 0 {
		r.mu.Unlock()
		return nil
	}
	r.pending, r.lost = make(map[store.ProviderCell]int64, len(batch)), 0
	r.mu.Unlock()
	if lost > 0 {
		r.log.Error("subprocessor register: too many distinct providers and models between flushes; counts lost", "lost", lost)
	}
	counts := make([]store.ProviderCount, 0, len(batch))
	for c, n := range batch {
		counts = append(counts, store.ProviderCount{Day: c.Day, App: c.App, Provider: c.Provider, Model: c.Model, ZDR: c.ZDR, Requests: n})
	}
	err := r.sink.AddProviderCounts(ctx, counts)
	if err != nil {
		r.mu.Lock()
		for c, n := range batch {
			if _, ok := r.pending[c]; ok || len(r.pending) < maxPending {
				r.pending[c] += n
			} else {
				r.lost += n
			}
		}
		r.mu.Unlock()
	}
	return err
}

// Close stops the background flush and flushes what is pending.
func (r *Recorder) Close() error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = r.Flush(ctx)
	})
	return err
}
