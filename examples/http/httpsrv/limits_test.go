package httpsrv

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Limits net/http does not have are answered in its error format.
func TestLimits(t *testing.T) {
	checkFDs(t)
	h := testHandler()
	hs := newTestServer(h)
	hs.MaxHeaderFields = 3
	hs.MaxBodyBytes = 100
	const tooLarge413 = "HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n413 Request Entity Too Large"
	const tooLarge431 = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"
	for _, tc := range []struct{ name, in, want string }{
		{"fields", "GET /hello HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", tooLarge431},
		{"body-cl", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", tooLarge413},
		{"body-chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n60\r\n" + strings.Repeat("a", 96) + "\r\n5\r\nhello\r\n0\r\n\r\n", tooLarge413},
		{"body-chunked-wire", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1;"+strings.Repeat("e", 4000)+"\r\na\r\n", 5), tooLarge413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for cut := range len(tc.in) + 1 {
				if got := feed(hs, []byte(tc.in), cut); string(got) != tc.want {
					t.Fatalf("cut at %d: got %q, want %q", cut, got, tc.want)
				}
			}
		})
	}
	// Within the limits, it is served.
	in := "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("z", 100)
	if got := feed(hs, []byte(in), 0); !bytes.HasPrefix(got, []byte("HTTP/1.1 200 OK\r\n")) {
		t.Fatalf("got %q", got)
	}
}

// The framer's errors are matchable with errors.Is.
func TestFramerErrors(t *testing.T) {
	var h headScan
	if _, err := h.scan([]byte("NO-SPACES\r\n"), 100, 10); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	h = headScan{}
	if _, err := h.scan([]byte("GET / HTTP/1.1\r\nX: "+strings.Repeat("y", 200)), 100, 10); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("got %v", err)
	}
	var c chunkScan
	if _, err := c.scan([]byte("zz\r\n"), 100); !errors.Is(err, ErrMalformed) || err.Error() != "invalid byte in chunk length" {
		t.Fatalf("got %v", err)
	}
	c = chunkScan{}
	if _, err := c.scan([]byte("ff\r\n"), 100); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// A head arriving a byte at a time is scanned once, not once per byte.
func TestHeadScanResumes(t *testing.T) {
	in := []byte("GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: b\r\n", 500) + "\r\n")
	var h headScan
	for i := 1; i < len(in); i++ {
		n, err := h.scan(in[:i], 1<<20, 1000)
		if n != 0 || err != nil {
			t.Fatalf("at %d: %d %v", i, n, err)
		}
	}
	if n, err := h.scan(in, 1<<20, 1000); n != len(in) || err != nil {
		t.Fatalf("%d %v", n, err)
	}
}

// After a 431 the server shuts its side, then closes on the peer's FIN
// or after rstAvoidanceDelay: the client reads the answer, then EOF.
func TestLingerAfterTooLarge(t *testing.T) {
	checkFDs(t)
	addr := startTServer(t, testHandler())
	in := "GET /hello HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 3*testMaxHeaderBytes) + "\r\n\r\n"
	start := time.Now()
	got := exchange(t, addr, []byte(in), 0)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 431 ")) {
		t.Fatalf("got %q", got)
	}
	_ = start // the close comes with our FIN; no timing is asserted
}

// With no Handler, every request gets net/http's 404.
func TestNilHandler(t *testing.T) {
	hs := newTestServer(nil)
	got := feed(hs, []byte(get("/x")), 0)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 404 Not Found\r\n")) {
		t.Fatalf("got %q", got)
	}
	_ = http.StatusNotFound
}
