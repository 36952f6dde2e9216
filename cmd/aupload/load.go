package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// target is one endpoint the clients load, with its own tuned client.
type target struct {
	name   string // direct | floor | gateway
	chat   string // chat/completions URL
	key    string
	client *http.Client
	pid    int     // the process whose CPU time the target costs; 0: not measured
	spread *spread // several gateway replicas behind one target (scaleout.go); nil: chat alone
}

func newTarget(name, apiRoot, key string, conc, pid int) *target {
	return &target{
		name: name, chat: apiRoot + "/chat/completions", key: key, pid: pid,
		// The pool holds every worker's connection: clients never redial.
		client: &http.Client{Transport: newTransport(2 * conc), Timeout: 60 * time.Second},
	}
}

func (t *target) close() { t.client.CloseIdleConnections() }

// samples are what one target returned in one mode, over all rounds.
type samples struct {
	lat      []time.Duration // whole answer
	ttfb     []time.Duration // streams: to the first data line
	ok, errs int
	rejected int // 429s (counted in errs too)
	elapsed  time.Duration
	cpu      time.Duration // the target process's user+system CPU time
	cpuOK    bool
	errMsgs  map[string]int
	scale    *scaleSamples // what a spread target's replicas and Redis spent; nil for others
}

func newSamples() *samples { return &samples{errMsgs: map[string]int{}} }

func (s *samples) addErr(msg string) {
	s.errs++
	if len(s.errMsgs) < 20 {
		s.errMsgs[msg]++
	} else if _, ok := s.errMsgs[msg]; ok {
		s.errMsgs[msg]++
	}
}

// worker is one client's reusable state: its buffers and its latency log,
// allocated once so that recording costs nothing under load.
type worker struct {
	id    uint64
	sent  uint64 // requests sent, for the serial in each body
	body  []byte
	rng   *rand.Rand
	buf   bytes.Buffer
	br    *bufio.Reader
	lat   []time.Duration
	ttfb  []time.Duration
	ok    int
	errs  []string
	r429  int
	users int
}

func newWorker(seed uint64, users int) *worker {
	w := &worker{id: seed, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), br: bufio.NewReaderSize(nil, 16<<10), users: users}
	w.lat = make([]time.Duration, 0, 1<<14)
	w.ttfb = make([]time.Duration, 0, 1<<14)
	return w
}

func (w *worker) reset() {
	w.lat, w.ttfb, w.ok, w.errs, w.r429 = w.lat[:0], w.ttfb[:0], 0, w.errs[:0], 0
}

// one sends one request and records it (or its error).
func (w *worker) one(ctx context.Context, t *target, tpl template, stream bool) {
	// the serial: this worker's id and count, unique in the run
	w.sent++
	w.body = append(w.body[:0], tpl.head...)
	w.body = strconv.AppendUint(w.body, w.id, 10)
	w.body = append(w.body, '-')
	w.body = strconv.AppendUint(w.body, w.sent, 10)
	w.body = append(w.body, tpl.tail...)
	chat, pick := t.chat, 0
	if t.spread != nil {
		pick, chat = t.spread.next()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, chat, bytes.NewReader(w.body))
	if err != nil {
		w.errs = append(w.errs, err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("X-AUP-End-User", "user-"+strconv.Itoa(w.rng.IntN(w.users)))
	t0 := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			w.errs = append(w.errs, "transport: "+trimErr(err))
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		if resp.StatusCode == http.StatusTooManyRequests {
			w.r429++
		}
		w.errs = append(w.errs, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b)))
		return
	}
	if !stream {
		w.buf.Reset()
		_, err := w.buf.ReadFrom(resp.Body)
		d := time.Since(t0)
		switch {
		case err != nil:
			w.errs = append(w.errs, "read: "+trimErr(err))
		case !bytes.Contains(w.buf.Bytes(), []byte(`"choices"`)):
			w.errs = append(w.errs, "answer without choices")
		default:
			w.lat = append(w.lat, d)
			w.served(t, pick)
		}
		return
	}
	// A stream: time to the first data line (the first token), then read
	// to the end, which must be [DONE] (a refusal ends without it).
	w.br.Reset(resp.Body)
	var first time.Duration
	done := false
	for {
		line, err := w.br.ReadSlice('\n')
		if first == 0 && bytes.HasPrefix(line, []byte("data:")) {
			first = time.Since(t0)
		}
		if bytes.HasPrefix(line, []byte("data: [DONE]")) {
			done = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err != io.EOF {
				where := "before the first token"
				if first > 0 {
					where = "after the first token"
				}
				if done {
					where = "after data: [DONE]"
				}
				w.errs = append(w.errs, "read stream ("+where+"): "+trimErr(err))
				return
			}
			break
		}
	}
	d := time.Since(t0)
	if !done || first == 0 {
		w.errs = append(w.errs, "stream ended without data: [DONE]")
		return
	}
	w.lat = append(w.lat, d)
	w.ttfb = append(w.ttfb, first)
	w.served(t, pick)
}

func trimErr(err error) string {
	s := err.Error()
	// Ports differ per connection; keep messages groupable.
	if i := strings.LastIndex(s, ": "); i > 0 && strings.Contains(s, "127.0.0.1:") {
		return s[i+2:]
	}
	return s
}

// loader runs phases: all workers on one target in one mode for a while.
type loader struct {
	workers []*worker
	bodies  bodies
}

func newLoader(conc, users int) *loader {
	l := &loader{bodies: makeBodies(64)}
	for i := 0; i < conc; i++ {
		l.workers = append(l.workers, newWorker(uint64(i+1), users))
	}
	return l
}

// phase loads t for d; with rec nil it is a warm-up and records nothing.
func (l *loader) phase(ctx context.Context, t *target, stream bool, d time.Duration, rec *samples) {
	bs := l.bodies.plain
	if stream {
		bs = l.bodies.stream
	}
	var wg sync.WaitGroup
	cpu0, cpuErr := cpuTime(t.pid)
	var use *spreadPhase
	if t.spread != nil && rec != nil {
		use = t.spread.begin()
	}
	start := time.Now()
	deadline := start.Add(d)
	for _, w := range l.workers {
		w.reset()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				w.one(ctx, t, bs[w.rng.IntN(len(bs))], stream)
			}
		}()
	}
	wg.Wait()
	if rec == nil {
		return
	}
	rec.elapsed += time.Since(start)
	if cpu1, err := cpuTime(t.pid); err == nil && cpuErr == nil && t.pid != 0 {
		rec.cpu += cpu1 - cpu0
		rec.cpuOK = true
	}
	if use != nil {
		use.end(rec)
	}
	for _, w := range l.workers {
		rec.lat = append(rec.lat, w.lat...)
		rec.ttfb = append(rec.ttfb, w.ttfb...)
		rec.ok += w.ok
		rec.rejected += w.r429
		for _, e := range w.errs {
			rec.addErr(e)
		}
	}
}
