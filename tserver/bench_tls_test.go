package tserver

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// BenchmarkServerEchoTLS64 and BenchmarkServerEchoTLS4096 echo messages
// through a TLS server on a loop the benchmark drives (epoll), against a
// stock crypto/tls client (TLS 1.3, X25519, as the shared echo-load)
// whose reads run the loop when the socket has nothing: one goroutine,
// the server's cost per message plus the client's. Under callgrind, the
// server's share is the inclusive cost of tevent's LoopOnce.
func BenchmarkServerEchoTLS64(b *testing.B)   { benchServerEchoTLS(b, 64) }
func BenchmarkServerEchoTLS4096(b *testing.B) { benchServerEchoTLS(b, 4096) }

func benchServerEchoTLS(b *testing.B, size int) {
	ev, err := tevent.New(tevent.WithBackend("epoll"))
	if err != nil {
		b.Fatal(err)
	}
	defer ev.Free()
	rec := newRecorder()
	s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}, TLS: testPKI().serverConfig()})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := s.Listen("tcp", "127.0.0.1:0")
	sa, _ := parseV4(a.String())
	cfd, _ := testSocketTCP()
	if err := unix.Connect(cfd, sa); err != nil {
		b.Fatal(err)
	}
	unix.SetNonblock(cfd, true)
	lc := &loopConn{fd: cfd, ev: ev}
	ccfg := testPKI().clientConfig()
	ccfg.MinVersion = tls.VersionTLS13
	ccfg.CurvePreferences = []tls.CurveID{tls.X25519}
	tc := tls.Client(lc, ccfg)
	if err := tc.Handshake(); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	got := make([]byte, size)
	echo := func() {
		if _, err := tc.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(tc, got); err != nil {
			b.Fatal(err)
		}
	}
	echo() // the session tickets, dynamic record sizing's first records
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		echo()
	}
	b.StopTimer()
	tc.Close()
	unix.Close(cfd)
	s.Close()
	for s.left.Load() > 0 {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
}

// loopConn is a client's net.Conn over a non-blocking socket whose Read
// runs the server's loop while the socket has nothing to read: client
// and server in one goroutine.
type loopConn struct {
	fd int
	ev *tevent.Context
}

func (c *loopConn) Read(p []byte) (int, error) {
	deadline := time.Now().Add(srvTimeout)
	for {
		n, err := unix.Read(c.fd, p)
		switch {
		case n > 0:
			return n, nil
		case n == 0 && err == nil:
			return 0, io.EOF
		case err != unix.EAGAIN:
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, unix.ETIMEDOUT
		}
		if err := c.ev.LoopOnce(); err != nil {
			return 0, err
		}
	}
}

func (c *loopConn) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Write(c.fd, p[n:])
		if err == unix.EAGAIN {
			if err := c.ev.LoopOnce(); err != nil {
				return n, err
			}
			continue
		}
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

func (c *loopConn) Close() error                     { return nil }
func (c *loopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *loopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *loopConn) SetDeadline(time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }
