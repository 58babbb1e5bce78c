package tlsengine

import (
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
)

// switchConn is a net.Conn for the pin test: it passes through to a
// net.Pipe end during the handshake; after it, its reads come from buf
// and return readErr when buf is empty, and its writes are captured.
type switchConn struct {
	net.Conn
	mu       sync.Mutex
	switched bool
	buf      []byte
	readErr  error
	written  []byte
}

func (c *switchConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.switched {
		c.mu.Unlock()
		defer c.mu.Lock()
		return c.Conn.Read(p)
	}
	if len(c.buf) == 0 {
		return 0, c.readErr
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *switchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.switched {
		c.mu.Unlock()
		defer c.mu.Lock()
		return c.Conn.Write(p)
	}
	c.written = append(c.written, p...)
	return len(p), nil
}

// permanentErr is a net.Error that is not temporary.
type permanentErr struct{}

func (permanentErr) Error() string   { return "permanent" }
func (permanentErr) Timeout() bool   { return false }
func (permanentErr) Temporary() bool { return false }

// TestCryptoTLSTemporaryReadErrorIsNotSticky pins the behaviour of the
// standard library the engine's non-blocking read path stands on:
// crypto/tls's readRecordOrCCS (conn.go) remembers a read error of the
// underlying conn as the connection's final error unless it is a
// net.Error with Temporary() == true. Temporary is deprecated API; if a
// Go release changes this, this test fails, and the engine's
// post-handshake Read would fail every connection at its first partial
// record. The control case checks that a non-temporary error is sticky,
// so the test tells the two apart. Both the record header and the
// record body are cut.
func TestCryptoTLSTemporaryReadErrorIsNotSticky(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		sticky bool
	}{
		{"temporary", ErrWouldBlock, false},
		{"permanent (control)", permanentErr{}, true},
	} {
		for _, cut := range []int{3, 9} { // inside the 5-byte header; inside the body
			server, client := pinPair(t)
			if _, err := client.Write([]byte("pinned")); err != nil {
				t.Fatal(err)
			}
			cc := client.NetConn().(*switchConn)
			sc := server.NetConn().(*switchConn)
			record := cc.written
			sc.mu.Lock()
			sc.buf, sc.readErr = record[:cut], tc.err
			sc.mu.Unlock()

			buf := make([]byte, 64)
			if _, err := server.Read(buf); err != tc.err {
				t.Fatalf("%s, cut at %d: first Read: %v, want %v", tc.name, cut, err, tc.err)
			}
			sc.mu.Lock()
			sc.buf = record[cut:]
			sc.mu.Unlock()
			n, err := server.Read(buf)
			switch {
			case !tc.sticky && (err != nil || string(buf[:n]) != "pinned"):
				t.Fatalf("crypto/tls in %s made a Temporary() read error sticky (record cut at byte %d): "+
					"second Read got %q, %v. tlsengine's non-blocking Read depends on crypto/tls's "+
					"readRecordOrCCS not calling setErrorLocked for a net.Error whose Temporary() is true; "+
					"the engine needs another way to say \"would block\" for this Go release",
					runtime.Version(), cut, buf[:n], err)
			case tc.sticky && !errors.Is(err, tc.err):
				t.Fatalf("control, cut at %d: a permanent error was not sticky (got %q, %v): the test no longer tells the cases apart", cut, buf[:n], err)
			}
		}
	}
}

// pinPair returns a stock server and client, handshaken over a
// net.Pipe, their conns switched to in-memory reads and writes.
func pinPair(t *testing.T) (server, client *tls.Conn) {
	t.Helper()
	p := testPKI(t)
	a, b := net.Pipe()
	sc, cc := &switchConn{Conn: a}, &switchConn{Conn: b}
	scfg := p.serverConfig()
	scfg.SessionTicketsDisabled = true // nothing left in the pipe after the handshake
	server, client = tls.Server(sc, scfg), tls.Client(cc, p.clientConfig())
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, c := range []*switchConn{sc, cc} {
		c.mu.Lock()
		c.switched = true
		c.mu.Unlock()
	}
	a.Close()
	b.Close()
	return server, client
}
