package answer

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// loopBody replays one chat chunk event forever: an upstream that is never
// the bottleneck.
type loopBody struct {
	ev  []byte
	off int
}

func (l *loopBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], l.ev[l.off:])
		n += k
		l.off = (l.off + k) % len(l.ev)
	}
	return n, nil
}

func (l *loopBody) Close() error { return nil }

// noopChecker allows everything at no cost: what remains is the checker's own work.
type noopChecker struct{}

func (noopChecker) CheckOutput(context.Context, policy.Subject, []string) (policy.Decision, error) {
	return policy.Decision{Action: policy.Allow}, nil
}

// parseOnly reads events and hands out their bytes: the floor.
type parseOnly struct{ er *wire.EventReader }

func (p *parseOnly) Read(b []byte) (int, error) {
	ev, err := p.er.Next()
	if err != nil {
		return 0, err
	}
	return copy(b, ev.Raw), nil
}

func benchChunks(b *testing.B, chk OutputChecker, opt Options, piece string) {
	ev := []byte(`data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"p","choices":[{"index":0,"delta":{"content":` + js(piece) + `},"finish_reason":null}]}` + "\n\n")
	var r io.Reader
	if chk == nil {
		r = &parseOnly{er: wire.NewEventReader(&loopBody{ev: ev})}
	} else {
		r = newChecker(b, chk, opt).Stream(context.Background(), Call{Endpoint: wire.EndpointChat}, &loopBody{ev: ev})
	}
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		// One Read is one event: the proxy's copy loop does the same.
		if _, err := r.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamChunk is the time per forwarded chunk (a typical 4-byte
// token) through the checker: "parse only" is the floor of reading events;
// the others add text extraction, the window and the checks (one per
// Interval bytes), with a checker that costs nothing (the package's own
// overhead) and with the real policy engine.
func BenchmarkStreamChunk(b *testing.B) {
	b.Run("parse only", func(b *testing.B) { benchChunks(b, nil, Options{}, "tok ") })
	b.Run("no-op checker", func(b *testing.B) { benchChunks(b, noopChecker{}, Options{}, "tok ") })
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	for _, o := range []Options{
		{Window: DefaultWindow, Interval: DefaultInterval},
		{Window: 1024, Interval: 32},
		{Window: 2048, Interval: 64},
		{Window: 4096, Interval: 32},
		{Window: 2048, Interval: 1},
	} {
		b.Run("engine/window="+itoa(o.Window)+"/interval="+itoa(o.Interval), func(b *testing.B) {
			benchChunks(b, e, o, "tok ")
		})
	}
}

// BenchmarkSlowStream streams a slow answer (a chunk every 2 ms) from the
// fake upstream through the test gateway, with and without the answer
// check, and reports the mean gap between chunks as the client sees it:
// checks run in the time the stream waits for the model, so the two gaps
// should match (gap_us), and extra_gap_us is their difference.
func BenchmarkSlowStream(b *testing.B) {
	fake := fakeupstream.Start(fakeupstream.Options{NoRecord: true})
	defer fake.Close()
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	answer := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 4)
	hdr := map[string]string{"X-Fake-Scenario": "slow", "X-Fake-Delay": "2ms", "X-Fake-Answer": answer, "X-Fake-Chunk-Size": "4"}
	gap := func(b *testing.B, g *gateway) time.Duration {
		var total time.Duration
		var gaps int
		for range b.N {
			req, _ := http.NewRequest(http.MethodPost, g.URL+"/api/v1/chat/completions",
				strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := g.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(resp.Body)
			var last time.Time
			for sc.Scan() {
				if !strings.HasPrefix(sc.Text(), "data: ") {
					continue
				}
				now := time.Now()
				if !last.IsZero() {
					total += now.Sub(last)
					gaps++
				}
				last = now
			}
			resp.Body.Close()
		}
		return total / time.Duration(max(gaps, 1))
	}
	var direct, checked time.Duration
	b.Run("bare proxy", func(b *testing.B) {
		direct = gap(b, newGateway(b, fake, nil))
		b.ReportMetric(float64(direct.Microseconds()), "gap_us")
	})
	b.Run("answer check", func(b *testing.B) {
		checked = gap(b, newGateway(b, fake, newChecker(b, e, Options{Interval: 1})))
		b.ReportMetric(float64(checked.Microseconds()), "gap_us")
		if direct > 0 {
			b.ReportMetric(float64((checked - direct).Microseconds()), "extra_gap_us")
		}
	})
}
