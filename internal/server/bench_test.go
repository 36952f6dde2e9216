package server

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/proxy"
)

// The benchmarks compare, against the same upstream in one run, a direct
// call (Direct), a bare httputil.ReverseProxy with no logic (Floor: what
// any extra hop costs) and the gateway with its whole pipeline (Gateway).
// Each reports p50/p99 latency in µs; docs/benchmarks.md has figures.
//
//	go test ./internal/server -run '^$' -bench 'Direct|Floor|Gateway' -benchtime 5000x

// benchBody is a ~2 KB chat request.
var benchBody = []byte(`{"model":"openai/gpt-4o-mini","user":"bench-user","messages":[` +
	`{"role":"system","content":"You are a helpful assistant for a travel agency. Answer briefly and politely."},` +
	`{"role":"user","content":"` + strings.Repeat("I would like to plan a week in Lisbon in spring with museums, food and a day trip to Sintra. ", 20) + `"}]}`)

// benchUpstream is the fake OpenRouter without request recording.
func benchUpstream(b *testing.B) *fakeupstream.Server {
	up := fakeupstream.Start(fakeupstream.Options{NoRecord: true})
	b.Cleanup(up.Close)
	return up
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
}

var benchStreamBody = bytes.Replace(benchBody, []byte(`{"model":`), []byte(`{"stream":true,"model":`), 1)

// nthBody is body with a request number at the start of its user message,
// so that every request's prompt is new: no cache sees one twice (the
// detector caches what each text matched).
func nthBody(buf, body []byte, n int) []byte {
	const mark = `{"role":"user","content":"`
	i := bytes.Index(body, []byte(mark)) + len(mark)
	buf = append(buf[:0], body[:i]...)
	buf = append(buf, "Request "...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, ". "...)
	return append(buf, body[i:]...)
}

func runLatency(b *testing.B, url, key string) { runBench(b, url, key, benchBody, false) }

// runBench sends body b.N times; with firstByte it measures the time to the
// first SSE data line (time to first token) instead of the whole answer.
func runBench(b *testing.B, url, key string, body []byte, firstByte bool) {
	c := benchClient()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = nthBody(buf, body, i)
		req, _ := http.NewRequest("POST", url, bytes.NewReader(buf))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if firstByte {
			br := bufio.NewReader(resp.Body)
			for {
				l, err := br.ReadSlice('\n')
				if err != nil {
					b.Fatalf("stream ended before data (status %d): %v", resp.StatusCode, err)
				}
				if bytes.HasPrefix(l, []byte("data:")) {
					break
				}
			}
			lat = append(lat, time.Since(t0))
			io.Copy(io.Discard, br)
		} else {
			io.Copy(io.Discard, resp.Body)
			lat = append(lat, time.Since(t0))
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkDirect(b *testing.B) {
	up := benchUpstream(b)
	runLatency(b, up.URL+"/chat/completions", "sk-or-bench")
}

func floorURL(b *testing.B, up *fakeupstream.Server) string {
	u, _ := url.Parse(up.URL)
	u.Path = "" // requests keep their own /api/v1/... path
	// ReverseProxy's default FlushInterval, like the gateway's: SSE is
	// flushed at every write.
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: proxy.NewTransport(0, 0),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	// Full duplex: without it the server may close the request body at the
	// first flush of a stream while the transport still reads it.
	fr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	}))
	b.Cleanup(fr.Close)
	return fr.URL
}

func gatewayURL(b *testing.B, up *fakeupstream.Server) string {
	s := newServer(b, testConfig(b, up.URL), nil)
	fr := httptest.NewServer(s.ProxyHandler())
	b.Cleanup(fr.Close)
	return fr.URL
}

func BenchmarkStreamFloor(b *testing.B) {
	runBench(b, floorURL(b, benchUpstream(b))+"/api/v1/chat/completions", "sk-or-bench", benchStreamBody, true)
}

func BenchmarkStreamGateway(b *testing.B) {
	runBench(b, gatewayURL(b, benchUpstream(b))+"/api/v1/chat/completions", appKey, benchStreamBody, true)
}

func BenchmarkFloor(b *testing.B) {
	runLatency(b, floorURL(b, benchUpstream(b))+"/api/v1/chat/completions", "sk-or-bench")
}

func BenchmarkGateway(b *testing.B) {
	runLatency(b, gatewayURL(b, benchUpstream(b))+"/api/v1/chat/completions", appKey)
}
