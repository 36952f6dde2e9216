package middleware

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// bodyServer serves Body on a real listener, so net/http's handling of an
// unread body (close after the answer) is what a client meets.
func bodyServer(t *testing.T, opt BodyOptions) string {
	t.Helper()
	e := gin.New()
	e.NoRoute(Route(RouteOptions{}), Body(opt), func(c *gin.Context) { c.String(200, "ok") })
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// uploadThenRead is what Python's httpx does: write the whole request,
// in pieces, and only then read the answer. It returns the first write
// error, or the response.
func uploadThenRead(t *testing.T, addr string, head string, body []byte, chunked bool) (*http.Response, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		return nil, err
	}
	const piece = 16 << 10
	for off := 0; off < len(body); off += piece {
		p := body[off:min(off+piece, len(body))]
		if chunked {
			if _, err := fmt.Fprintf(conn, "%x\r\n", len(p)); err != nil {
				return nil, err
			}
		}
		if _, err := conn.Write(p); err != nil {
			return nil, err
		}
		if chunked {
			if _, err := io.WriteString(conn, "\r\n"); err != nil {
				return nil, err
			}
		}
		// Slowly-ish, like a real upload: longer in all than the half-close
		// grace (500 ms) net/http gives a client before it resets.
		time.Sleep(25 * time.Millisecond)
	}
	if chunked {
		if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
			return nil, err
		}
	}
	return http.ReadResponse(bufio.NewReader(conn), nil)
}

func TestOverLimitBodyDrainedBefore413(t *testing.T) {
	const limit = 128 << 10
	// Over net/http's own post-handler drain (256 KiB): without ours, the
	// gateway closes on the unread rest and the client's writes fail.
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", 3*limit) + `"}]}`)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			addr := bodyServer(t, BodyOptions{MaxBytes: limit})
			head := "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
			if chunked {
				head += "Transfer-Encoding: chunked\r\n\r\n"
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))
			}
			resp, err := uploadThenRead(t, addr, head, body, chunked)
			if err != nil {
				t.Fatalf("the client could not finish its upload: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 413 || !strings.Contains(string(b), `"reason":"payload_too_large"`) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
}

func TestDrainBounded(t *testing.T) {
	const limit = 64 << 10
	// Declared far beyond the drain bound: answered at once, unread.
	addr := bodyServer(t, BodyOptions{MaxBytes: limit})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1<<30)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 413 {
		t.Fatalf("%v %v", resp, err)
	}

	// A client that stops sending mid-body: the drain gives up at its deadline.
	addr = bodyServer(t, BodyOptions{MaxBytes: limit, DrainTimeout: 200 * time.Millisecond})
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_ = conn2.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn2, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 2*limit, strings.Repeat("a", limit+10))
	start := time.Now()
	resp, err = http.ReadResponse(bufio.NewReader(conn2), nil)
	if err != nil || resp.StatusCode != 413 {
		t.Fatalf("%v %v", resp, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the drain waited %v for a stalled client", d)
	}
}
