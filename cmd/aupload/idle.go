package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// idleResult is the gateway's memory with N open, idle streams.
type idleResult struct {
	asked, opened, failed int
	before, after         int64 // VmRSS bytes
	perStream             float64
	projected             int64 // before + perStream × the bar's count
	note                  string
	firstErr              string
}

// raiseFDLimit lifts the soft open-files limit to the hard one (idle
// streams hold two sockets each in this process) and returns it.
func raiseFDLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1024
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}

// rss reads a process's resident set size from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// hangBody asks the fake for a stream that sends its headers and one
// comment, then nothing until the client goes away.
var hangBody = []byte(`{"model":"fake/hang-stream","stream":true,"messages":[{"role":"user","content":"Tell me a long story about a lighthouse keeper."}]}`)

// idleStreams opens n streams through gw that the upstream holds open, and
// measures the gateway process's RSS before and after.
func idleStreams(ctx context.Context, gw gateway, n int, users int) (idleResult, error) {
	res := idleResult{asked: n}
	pid := gw.PID()
	tr := newTransport(n + 16)
	c := &http.Client{Transport: tr} // no timeout: the streams are meant to last
	defer tr.CloseIdleConnections()
	apiChat := gw.BaseURL() + "/api/v1/chat/completions"

	// Warm the gateway first so "before" holds its steady-state heap.
	warm := &target{name: "gateway", chat: apiChat, key: gw.Key(), client: c}
	w := newWorker(42, users)
	bs := makeBodies(8)
	for i := 0; i < 200 && ctx.Err() == nil; i++ {
		w.one(ctx, warm, bs.plain[i%len(bs.plain)], false)
	}
	time.Sleep(500 * time.Millisecond)
	var err error
	if res.before, err = rss(pid); err != nil {
		return res, err
	}

	hold, release := context.WithCancel(ctx)
	defer release()
	var (
		wg, opened sync.WaitGroup
		ok, failed atomic.Int64
		errOnce    sync.Once
	)
	sem := make(chan struct{}, 64) // opening pace: keep accept queues short
	opened.Add(n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			fail := func(msg string) {
				<-sem
				failed.Add(1)
				errOnce.Do(func() { res.firstErr = msg })
				opened.Done()
			}
			req, _ := http.NewRequestWithContext(hold, http.MethodPost, apiChat, bytes.NewReader(hangBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+gw.Key())
			req.Header.Set("X-AUP-End-User", "idle-user-"+strconv.Itoa(i%max(users, 1)))
			resp, err := c.Do(req)
			if err != nil {
				fail(trimErr(err))
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
				fail(fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b)))
				return
			}
			// The upstream's first comment proves the stream is open end to end.
			if _, err := bufio.NewReaderSize(resp.Body, 512).ReadSlice('\n'); err != nil {
				fail("no first stream line: " + trimErr(err))
				return
			}
			<-sem
			ok.Add(1)
			opened.Done()
			<-hold.Done()
		}()
	}
	waited := make(chan struct{})
	go func() { opened.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(2*time.Minute + time.Duration(n)*time.Millisecond):
		res.note = "gave up waiting for all streams to open"
	case <-ctx.Done():
	}
	time.Sleep(time.Second) // let the gateway's goroutines and buffers settle
	after, rerr := rss(pid)
	res.opened, res.failed = int(ok.Load()), int(failed.Load())
	release()
	wg.Wait()
	if rerr != nil {
		return res, rerr
	}
	res.after = after
	if res.opened > 0 {
		res.perStream = float64(res.after-res.before) / float64(res.opened)
	}
	return res, ctx.Err()
}

// idleCapacity is how many idle streams one gateway process can hold: each
// needs a client socket and an upstream socket, within the hard limit the
// gateway inherits from this process (Go raises its soft limit to it).
func idleCapacity(hard uint64) int {
	return int((hard - 256) / 2)
}
