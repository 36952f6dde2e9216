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
	baseOpened            int   // open when before was taken
	idle, before, after   int64 // VmRSS bytes: no streams, baseOpened, opened
	perStream             float64
	projected             int64 // after + perStream × (the bar's count − opened)
	note                  string
	firstErr              string
}

// raiseFDLimit lifts the open-files limit: the hard limit to want when
// allowed (root may, up to fs.nr_open), the soft one to the hard one. Idle
// streams hold sockets in this process, the gateway and the upstream, which
// inherit it. It returns the soft limit now in force.
func raiseFDLimit(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1024
	}
	if want > l.Max {
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && want > n {
				want = n
			}
		}
		if want > l.Max && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		}
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
// measures the gateway process's RSS: idle, with a tenth of them open, and
// with all open. The cost per stream is the slope between the last two, so
// that heap the warm-up left behind (and the GC returning it) stays out.
func idleStreams(ctx context.Context, gw gateway, n int, users int) (idleResult, error) {
	res := idleResult{asked: n}
	pid := gw.PID()
	tr := newTransport(n + 16)
	c := &http.Client{Transport: tr} // no timeout: the streams are meant to last
	defer tr.CloseIdleConnections()
	apiChat := gw.BaseURL() + "/api/v1/chat/completions"

	// Warm the gateway first so that it holds its steady-state heap.
	warm := &target{name: "gateway", chat: apiChat, key: gw.Key(), client: c}
	w := newWorker(42, users)
	bs := makeBodies(8)
	for i := 0; i < 200 && ctx.Err() == nil; i++ {
		w.one(ctx, warm, bs.plain[i%len(bs.plain)], false)
	}
	time.Sleep(500 * time.Millisecond)
	var err error
	if res.idle, err = rss(pid); err != nil {
		return res, err
	}

	hold, release := context.WithCancel(ctx)
	var (
		wg         sync.WaitGroup
		ok, failed atomic.Int64
		errOnce    sync.Once
	)
	defer func() { release(); wg.Wait() }() // every stream closed, every goroutine ended
	sem := make(chan struct{}, 64)          // opening pace: keep accept queues short
	// open starts streams [from, to) and returns when each is open or failed.
	open := func(from, to int) {
		var opened sync.WaitGroup
		opened.Add(to - from)
		for i := from; i < to; i++ {
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
		case <-time.After(2*time.Minute + time.Duration(to-from)*time.Millisecond):
			res.note = "gave up waiting for all streams to open"
		case <-ctx.Done():
		}
		time.Sleep(time.Second) // let the gateway's goroutines and buffers settle
	}

	base := max(n/10, 1)
	open(0, base)
	res.baseOpened = int(ok.Load())
	if res.before, err = rss(pid); err != nil {
		return res, err
	}
	open(base, n)
	res.after, err = rss(pid)
	res.opened, res.failed = int(ok.Load()), int(failed.Load())
	release()
	if err != nil {
		return res, err
	}
	if d := res.opened - res.baseOpened; d > 0 {
		res.perStream = float64(res.after-res.before) / float64(d)
	}
	return res, ctx.Err()
}

// idleCapacity is how many idle streams one gateway process can hold: each
// needs a client socket and an upstream socket, within the limit the
// gateway inherits from this process.
func idleCapacity(limit uint64) int {
	if limit < 512 {
		return 0
	}
	return int((limit - 256) / 2)
}
