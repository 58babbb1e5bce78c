package tlsengine

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gotevent/tevent/internal/testpki"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

// pki is a test-only certificate authority with certificates made at
// run time (ECDSA P-256): no private key is committed.
type pki struct {
	pool        *x509.CertPool // trusts ca
	ca          *x509.Certificate
	caKey       *ecdsa.PrivateKey
	server      tls.Certificate // server.test, *.example.test
	other       tls.Certificate // other.test (for SNI)
	client      tls.Certificate // client auth
	rogueServer tls.Certificate // server.test, signed by an untrusted CA
	rogueClient tls.Certificate // client auth, signed by an untrusted CA
}

var (
	testPKIOnce sync.Once
	testPKIv    *pki
)

// testPKI returns the shared test authority.
func testPKI(t testing.TB) *pki {
	testPKIOnce.Do(func() {
		p := &pki{}
		p.ca, p.caKey = newCA("tlsengine test CA")
		p.pool = x509.NewCertPool()
		p.pool.AddCert(p.ca)
		p.server = newLeaf(p.ca, p.caKey, "server.test", []string{"server.test", "*.example.test"}, x509.ExtKeyUsageServerAuth)
		p.other = newLeaf(p.ca, p.caKey, "other.test", []string{"other.test"}, x509.ExtKeyUsageServerAuth)
		p.client = newLeaf(p.ca, p.caKey, "client", nil, x509.ExtKeyUsageClientAuth)
		rca, rkey := newCA("rogue CA")
		p.rogueServer = newLeaf(rca, rkey, "server.test", []string{"server.test"}, x509.ExtKeyUsageServerAuth)
		p.rogueClient = newLeaf(rca, rkey, "client", nil, x509.ExtKeyUsageClientAuth)
		testPKIv = p
	})
	return testPKIv
}

// serverConfig is a server configuration with the test server certificate.
func (p *pki) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}}
}

// clientConfig trusts the test CA and expects server.test.
func (p *pki) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "server.test"}
}

// memConn is the stock crypto/tls peer's side of an in-memory byte pipe:
// a blocking net.Conn whose input the test loop feeds and whose output
// the test loop drains.
type memConn struct {
	mu     sync.Mutex
	cond   sync.Cond
	in     []byte
	eof    bool // the loop fed EOF
	closed bool // the peer closed its conn
	out    []byte
	wrote  chan struct{} // signalled after each Write and on Close
}

func newMemConn() *memConn {
	c := &memConn{wrote: make(chan struct{}, 1)}
	c.cond.L = &c.mu
	return c
}

func (c *memConn) signal() {
	select {
	case c.wrote <- struct{}{}:
	default:
	}
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.in) == 0 && !c.eof && !c.closed {
		c.cond.Wait()
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.out = append(c.out, p...)
	c.signal()
	return len(p), nil
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.cond.Broadcast()
	c.signal()
	return nil
}

func (c *memConn) feed(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in = append(c.in, p...)
	c.cond.Broadcast()
}

func (c *memConn) feedEOF() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eof = true
	c.cond.Broadcast()
}

// drain takes the peer's output; closed reports whether the peer closed.
func (c *memConn) drain() (out []byte, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, c.out = c.out, nil
	return out, c.closed
}

func (c *memConn) LocalAddr() net.Addr              { return noAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return noAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// waker is a Notify function's target: a one-slot channel, as a loop's
// wake-up is level-triggered.
type waker chan struct{}

func newWaker() waker { return make(waker, 1) }

func (w waker) notify() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// loop plays the event loop for one engine and one stock crypto/tls peer
// over a memConn: it moves bytes both ways and waits for either side.
type loop struct {
	t     testing.TB
	e     *Engine
	w     waker
	mc    *memConn
	chunk int // feed the engine this many bytes at a time (0: all)

	got        []byte // plaintext read from the engine
	readErr    error  // Read's final error
	peerClosed bool   // EOF already fed to the engine
	wouldBlock int    // ErrWouldBlock returns
}

// newLoop makes an engine with cfg (Notify filled in) and a memConn; it
// does not start the engine.
func newLoop(t testing.TB, cfg Config) *loop {
	t.Helper()
	l := &loop{t: t, w: newWaker(), mc: newMemConn()}
	cfg.Notify = l.w.notify
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.e = e
	t.Cleanup(func() { e.Close(); l.mc.Close() })
	return l
}

// step moves bytes: engine output to the peer; peer output (and its
// close) to the engine; once the handshake succeeded, reads plaintext
// until ErrWouldBlock or a final error.
func (l *loop) step() {
	if out := l.e.AppendOutput(nil); len(out) > 0 {
		l.mc.feed(out)
	}
	in, closed := l.mc.drain()
	for len(in) > 0 {
		k := len(in)
		if l.chunk > 0 && k > l.chunk {
			k = l.chunk
		}
		if err := l.e.Feed(in[:k]); err != nil && !errors.Is(err, ErrClosed) {
			l.t.Fatalf("Feed: %v", err)
		}
		in = in[k:]
		if l.chunk > 0 {
			l.read()
		}
	}
	if closed && !l.peerClosed {
		l.peerClosed = true
		l.e.FeedEOF()
	}
	l.read()
	if out := l.e.AppendOutput(nil); len(out) > 0 {
		l.mc.feed(out)
	}
}

// read reads what the engine has, if the handshake succeeded.
func (l *loop) read() {
	if l.readErr != nil {
		return
	}
	if done, err := l.e.Handshake(); !done || err != nil {
		return
	}
	var buf [4096]byte
	for {
		n, err := l.e.Read(buf[:])
		l.got = append(l.got, buf[:n]...)
		if err == ErrWouldBlock {
			l.wouldBlock++
			return
		}
		if err != nil {
			l.readErr = err
			return
		}
	}
}

// until steps until cond holds, waiting for the engine or the peer in
// between; it fails the test at testTimeout.
func (l *loop) until(what string, cond func() bool) {
	l.t.Helper()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		l.step()
		if cond() {
			return
		}
		select {
		case <-l.w:
		case <-l.mc.wrote:
		case <-deadline.C:
			l.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// handshake starts the engine and runs the handshake to its end; it
// returns the engine's result.
func (l *loop) handshake() error {
	l.t.Helper()
	if err := l.e.Start(); err != nil {
		return err
	}
	var err error
	l.until("the handshake", func() bool {
		var done bool
		done, err = l.e.Handshake()
		return done
	})
	l.step() // the last flight to the peer
	return err
}

// peer runs fn on a goroutine with a stock crypto/tls connection over
// the loop's memConn; the returned channel yields fn's error.
func (l *loop) peer(server bool, cfg *tls.Config, fn func(c *tls.Conn) error) <-chan error {
	var c *tls.Conn
	if server {
		c = tls.Server(l.mc, cfg)
	} else {
		c = tls.Client(l.mc, cfg)
	}
	ch := make(chan error, 1)
	go func() {
		ch <- fn(c)
		l.mc.signal() // wake the loop: the peer is done
	}()
	return ch
}

// wait steps until the peer's function has returned and gives its error.
func (l *loop) wait(ch <-chan error) error {
	l.t.Helper()
	var err error
	l.until("the peer", func() bool {
		select {
		case err = <-ch:
			return true
		default:
			return false
		}
	})
	return err
}

// writeAll encrypts p with AppendWrite and hands it to the peer.
func (l *loop) writeAll(p []byte) {
	l.t.Helper()
	out, n, err := l.e.AppendWrite(nil, p)
	if err != nil || n != len(p) {
		l.t.Fatalf("AppendWrite: %d of %d, %v", n, len(p), err)
	}
	l.mc.feed(out)
}

// enginePair is two engines, a client and a server, pumped into each
// other by the test goroutine: no stock peer, no goroutine after the
// handshakes.
type enginePair struct {
	t    testing.TB
	c, s *Engine
	w    waker
}

func newEnginePair(t testing.TB, ccfg, scfg Config) *enginePair {
	t.Helper()
	p := &enginePair{t: t, w: newWaker()}
	ccfg.Notify, scfg.Notify = p.w.notify, p.w.notify
	scfg.Server = true
	var err error
	if p.c, err = New(ccfg); err != nil {
		t.Fatal(err)
	}
	if p.s, err = New(scfg); err != nil {
		t.Fatal(err)
	}
	return p
}

// pump moves each engine's output into the other.
func (p *enginePair) pump() {
	var buf []byte
	if buf = p.c.AppendOutput(buf[:0]); len(buf) > 0 {
		if err := p.s.Feed(buf); err != nil {
			p.t.Fatal(err)
		}
	}
	if buf = p.s.AppendOutput(buf[:0]); len(buf) > 0 {
		if err := p.c.Feed(buf); err != nil {
			p.t.Fatal(err)
		}
	}
}

// handshake runs both handshakes to their end.
func (p *enginePair) handshake() error {
	p.t.Helper()
	if err := p.s.Start(); err != nil {
		return err
	}
	if err := p.c.Start(); err != nil {
		return err
	}
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for {
		p.pump()
		cd, cerr := p.c.Handshake()
		sd, serr := p.s.Handshake()
		if cd && sd {
			p.pump()
			return errors.Join(cerr, serr)
		}
		select {
		case <-p.w:
		case <-deadline.C:
			p.t.Fatal("timed out waiting for the handshakes")
		}
	}
}

// readAll reads from e until ErrWouldBlock, appending to dst.
func readAll(t testing.TB, e *Engine, dst, buf []byte) []byte {
	t.Helper()
	for {
		n, err := e.Read(buf)
		dst = append(dst, buf[:n]...)
		if err == ErrWouldBlock {
			return dst
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

func (p *enginePair) close() { p.c.Close(); p.s.Close() }

// outLen is the peer's undrained output.
func (c *memConn) outLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out)
}

// peerFunc runs fn on a goroutine (a stock peer's blocking call) and
// wakes the loop when it returns; the channel yields its error.
func (l *loop) peerFunc(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() {
		ch <- fn()
		l.mc.signal()
	}()
	return ch
}

// The test certificates come from internal/testpki.
var (
	newCA   = testpki.NewCA
	newLeaf = testpki.NewLeaf
)
