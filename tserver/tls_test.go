package tserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/testpki"
	"golang.org/x/sys/unix"
)

// ---- test PKI ----

// tlsPKI is a test CA with a server certificate (server.test and
// 127.0.0.1), another for b.test (SNI) and a client certificate.
type tlsPKI struct {
	pool    *x509.CertPool
	caPEM   []byte
	server  tls.Certificate
	serverB tls.Certificate
	client  tls.Certificate
}

var testPKI = sync.OnceValue(func() *tlsPKI {
	ca, caKey := newTestCA("tserver test CA")
	p := &tlsPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	p.server = newTestLeaf(ca, caKey, "server.test", []string{"server.test"}, x509.ExtKeyUsageServerAuth)
	p.serverB = newTestLeaf(ca, caKey, "b.test", []string{"b.test"}, x509.ExtKeyUsageServerAuth)
	p.client = newTestLeaf(ca, caKey, "client", nil, x509.ExtKeyUsageClientAuth)
	return p
})

func (p *tlsPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}}
}

func (p *tlsPKI) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "server.test"}
}

// writeFiles writes the CA, the server's certificate and key as PEM.
func (p *tlsPKI) writeFiles(t testing.TB) string {
	dir := t.TempDir()
	keyDER, err := x509.MarshalECPrivateKey(p.server.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"ca.pem":   p.caPEM,
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.server.Certificate[0]}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ---- helpers ----

// tlsDial is a stock crypto/tls client over loopback TCP.
func tlsDial(t testing.TB, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	raw := dial(t, addr)
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		raw.Close()
		t.Fatalf("client handshake: %v", err)
	}
	return c
}

// startTLSServer starts a TLS echo server (rec) on every call.
func startTLSServer(t *testing.T, rec *recorder, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.TLS == nil {
		cfg.TLS = testPKI().serverConfig()
	}
	return startServer(t, rec, cfg)
}

// waitStats waits until cond holds on s's counters.
func waitStats(t testing.TB, s *Server, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(srvTimeout)
	for {
		st := s.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(time.Millisecond) // polling counters of another goroutine, bounded above
	}
}

// expectClosedByServer reads c until the server closes it (EOF or reset).
func expectClosedByServer(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(srvTimeout))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection: %v", err)
	}
}

// ---- tests ----

// TestTLSEchoStockClient: stock tls.Dial clients against a TLS server on
// every backend: byte-exact echo of small and large messages; OnOpen runs
// after the handshake with the state there; the client's close_notify is
// OnClose(io.EOF) and the server answers it.
func TestTLSEchoStockClient(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		p := testPKI()
		rec := newRecorder()
		states := make(chan tls.ConnectionState, 4)
		rec.open = func(c *Conn) {
			st, ok := c.TLSState()
			if !ok {
				t.Error("TLSState in OnOpen: not ok")
			}
			states <- st
		}
		s, addr := startTLSServer(t, rec, Config{Backend: backend})
		c := tlsDial(t, addr, p.clientConfig())
		for _, size := range []int{1, 100, 4096, 16384, 16385, 200 << 10} {
			msg := make([]byte, size)
			rand.Read(msg)
			errc := make(chan error, 1)
			go func() { _, err := c.Write(msg); errc <- err }()
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("size %d: echo differs", size)
			}
		}
		st := waitFor(t, "OnOpen", states)
		if st.Version != tls.VersionTLS13 || !st.HandshakeComplete || st.ServerName != "server.test" {
			t.Fatalf("TLSState: version %x complete %v sni %q", st.Version, st.HandshakeComplete, st.ServerName)
		}
		if err := c.CloseWrite(); err != nil { // close_notify
			t.Fatal(err)
		}
		if err := waitFor(t, "OnClose", rec.closed); err != io.EOF {
			t.Fatalf("OnClose after the client's close_notify: %v, want io.EOF", err)
		}
		// The server answered with its own close_notify: a clean EOF.
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("client read after close: %d, %v; want io.EOF", n, err)
		}
		c.Close()
		if st := s.Stats(); st.TLSHandshakes != 1 || st.TLSHandshakeErrors != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestTLSServerCloseSendsCloseNotify: Close from the handler sends
// close_notify after the pending output; a client closing without one is
// ErrTLSTruncated.
func TestTLSServerCloseSendsCloseNotify(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	rec.data = func(c *Conn, in []byte) int {
		c.Write(bytes.ToUpper(in))
		if bytes.Contains(in, []byte("bye")) {
			c.Close()
		}
		return len(in)
	}
	_, addr := startTLSServer(t, rec, Config{})
	c := tlsDial(t, addr, p.clientConfig())
	c.Write([]byte("bye"))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "BYE" {
		t.Fatalf("client read %q, %v; want BYE and a clean EOF", got, err)
	}
	if err := waitFor(t, "OnClose", rec.closed); err != nil {
		t.Fatalf("OnClose after Close: %v", err)
	}
	c.Close()

	// Truncation: the client's TCP stream ends without close_notify.
	c = tlsDial(t, addr, p.clientConfig())
	echoOnce(t, c, []byte("1"))
	c.NetConn().Close()
	if err := waitFor(t, "OnClose", rec.closed); !errors.Is(err, ErrTLSTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("OnClose after a truncation: %v, want ErrTLSTruncated", err)
	}
}

// TestTLSBadClientCertificate: with client certificates required, a
// client without one fails and never reaches the Handler; one with it
// gets through with its certificate in TLSState.
func TestTLSBadClientCertificate(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	peers := make(chan int, 2)
	rec.open = func(c *Conn) {
		st, _ := c.TLSState()
		peers <- len(st.PeerCertificates)
	}
	scfg := p.serverConfig()
	scfg.ClientAuth = tls.RequireAndVerifyClientCert
	scfg.ClientCAs = p.pool
	s, addr := startTLSServer(t, rec, Config{TLS: scfg})

	raw := dial(t, addr)
	c := tls.Client(raw, p.clientConfig())
	err := c.Handshake()
	if err == nil { // TLS 1.3: the client learns on its first read
		_, err = c.Read(make([]byte, 1))
	}
	if err == nil {
		t.Fatal("a client without a certificate got through")
	}
	c.Close()
	waitStats(t, s, "the handshake error", func(st Stats) bool { return st.TLSHandshakeErrors == 1 })

	ccfg := p.clientConfig()
	ccfg.Certificates = []tls.Certificate{p.client}
	c = tlsDial(t, addr, ccfg)
	echoOnce(t, c, []byte("with a certificate"))
	if n := waitFor(t, "OnOpen", peers); n != 1 {
		t.Fatalf("peer certificates in TLSState: %d", n)
	}
	c.Close()
	if opens, _ := rec.counts(); opens != 1 {
		t.Fatalf("OnOpen called %d times, want 1 (the failed client never opened)", opens)
	}
}

// TestTLSHandshakeTimeout: a client that never speaks, and one that
// stops halfway through its ClientHello, are closed at the handshake
// timeout, never opened; no handshake goroutine is left (goleak in
// TestMain).
func TestTLSHandshakeTimeout(t *testing.T) {
	rec := newRecorder()
	s, addr := startTLSServer(t, rec, Config{TLSHandshakeTimeout: 200 * time.Millisecond})
	silent := dial(t, addr)
	defer silent.Close()
	half := dial(t, addr)
	defer half.Close()
	hello := clientHelloBytes(t)
	if _, err := half.Write(hello[:len(hello)/2]); err != nil {
		t.Fatal(err)
	}
	expectClosedByServer(t, silent)
	expectClosedByServer(t, half)
	waitStats(t, s, "two handshake errors", func(st Stats) bool { return st.TLSHandshakeErrors == 2 && st.Conns == 0 })
	if opens, closes := rec.counts(); opens != 0 || closes != 0 {
		t.Fatalf("the Handler saw %d opens, %d closes; want none", opens, closes)
	}
}

// clientHelloBytes returns a stock client's first flight.
func clientHelloBytes(t testing.TB) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, testPKI().clientConfig()).Handshake()
	b.SetReadDeadline(time.Now().Add(srvTimeout))
	buf := make([]byte, 64<<10)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestTLSGarbage: garbage instead of a ClientHello fails the handshake
// (never opened); garbage records after it close the connection with
// ErrTLSProtocol.
func TestTLSGarbage(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	s, addr := startTLSServer(t, rec, Config{})
	g := dial(t, addr)
	g.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	expectClosedByServer(t, g)
	g.Close()
	waitStats(t, s, "the handshake error", func(st Stats) bool { return st.TLSHandshakeErrors == 1 })

	c := tlsDial(t, addr, p.clientConfig())
	echoOnce(t, c, []byte("fine so far"))
	// An application-data record of random bytes on the raw socket.
	rec23 := append([]byte{23, 3, 3, 0, 40}, make([]byte, 40)...)
	rand.Read(rec23[5:])
	c.NetConn().Write(rec23)
	if err := waitFor(t, "OnClose", rec.closed); !errors.Is(err, ErrTLSProtocol) {
		t.Fatalf("OnClose after a garbage record: %v, want ErrTLSProtocol", err)
	}
	c.Close()
}

// capConn captures what a tls.Client writes once capture is on.
type capConn struct {
	net.Conn
	capture bool
	buf     bytes.Buffer
}

func (c *capConn) Write(p []byte) (int, error) {
	if c.capture {
		return c.buf.Write(p)
	}
	return c.Conn.Write(p)
}

// TestTLSRecordByteByByte: a 16 KiB record sent one byte per write is
// decrypted whole and echoed.
func TestTLSRecordByteByByte(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	_, addr := startTLSServer(t, rec, Config{})
	raw := dial(t, addr)
	cc := &capConn{Conn: raw}
	c := tls.Client(cc, p.clientConfig())
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	echoOnce(t, c, []byte("warm")) // past the session tickets
	msg := make([]byte, 16384)
	rand.Read(msg)
	cc.capture = true
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	cc.capture = false
	wire := cc.buf.Bytes()
	go func() {
		for i := range wire {
			if _, err := raw.Write(wire[i : i+1]); err != nil {
				return
			}
		}
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo of the byte-by-byte record differs")
	}
	c.Close()
}

// TestTLSALPNAndSNI: GetCertificate picks the certificate by SNI, ALPN is
// negotiated, both show in TLSState.
func TestTLSALPNAndSNI(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	states := make(chan tls.ConnectionState, 2)
	rec.open = func(c *Conn) { st, _ := c.TLSState(); states <- st }
	scfg := &tls.Config{
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hi.ServerName == "b.test" {
				return &p.serverB, nil
			}
			return &p.server, nil
		},
	}
	_, addr := startTLSServer(t, rec, Config{TLS: scfg})
	for _, name := range []string{"b.test", "server.test"} {
		c := tlsDial(t, addr, &tls.Config{RootCAs: p.pool, ServerName: name, NextProtos: []string{"http/1.1"}})
		cs := c.ConnectionState()
		if cs.PeerCertificates[0].Subject.CommonName != name || cs.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("client sees %q, ALPN %q", cs.PeerCertificates[0].Subject.CommonName, cs.NegotiatedProtocol)
		}
		echoOnce(t, c, []byte(name))
		st := waitFor(t, "OnOpen", states)
		if st.ServerName != name || st.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("TLSState: SNI %q ALPN %q", st.ServerName, st.NegotiatedProtocol)
		}
		c.Close()
	}
}

// TestTLSResumption: the second connection of a client with a session
// cache resumes.
func TestTLSResumption(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	resumed := make(chan bool, 2)
	rec.open = func(c *Conn) { st, _ := c.TLSState(); resumed <- st.DidResume }
	_, addr := startTLSServer(t, rec, Config{})
	ccfg := p.clientConfig()
	ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for i, want := range []bool{false, true} {
		c := tlsDial(t, addr, ccfg)
		echoOnce(t, c, []byte("ticket")) // reads the session ticket
		if got := c.ConnectionState().DidResume; got != want {
			t.Fatalf("connection %d: client DidResume %v", i, got)
		}
		if got := waitFor(t, "OnOpen", resumed); got != want {
			t.Fatalf("connection %d: server DidResume %v", i, got)
		}
		c.Close()
	}
}

// TestTLSHandshakeLimit: with 2 handshakes running and 2 queued allowed,
// of 8 clients that start a handshake and stall, 4 are refused at once
// (closed, counted); the others time out.
func TestTLSHandshakeLimit(t *testing.T) {
	rec := newRecorder()
	s, addr := startTLSServer(t, rec, Config{TLSMaxHandshakes: 2, TLSMaxQueuedHandshakes: 2, TLSHandshakeTimeout: time.Second})
	hello := clientHelloBytes(t)
	var stalled []net.Conn
	for i := 0; i < 8; i++ {
		c := dial(t, addr)
		defer c.Close()
		c.Write(hello[:10]) // a start, never finished
		stalled = append(stalled, c)
	}
	waitStats(t, s, "4 refused", func(st Stats) bool { return st.TLSHandshakeErrors == 4 })
	run, queued := s.tlsLimiter.InFlight()
	if run != 2 || queued != 2 {
		t.Fatalf("limiter: %d running, %d queued; want 2, 2", run, queued)
	}
	for _, c := range stalled {
		expectClosedByServer(t, c)
	}
	waitStats(t, s, "all 8 failed", func(st Stats) bool { return st.TLSHandshakeErrors == 8 && st.Conns == 0 })

}

// TestTLSHandshakesQueued: 16 clients handshaking at once against 2
// running and 32 queued: all are served, the excess queued.
func TestTLSHandshakesQueued(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	s, addr := startTLSServer(t, rec, Config{TLSMaxHandshakes: 2, TLSMaxQueuedHandshakes: 32})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := net.DialTimeout("tcp", addr, srvTimeout)
			if err != nil {
				errs <- err
				return
			}
			raw.SetDeadline(time.Now().Add(srvTimeout))
			c := tls.Client(raw, p.clientConfig())
			defer c.Close()
			msg := []byte("queued but served")
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("echo %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := s.Stats(); st.TLSHandshakes != 16 || st.TLSHandshakeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTLSShutdownDuringHandshakes: Shutdown while handshakes run (and
// wait) ends them at once: Wait returns, the Handler saw nothing, no
// goroutine is left (goleak in TestMain).
func TestTLSShutdownDuringHandshakes(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		s, err := New(rec, &Config{Backend: backend, TLS: testPKI().serverConfig(), TLSMaxHandshakes: 2, TLSMaxQueuedHandshakes: 10})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.Listen("tcp", "127.0.0.1:0")
		s.Start()
		hello := clientHelloBytes(t)
		var cs []net.Conn
		for i := 0; i < 6; i++ {
			c := dial(t, a.String())
			defer c.Close()
			c.Write(hello[:len(hello)-1])
			cs = append(cs, c)
		}
		waitStats(t, s, "6 connections", func(st Stats) bool { return st.Accepted == 6 })
		onLoop(t, s.Loops()[0], func() {}) // the bytes had a loop turn
		s.Shutdown(time.Now().Add(time.Minute))
		waitServer(t, s)
		for _, c := range cs {
			expectClosedByServer(t, c)
		}
		if st := s.Stats(); st.TLSHandshakeErrors != 6 || st.TLSHandshakes != 0 {
			t.Fatalf("stats %+v", st)
		}
		if opens, closes := rec.counts(); opens != 0 || closes != 0 {
			t.Fatalf("the Handler saw %d opens, %d closes", opens, closes)
		}
	})
}

// TestTLSHandshakeInputBounded: a client whose handshake is queued
// behind the limit (nothing consumes its bytes) and that stuffs bytes is
// read up to about MaxTLSHandshakeInput, then not at all, until the
// handshake timeout closes it.
func TestTLSHandshakeInputBounded(t *testing.T) {
	rec := newRecorder()
	s, addr := startTLSServer(t, rec, Config{TLSMaxHandshakes: 1, TLSMaxQueuedHandshakes: 1, TLSHandshakeTimeout: time.Second})
	hello := clientHelloBytes(t)
	a := dial(t, addr) // holds the one handshake goroutine
	defer a.Close()
	a.Write(hello[:10])
	waitStats(t, s, "a's connection", func(st Stats) bool { return st.Accepted == 1 })
	onLoop(t, s.Loops()[0], func() {})
	b := dial(t, addr)
	defer b.Close()
	const stuff = 64 << 20
	wrote := make(chan int, 1)
	go func() {
		junk := make([]byte, 64<<10)
		n := 0
		for n < stuff {
			k, err := b.Write(junk)
			n += k
			if err != nil {
				break
			}
		}
		wrote <- n
	}()
	expectClosedByServer(t, b)
	n := waitFor(t, "the stuffing client", wrote)
	t.Logf("the client got %d bytes into the socket before the close", n)
	if n >= stuff {
		t.Fatalf("the server took all %d bytes of a handshake", n)
	}
	waitStats(t, s, "two handshake errors", func(st Stats) bool { return st.TLSHandshakeErrors == 2 })
}

// TestTLSInboundLimitOnPlaintext: MaxInbound counts the plaintext kept
// unconsumed.
func TestTLSInboundLimitOnPlaintext(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	rec.data = func(c *Conn, in []byte) int { return 0 } // keeps everything
	_, addr := startTLSServer(t, rec, Config{MaxInbound: 64 << 10})
	c := tlsDial(t, addr, p.clientConfig())
	defer c.Close()
	go c.Write(make([]byte, 256<<10))
	if err := waitFor(t, "OnClose", rec.closed); !errors.Is(err, ErrInboundLimit) {
		t.Fatalf("OnClose: %v, want ErrInboundLimit", err)
	}
}

// TestTLSBacklogAndHandleWrite: large output from a handle (off the
// data callback) and a peer that reads late: all of it arrives in order.
func TestTLSBacklogAndHandleWrite(t *testing.T) {
	p := testPKI()
	rec := newRecorder()
	handles := make(chan ConnHandle, 1)
	rec.open = func(c *Conn) { handles <- c.Handle() }
	_, addr := startTLSServer(t, rec, Config{})
	c := tlsDial(t, addr, p.clientConfig())
	defer c.Close()
	h := waitFor(t, "OnOpen", handles)
	var want bytes.Buffer
	for i := 0; i < 64; i++ {
		chunk := bytes.Repeat([]byte{byte(i)}, 32<<10)
		want.Write(chunk)
		if err := h.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes (%v), want %d in order", len(got), err, want.Len())
	}
}

// TestTLSConfigWithoutCertificate is refused by New.
func TestTLSConfigWithoutCertificate(t *testing.T) {
	if _, err := New(BaseHandler{}, &Config{TLS: &tls.Config{}}); err == nil {
		t.Fatal("New accepted a tls.Config without a certificate")
	}
}

// TestTLSPlainServerState: TLSState on a plain server is not ok.
func TestTLSPlainServerState(t *testing.T) {
	rec := newRecorder()
	oks := make(chan bool, 1)
	rec.open = func(c *Conn) { _, ok := c.TLSState(); oks <- ok }
	_, addr := startServer(t, rec, Config{})
	c := dial(t, addr)
	defer c.Close()
	if waitFor(t, "OnOpen", oks) {
		t.Fatal("TLSState ok on a plain connection")
	}
}

// TestTLSAllocsPerMessage reports the server's allocations per echoed
// message on the TLS path. The client's records are encrypted ahead (a
// stock tls.Client writing into a buffer), so that each round is only
// system calls on the test's side: a round writes one record and reads
// the echoed record back (same size) while the loop runs here.
// crypto/tls allocates per record read; tserver adds none, and the
// figure is pinned at what crypto/tls costs today.
func TestTLSAllocsPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	ev, err := tevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	rec := newRecorder()
	// Records of one size each way: no dynamic record sizing (it sizes
	// records by what each side sent so far).
	scfg := testPKI().serverConfig()
	scfg.DynamicRecordSizingDisabled = true
	s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}, TLS: scfg})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Listen("tcp", "127.0.0.1:0")
	sa, _ := parseV4(a.String())
	cfd, _ := testSocketTCP()
	defer unix.Close(cfd)
	if err := unix.Connect(cfd, sa); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Dup(cfd)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dfd), "client")
	raw, err := net.FileConn(f) // for the handshake; cfd for the rounds
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	cc := &capConn{Conn: raw}
	ccfg := testPKI().clientConfig()
	ccfg.DynamicRecordSizingDisabled = true
	client := tls.Client(cc, ccfg)
	// The handshake and a warm-up echo on a goroutine, the loop here
	// (woken by a ticking timer).
	hs := make(chan error, 1)
	go func() {
		if err := client.Handshake(); err != nil {
			hs <- err
			return
		}
		client.Write([]byte("warm"))
		_, err := io.ReadFull(client, make([]byte, 4)) // and the session tickets
		hs <- err
	}()
	tick := ev.NewScope()
	var rearm func()
	rearm = func() {
		tick.AddTimer(time.Now().Add(time.Millisecond), func(*tevent.Context, *tevent.Timer, time.Time) { rearm() })
	}
	rearm()
	deadline := time.Now().Add(srvTimeout)
	var herr error
	for done := false; !done; {
		select {
		case herr = <-hs:
			done = true
		default:
			if time.Now().After(deadline) {
				t.Fatal("handshake timed out")
			}
			if err := ev.LoopOnce(); err != nil {
				t.Fatal(err)
			}
		}
	}
	tick.Free()
	if herr != nil {
		t.Fatal(herr)
	}
	// FileConn made the socket non-blocking (the flag is shared by the
	// dup): make it blocking again for plain writes.
	unix.SetNonblock(cfd, false)
	for _, size := range []int{64, 4096} {
		const warm, runs = 10, 200
		const n = warm + 1 + runs // AllocsPerRun runs round once more to warm up
		cc.capture = true
		recs := make([][]byte, n)
		for i := range recs {
			cc.buf.Reset()
			client.Write(make([]byte, size))
			recs[i] = bytes.Clone(cc.buf.Bytes())
		}
		cc.capture = false
		got := make([]byte, len(recs[0]))
		i := 0
		round := func() {
			if _, err := unix.Write(cfd, recs[i]); err != nil {
				t.Fatal(err)
			}
			i++
			k := 0
			for k < len(got) {
				if err := ev.LoopOnce(); err != nil {
					t.Fatal(err)
				}
				var fds = [1]unix.PollFd{{Fd: int32(cfd), Events: unix.POLLIN}}
				if m, _ := unix.Poll(fds[:], 0); m == 1 {
					m, err := unix.Read(cfd, got[k:])
					if err != nil || m == 0 {
						t.Fatalf("read: %d, %v", m, err)
					}
					k += m
				}
			}
		}
		for range warm {
			round()
		}
		avg := testing.AllocsPerRun(runs, round)
		t.Logf("TLS %d B: %.2f server allocations per echoed message", size, avg)
		if avg > 2 {
			t.Errorf("TLS %d B: %.2f allocations per echoed message, want at most crypto/tls's 2", size, avg)
		}
	}
	s.Close()
	for s.left.Load() > 0 {
		if err := ev.LoopOnce(); err != nil {
			t.Fatal(err)
		}
	}
	waitServer(t, s)
}

// ---- interop with clients no one here wrote ----

// TestTLSOpenSSLClient: openssl s_client verifies the server and gets
// its line echoed.
func TestTLSOpenSSLClient(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (.ci/run installs it)")
	}
	p := testPKI()
	dir := p.writeFiles(t)
	rec := newRecorder()
	rec.data = func(c *Conn, in []byte) int {
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			return 0
		}
		c.Write([]byte("echo: "))
		c.Write(in[:i+1])
		c.Close()
		return i + 1
	}
	_, addr := startTLSServer(t, rec, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), srvTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", addr, "-servername", "server.test",
		"-CAfile", filepath.Join(dir, "ca.pem"), "-verify_return_error", "-quiet")
	cmd.Stdin = strings.NewReader("hello from openssl\n")
	out, err := cmd.CombinedOutput()
	if !strings.Contains(string(out), "echo: hello from openssl") {
		t.Fatalf("openssl (%v):\n%s", err, out)
	}
}

// TestTLSCurl: curl fetches a page over HTTPS from a tiny HTTP handler.
func TestTLSCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (.ci/run installs it)")
	}
	p := testPKI()
	dir := p.writeFiles(t)
	rec := newRecorder()
	rec.data = func(c *Conn, in []byte) int {
		i := bytes.Index(in, []byte("\r\n\r\n"))
		if i < 0 {
			return 0
		}
		body := "hello curl\n"
		fmt.Fprintf(connWriter{c}, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		c.Close()
		return i + 4
	}
	scfg := p.serverConfig()
	scfg.NextProtos = []string{"http/1.1"}
	_, addr := startTLSServer(t, rec, Config{TLS: scfg})
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), srvTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--http1.1", "--cacert", filepath.Join(dir, "ca.pem"),
		"--resolve", "server.test:"+port+":127.0.0.1", "https://server.test:"+port+"/x").CombinedOutput()
	if err != nil || string(out) != "hello curl\n" {
		t.Fatalf("curl (%v): %q", err, out)
	}
}

type connWriter struct{ c *Conn }

func (w connWriter) Write(p []byte) (int, error) { return w.c.Write(p) }

// TestTLSFINDuringHandshake: a client's FIN that arrives while the
// server's handshake is still running, after the client's Finished, a
// request and close_notify, does not fail the handshake: the request is
// answered and the connection closes cleanly. (It was aborted as a failed
// handshake; TLS 1.3 clients send data right after their Finished.) The
// server's handshake is held in VerifyConnection until every byte the
// client sent, FIN included, has reached the server.
func TestTLSFINDuringHandshake(t *testing.T) {
	p := testPKI()
	release := make(chan struct{})
	cfg := p.serverConfig().Clone()
	cfg.ClientAuth = tls.RequestClientCert // VerifyConnection runs before the client's Finished is read
	cfg.VerifyConnection = func(tls.ConnectionState) error {
		select {
		case <-release:
		case <-time.After(srvTimeout):
		}
		return nil
	}
	rec := newRecorder()
	s, addr := startTLSServer(t, rec, Config{TLS: cfg})
	raw := dial(t, addr)
	cnt := &countingConn{Conn: raw}
	c := tls.Client(cnt, p.clientConfig())
	if err := c.Handshake(); err != nil { // TLS 1.3: done once Finished is sent
		t.Fatal(err)
	}
	msg := []byte("request before FIN")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil { // close_notify
		t.Fatal(err)
	}
	if err := raw.(*net.TCPConn).CloseWrite(); err != nil { // FIN
		t.Fatal(err)
	}
	sent := cnt.n.Load()
	waitStats(t, s, "every byte the client sent read by the server", func(st Stats) bool { return st.BytesIn >= uint64(sent) })
	close(release)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, want %q", got, msg)
	}
	if err := waitFor(t, "OnClose", rec.closed); err != io.EOF {
		t.Fatalf("OnClose: %v, want io.EOF (the client's close_notify)", err)
	}
	c.Close()
	if st := s.Stats(); st.TLSHandshakes != 1 || st.TLSHandshakeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// countingConn counts the bytes written through it.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// The test certificates come from internal/testpki.
var (
	newTestCA   = testpki.NewCA
	newTestLeaf = testpki.NewLeaf
)
