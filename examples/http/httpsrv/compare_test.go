package httpsrv

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotevent/tevent/tserver"
)

const testTimeout = 20 * time.Second

// testMaxHeaderBytes is both servers' MaxHeaderBytes in the comparison,
// small so that a 431 takes a small request.
const testMaxHeaderBytes = 4096

var fixedDate = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// dateRE matches a Date header's value as net/http writes it.
var dateRE = regexp.MustCompile(`\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n`)

// normalise replaces every Date value with fixedDate's: net/http's Date
// is the wall clock, ours is Server.Now.
func normalise(b []byte) []byte {
	return dateRE.ReplaceAll(b, []byte("\r\nDate: "+fixedDate.Format(http.TimeFormat)+"\r\n"))
}

type compareCase struct {
	name  string
	in    string
	split bool // also fed split at every byte (through the fake connection)
}

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n\r\n" }

var big300k = strings.Repeat("x", 300<<10)

var compareCases = []compareCase{
	{name: "hello", in: get("/hello"), split: true},
	{name: "pipelined", in: get("/hello") + get("/json") + get("/big") + "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n" + get("/empty"), split: true},
	{name: "head", in: "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "head-big", in: "HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n" + get("/hello")},
	{name: "head-aware", in: "HEAD /head-aware HTTP/1.1\r\nHost: a\r\n\r\n" + get("/head-aware")},
	{name: "head-empty", in: "HEAD /empty HTTP/1.1\r\nHost: a\r\n\r\n" + get("/empty")},
	{name: "post-cl", in: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world" + get("/hello"), split: true},
	{name: "post-crlf-after", in: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\r\n" + get("/hello")},
	{name: "post-chunked", in: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\na  \r\n0123456789\r\n0\r\n\r\n" + get("/hello"), split: true},
	{name: "post-chunked-trailer", in: "POST /echo HTTP/1.1\r\nHost: a\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 7\r\n\r\n" + get("/hello"), split: true},
	{name: "chunked-bad-size", in: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nmore\r\n0\r\n\r\n" + get("/hello")},
	{name: "chunked-bad-footer", in: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n" + get("/hello")},
	{name: "chunked-bare-lf", in: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"},
	{name: "req-fields", in: "POST /req?a=1&b=%20 HTTP/1.1\r\nhost: Example.COM:80\r\ncontent-length: 3\r\nx-lower: v\r\nX-Fold: first\r\n  second\r\nPragma: no-cache\r\nX-Empty:\r\nConnection: keep-alive, Upgrade\r\n\r\nabc", split: true},
	{name: "req-absolute-url", in: "GET http://other.example/req?q HTTP/1.1\r\nHost: example.com\r\n\r\n"},
	{name: "req-options-star", in: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "http10", in: "GET /hello HTTP/1.0\r\n\r\n" + get("/hello")},
	{name: "http10-keepalive", in: "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /keep-alive HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /cl HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get("/hello")},
	{name: "http10-big", in: "GET /big HTTP/1.0\r\n\r\n"},
	{name: "http10-head", in: "HEAD /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n"},
	{name: "close-request", in: "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + get("/hello")},
	{name: "close-token", in: "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n" + get("/hello")},
	{name: "close-response", in: get("/close") + get("/hello")},
	{name: "big", in: get("/big") + get("/big-pieces") + get("/exact2048") + get("/exact2049"), split: true},
	{name: "headers", in: get("/headers") + get("/date"), split: true},
	{name: "sniff", in: get("/html") + get("/png") + get("/no-ctype") + get("/gzip-ce")},
	{name: "status", in: get("/status/201") + get("/status/204") + get("/status/304") + get("/status/404") + get("/status/599") + get("/status/999") + get("/status/102")},
	{name: "early-hints", in: get("/early-hints")},
	{name: "flush", in: get("/flush") + get("/hello"), split: true},
	{name: "content-length", in: get("/cl") + get("/long-cl") + get("/bad-cl") + get("/short-cl") + get("/hello")},
	{name: "identity", in: get("/identity") + get("/hello")},
	{name: "te-chunked", in: get("/te-chunked") + get("/hello")},
	{name: "error", in: get("/error") + get("/redirect") + "HEAD /redirect HTTP/1.1\r\nHost: a\r\n\r\n" + get("/nowhere")},
	{name: "serve-content", in: get("/content") + "GET /content HTTP/1.1\r\nHost: a\r\nRange: bytes=10-19\r\n\r\nGET /content HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Fri, 01 Mar 2024 12:00:00 GMT\r\n\r\n" + "HEAD /content HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "readfrom", in: get("/readfrom") + get("/readfrom-small") + get("/readfrom-cl") + "HEAD /readfrom HTTP/1.1\r\nHost: a\r\n\r\n" + get("/hello")},
	{name: "noread-small", in: "POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + get("/hello")},
	{name: "noread-chunked", in: "POST /noread HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + get("/hello")},
	{name: "noread-300k", in: "POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 307200\r\n\r\n" + big300k + get("/hello")},
	{name: "close-body-300k", in: "POST /close-body HTTP/1.1\r\nHost: a\r\nContent-Length: 307200\r\n\r\n" + big300k + get("/hello")},
	{name: "close-body-small", in: "POST /close-body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + get("/hello")},
	{name: "read-some", in: "POST /read-some HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n0123456789abcdefghij" + get("/hello")},
	{name: "trailer", in: get("/trailer") + get("/hello")},
	{name: "expect-continue", in: "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + get("/hello"), split: true},
	{name: "expect-continue-noread", in: "POST /noread HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + get("/hello")},
	{name: "expect-continue-10", in: "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"},
	{name: "expect-other", in: "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 5\r\n\r\nhello" + get("/hello")},
	{name: "panic-after-flush", in: get("/panic") + get("/hello")},
	{name: "panic-early", in: get("/panic-early") + get("/hello")},
	{name: "superfluous", in: get("/superfluous") + get("/nobody-write")},
	{name: "upgrade-response", in: get("/upgrade") + get("/hello")},
	// Malformed requests.
	{name: "bad-garbage", in: "GARBAGE\r\n\r\n"},
	{name: "bad-empty-line", in: "\r\n" + get("/hello")},
	{name: "bad-method", in: "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "bad-version", in: "GET / HTTP/1.x\r\nHost: a\r\n\r\n"},
	{name: "bad-version-lower", in: "GET / http/1.1\r\nHost: a\r\n\r\n"},
	{name: "version-2", in: "GET / HTTP/2.0\r\nHost: a\r\n\r\n"},
	{name: "version-0.9", in: "GET / HTTP/0.9\r\nHost: a\r\n\r\n"},
	{name: "version-1.2", in: "GET /req HTTP/1.2\r\nHost: a\r\n\r\n"},
	{name: "missing-host", in: "GET /hello HTTP/1.1\r\n\r\n"},
	{name: "missing-host-absolute", in: "GET http://a/hello HTTP/1.1\r\n\r\n"},
	{name: "two-hosts", in: "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{name: "bad-host", in: "GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n"},
	{name: "bad-host-absolute", in: "GET http://a/hello HTTP/1.1\r\nHost: a<b\r\n\r\n"},
	{name: "empty-host", in: "GET /req HTTP/1.1\r\nHost:\r\n\r\n"},
	{name: "bad-header-line", in: "GET /hello HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"},
	{name: "bad-header-name", in: "GET /hello HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"},
	{name: "bad-header-value", in: "GET /hello HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n"},
	{name: "bad-first-fold", in: "GET /hello HTTP/1.1\r\n Host: a\r\n\r\n"},
	{name: "bad-url", in: "GET hello HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "bad-cl", in: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"},
	{name: "two-cl", in: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
	{name: "same-two-cl", in: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"},
	{name: "te-gzip", in: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"},
	{name: "te-and-cl", in: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get("/hello")},
	{name: "te-http10", in: "POST /req HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"},
	{name: "header-too-large", in: "GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n"},
	{name: "header-just-fits", in: "GET /req HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n"},
	{name: "bare-lf", in: "GET /req HTTP/1.1\nHost: a\nX: y\n\nGET /hello HTTP/1.1\nHost: a\n\n", split: true},
}

// startNetHTTP serves h with net/http on loopback.
func startNetHTTP(t *testing.T, h http.Handler) string { return startNetHTTPTLS(t, h, nil) }

// startNetHTTPTLS serves h with net/http on loopback, over TLS (with
// http.Server.ServeTLS, HTTP/1.1 only) when cfg is not nil.
func startNetHTTPTLS(t *testing.T, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, MaxHeaderBytes: testMaxHeaderBytes, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: cfg}
	var protos http.Protocols
	protos.SetHTTP1(true)
	srv.Protocols = &protos
	done := make(chan struct{})
	go func() {
		defer close(done)
		if cfg != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		// Shutdown waits for the connections net/http lingers on (its
		// closeWriteAndWait sleeps 500 ms), so that goleak sees none.
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("net/http Shutdown: %v", err)
		}
		<-done
	})
	return ln.Addr().String()
}

// newTestServer is the Server under test, with the Date fixed.
func newTestServer(h http.Handler) *Server {
	return &Server{
		Handler:        h,
		Now:            func() time.Time { return fixedDate },
		MaxHeaderBytes: testMaxHeaderBytes,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
}

// startTServer serves h with this package on a tserver loop.
func startTServer(t *testing.T, h http.Handler) string { return startTServerTLS(t, h, nil) }

// startTServerTLS serves h with this package on a tserver loop, over TLS
// (tserver.Config.TLS) when cfg is not nil.
func startTServerTLS(t *testing.T, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	hs := newTestServer(h)
	srv, err := tserver.New(hs, &tserver.Config{MaxInbound: hs.InboundLimit(), TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Wait: %v", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("tserver did not stop")
		}
	})
	return addr.String()
}

// exchange sends in (in two writes when cut > 0), shuts the sending side
// and reads the answer until the server closes.
func exchange(t *testing.T, addr string, in []byte, cut int) []byte {
	t.Helper()
	return exchangeTLS(t, addr, nil, in, cut)
}

// exchangeTLS is exchange, over TLS when cfg is not nil: the handshake
// first, and the sending side shut with close_notify, then the TCP FIN
// (which may reach the server while its handshake is still running: a
// TLS 1.3 client's data follows its Finished at once).
func exchangeTLS(t *testing.T, addr string, cfg *tls.Config, in []byte, cut int) []byte {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(testTimeout))
	c := raw
	if cfg != nil {
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		c = tc
	}
	var got bytes.Buffer
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(&got, c)
		readDone <- err
	}()
	if cut > 0 {
		if _, err := c.Write(in[:cut]); err != nil {
			t.Fatal(err)
		}
		in = in[cut:]
	}
	if _, err := c.Write(in); err != nil && !isReset(err) {
		t.Fatal(err)
	}
	if tc, ok := c.(*tls.Conn); ok {
		tc.CloseWrite() // close_notify (fails once the server reset)
	}
	raw.(*net.TCPConn).CloseWrite()
	if err := <-readDone; err != nil && !isReset(err) {
		t.Fatalf("read: %v", err)
	}
	return got.Bytes()
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

// TestCompareWithNetHTTP sends each case's bytes to net/http and to this
// package's server and requires the same answer, byte for byte once the
// Date values are normalised.
func TestCompareWithNetHTTP(t *testing.T) {
	checkFDs(t)
	h := testHandler()
	compareTable(t, startNetHTTP(t, h), startTServer(t, h), nil)
}

// compareTable runs compareCases against net/http at netAddr and this
// package at ourAddr, over TLS with clientTLS when it is not nil.
func compareTable(t *testing.T, netAddr, ourAddr string, clientTLS *tls.Config) {
	for _, tc := range compareCases {
		t.Run(tc.name, func(t *testing.T) {
			want := normalise(exchangeTLS(t, netAddr, clientTLS, []byte(tc.in), 0))
			got := exchangeTLS(t, ourAddr, clientTLS, []byte(tc.in), 0)
			if os.Getenv("HTTPSRV_DUMP") != "" { // to see what net/http answered
				t.Logf("%s", trimLines(want))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("answers differ\n--- net/http:\n%s\n--- httpsrv:\n%s", trimLines(want), trimLines(got))
			}
			if len(want) == 0 && !strings.HasPrefix(tc.name, "panic") {
				t.Errorf("net/http answered nothing")
			}
			if tc.split {
				// Over the socket, cut in the middle (the server may or
				// may not see two reads).
				cut := len(tc.in) / 2
				if got := exchangeTLS(t, ourAddr, clientTLS, []byte(tc.in), cut); !bytes.Equal(got, want) {
					t.Fatalf("cut at %d: answers differ\n--- net/http:\n%s\n--- httpsrv:\n%s", cut, trimLines(want), trimLines(got))
				}
			}
		})
	}
}

// TestSplitEveryByte feeds the split cases to a connection through a fake
// transport, cut at every byte, as tserver hands them over (unconsumed
// bytes kept and handed back with the next ones), and compares with
// net/http's answer to the whole input.
func TestSplitEveryByte(t *testing.T) {
	checkFDs(t)
	h := testHandler()
	netAddr := startNetHTTP(t, h)
	hs := newTestServer(h)
	for _, tc := range compareCases {
		if !tc.split {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			want := normalise(exchange(t, netAddr, []byte(tc.in), 0))
			for cut := 0; cut <= len(tc.in); cut++ {
				got := feed(hs, []byte(tc.in), cut)
				if !bytes.Equal(got, want) {
					t.Fatalf("cut at %d: answers differ\n--- net/http:\n%s\n--- httpsrv:\n%s", cut, trimLines(want), trimLines(got))
				}
			}
		})
	}
}

// feed runs in through a connection in two deliveries cut at cut and
// returns what it wrote.
func feed(s *Server, in []byte, cut int) []byte {
	ft := &fakeTransport{}
	c := &conn{srv: s, tc: ft}
	var pending []byte
	for _, part := range [][]byte{in[:cut], in[cut:]} {
		if len(part) == 0 || ft.closed {
			continue
		}
		data := append(append([]byte(nil), pending...), part...)
		k := c.onData(data)
		if k < 0 || k > len(data) {
			panic("onData returned a count out of range")
		}
		pending = data[k:]
	}
	return ft.out.Bytes()
}

// fakeTransport records what a connection writes.
type fakeTransport struct {
	out    bytes.Buffer
	closed bool
	shut   bool
}

func (f *fakeTransport) Write(b []byte) (int, error) {
	if f.closed || f.shut {
		return 0, tserver.ErrConnClosed
	}
	return f.out.Write(b)
}
func (f *fakeTransport) Close() error      { f.closed = true; return nil }
func (f *fakeTransport) CloseWrite() error { f.shut = true; return nil }
func (f *fakeTransport) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}
func (f *fakeTransport) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
}

var warmFDs = sync.OnceFunc(func() {
	r, w, err := os.Pipe()
	if err == nil {
		r.SetReadDeadline(time.Now().Add(time.Hour))
		r.Close()
		w.Close()
	}
})

func openFDs() int {
	warmFDs()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// checkFDs fails t if it ends holding more descriptors than it began with.
func checkFDs(t *testing.T) {
	before := openFDs()
	if before < 0 {
		return
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(testTimeout)
		for openFDs() > before && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if n := openFDs(); n > before {
			t.Errorf("descriptors: %d at start, %d at end", before, n)
		}
	})
}
