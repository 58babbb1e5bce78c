package tserver

// TLS on the server fast path (Config.TLS), over internal/tlsengine and
// standard crypto/tls, unforked.
//
// An accepted connection starts with a server engine: no goroutine until
// the client's first byte arrives, then the handshake runs on one (under
// the handshake limit) over a blocking adapter the loop feeds with what
// it reads from the socket. The engine's Notify posts an opTLS to the
// connection's loop (through the loop's thread proxy, as ConnHandle calls
// do); there handshakeStep sends the engine's flight and, once the
// handshake ended, either opens the connection (OnOpen) or closes it
// without the Handler ever seeing it (Stats.TLSHandshakeErrors).
//
// After the handshake everything runs on the loop: readableTLS reads
// ciphertext into the loop's shared read buffer, feeds it to the engine
// (which copies it into a pooled buffer held only while a partial record
// waits), and decrypt reads plaintext into the same buffer, or into the
// connection's inbound buffer while bytes are kept, and hands it to
// deliver, the plain path's OnData step. Write encrypts with the engine's
// AppendWrite straight into the loop's staging buffer (in OnData), the
// connection's output buffer (while output is pending), or the loop's
// scratch buffer on its way to Conn.output: ciphertext takes the plain
// path's one output path.

import (
	"crypto/tls"
	"errors"
	"io"
	"unsafe"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"github.com/gotevent/tevent/internal/tlsengine"
	"golang.org/x/sys/unix"
)

// Defaults of the TLS limits (Config.TLSHandshakeTimeout,
// Config.TLSMaxHandshakes); the same as tsocket's TLS streams.
const (
	// DefaultTLSHandshakeTimeout bounds a handshake when
	// Config.TLSHandshakeTimeout is zero.
	DefaultTLSHandshakeTimeout = tlsengine.DefaultHandshakeTimeout
	// DefaultTLSMaxHandshakes is how many handshakes of the process-wide
	// limit run at once, each on a goroutine.
	DefaultTLSMaxHandshakes = tlsengine.DefaultMaxHandshakes
	// DefaultTLSMaxQueuedHandshakes is how many more the process-wide
	// limit queues, without a goroutine, before a connection is refused
	// (closed at once).
	DefaultTLSMaxQueuedHandshakes = tlsengine.DefaultMaxQueuedHandshakes
	// MaxTLSHandshakeInput bounds the ciphertext read from a client
	// before its handshake ended (a handshake needs a few KiB, a client
	// certificate chain some more; a client may also send data right
	// after its Finished): once that much is read, reading pauses until
	// the handshake ends, and the handshake timeout ends a client that
	// stuffs bytes instead; a handshake that has taken that much and
	// wants more fails at once. The same bound as tsocket's
	// MaxTLSHandshakeInput.
	MaxTLSHandshakeInput = tlsengine.MaxHandshakeInput
)

// Close reasons of TLS connections, given to OnClose; the same values as
// tsocket's ErrTLSProtocol and ErrTLSTruncated.
var (
	// ErrTLSProtocol is wrapped (with crypto/tls's error) by the close
	// reason of a TLS connection whose record layer failed after the
	// handshake: a record that does not decrypt (garbage), a fatal alert
	// from the peer (errors.As a *net.OpError with Op "remote error").
	ErrTLSProtocol = tlsengine.ErrProtocol
	// ErrTLSTruncated is the close reason of a TLS connection whose peer
	// closed the TCP stream without a close_notify alert: the data may
	// have been cut short by an attacker. It wraps io.ErrUnexpectedEOF.
	// A clean close (close_notify, then the end of the stream) is io.EOF.
	ErrTLSTruncated = tlsengine.ErrTruncated
)

// tlsBox is a connection of a TLS server: the Conn and its TLS state in
// one allocation, so that a plain Conn carries no field for TLS. Loops
// with tlsOn allocate every Conn as one (newTLSConn); tlsc goes from the
// Conn back to the box.
type tlsBox struct {
	c Conn // first: a *Conn is a pointer to the box
	t tlsConn
}

// newTLSConn allocates a Conn of a TLS server's loop.
func newTLSConn(l *Loop) *Conn {
	b := &tlsBox{c: Conn{loop: l}}
	return &b.c
}

// tlsc returns c's TLS state; nil on a plain server.
func (c *Conn) tlsc() *tlsConn {
	if !c.loop.tlsOn {
		return nil
	}
	return &(*tlsBox)(unsafe.Pointer(c)).t // c was allocated as a tlsBox
}

// tlsConn is a TLS connection's state.
type tlsConn struct {
	e        *tlsengine.Engine
	fed      int  // ciphertext fed before the handshake ended
	opened   bool // the handshake succeeded: the Handler has the Conn
	paused   bool // reading paused at MaxTLSHandshakeInput
	notified bool // close_notify queued
	released bool // the engine is closed
}

// configTLS checks Config.TLS and makes the server's handshake limiter.
func (s *Server) configTLS() error {
	c := &s.cfg
	if c.TLS == nil {
		return nil
	}
	if len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil {
		return errors.New("tserver: Config.TLS has no certificate (Certificates, GetCertificate or GetConfigForClient)")
	}
	if c.TLSMaxHandshakes > 0 {
		s.tlsLimiter = tlsengine.NewLimiter(c.TLSMaxHandshakes, max(c.TLSMaxQueuedHandshakes, 0))
	}
	return nil
}

// TLSState returns the TLS connection state (version, cipher suite, the
// negotiated ALPN protocol, the SNI server name, the client's
// certificates, whether the session was resumed) of a connection of a
// server with Config.TLS; ok is false on a plain server and once OnClose
// has returned.
func (c *Conn) TLSState() (state tls.ConnectionState, ok bool) {
	t := c.tlsc()
	if t == nil || !t.opened || t.released {
		return tls.ConnectionState{}, false
	}
	return t.e.ConnectionState(), true
}

// startTLS gives a new connection its engine; OnOpen waits for the
// handshake. initial is ciphertext already read from the connection
// (Server.Adopt's).
func (c *Conn) startTLS(initial []byte) {
	l := c.loop
	cfg := &l.srv.cfg
	t := c.tlsc()
	e, err := tlsengine.New(tlsengine.Config{
		TLS:              cfg.TLS,
		Server:           true,
		Notify:           func() { l.post(op{kind: opTLS, c: c}) },
		HandshakeTimeout: cfg.TLSHandshakeTimeout,
		Limiter:          l.srv.tlsLimiter,
		LocalAddr:        c.LocalAddr(),
		RemoteAddr:       c.RemoteAddr(),
	})
	if err == nil {
		t.e = e
		err = e.Start()
	}
	if err != nil {
		c.Abort(err)
		return
	}
	if len(initial) > 0 {
		l.stats.bytesIn.Add(uint64(len(initial)))
		c.feedHandshake(initial)
	}
}

// feedHandshake hands ciphertext read during the handshake to the
// engine: the handshake goroutine takes it from there (or the Limiter
// refuses it), its Notify brings the rest.
func (c *Conn) feedHandshake(p []byte) {
	t := c.tlsc()
	c.touch()
	t.fed += len(p)
	if err := t.e.Feed(p); err != nil {
		c.Abort(err)
	}
}

// readableTLS reads ciphertext once: during the handshake it goes to the
// handshake goroutine; after it, decrypt hands the plaintext to OnData.
func (c *Conn) readableTLS() {
	l := c.loop
	t := c.tlsc()
	if !t.opened && t.fed >= MaxTLSHandshakeInput {
		// Enough for any handshake: read no more until it ends.
		t.paused = true
		if c.outLen() > 0 {
			c.fde.SetFlags(tevent.FDWrite)
		} else {
			c.fde.SetFlags(0)
		}
		return
	}
	n, err := sockets.Read(int(c.fd), l.rbuf)
	if n <= 0 {
		switch err {
		case unix.EAGAIN, unix.EINTR:
		case nil: // the peer closed its side
			if !t.opened {
				// The handshake may still end well: the client's last
				// flight, its first records and its close_notify can all
				// be in before its FIN (TLS 1.3 clients send data right
				// after Finished). The engine ends the handshake with
				// io.EOF only if it needs bytes that will never come.
				// Reading pauses until then (the socket stays readable at
				// EOF); handshakeStep resumes it, and the EOF read again
				// is then fed to the records.
				t.e.FeedEOF()
				t.paused = true
				if c.outLen() > 0 {
					c.fde.SetFlags(tevent.FDWrite)
				} else {
					c.fde.SetFlags(0)
				}
				return
			}
			t.e.FeedEOF()
			c.decrypt() // ends with io.EOF (close_notify came) or ErrTLSTruncated
		default:
			c.Abort(c.opError("read", err))
		}
		return
	}
	l.stats.bytesIn.Add(uint64(n))
	if !t.opened {
		c.feedHandshake(l.rbuf[:n])
		return
	}
	t.e.Feed(l.rbuf[:n]) // copied: the read buffer is free again
	c.decrypt()
}

// handshakeStep runs on the loop after the engine's Notify: it sends the
// engine's flight (or alert) and acts on the handshake's end.
func (c *Conn) handshakeStep() {
	t := c.tlsc()
	if t == nil || t.opened || c.state != stOpen {
		return
	}
	done, err := t.e.Handshake()
	if c.flushEngine() != nil || !done {
		return
	}
	if err != nil {
		// The alert went out as far as the socket took it at once.
		c.Abort(err)
		return
	}
	l := c.loop
	t.opened = true
	l.stats.tlsHandshakes.Add(1)
	if t.paused {
		t.paused = false
		c.wantWrite() // read interest back (with write interest if output waits)
		if c.outLen() == 0 {
			c.fde.SetFlags(tevent.FDRead)
		}
	}
	l.onOpen(c)
	if c.state == stOpen {
		c.decrypt() // what came with the client's last flight is in the engine
	}
}

// decrypt reads the plaintext the engine holds and hands it to OnData,
// under the inbound limit, until the engine has no whole record; a final
// read result (the peer's close_notify, a truncation, garbage) closes
// the connection.
func (c *Conn) decrypt() {
	l := c.loop
	e := c.tlsc().e
	for c.state == stOpen {
		var data []byte
		var n int
		var err error
		if b := c.bufs; b == nil || len(b.in) == 0 {
			n, err = readPlain(e, l.rbuf)
			data = l.rbuf[:n]
		} else {
			in := b.in
			if len(in) >= l.maxIn {
				c.Abort(ErrInboundLimit)
				return
			}
			room := min(len(l.rbuf), l.maxIn-len(in))
			if cap(in)-len(in) < room {
				nb := make([]byte, len(in), len(in)+room+len(in)/2)
				copy(nb, in)
				in = nb
			}
			n, err = readPlain(e, in[len(in):len(in)+room])
			data = in[:len(in)+n]
			b.in = data
		}
		if n > 0 {
			c.deliver(data)
		}
		switch {
		case err == nil:
			continue // the buffer is full: more may wait
		case err == tlsengine.ErrWouldBlock || c.state != stOpen:
			return
		}
		c.readFailed(err)
		return
	}
}

// readPlain decrypts into p until it is full or the engine has nothing
// whole left (ErrWouldBlock) or fails.
func readPlain(e *tlsengine.Engine, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := e.Read(p[n:])
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// readFailed closes the connection after a final read result.
func (c *Conn) readFailed(err error) {
	switch {
	case err == io.EOF:
		// The peer's close_notify: answer it, flush, then OnClose(io.EOF).
		if c.queueCloseNotify() != nil {
			return
		}
		c.peerClosed()
	case errors.Is(err, tlsengine.ErrProtocol):
		if c.flushEngine() == nil { // the alert, best effort
			c.Abort(err)
		}
	default: // ErrTLSTruncated
		c.Abort(err)
	}
}

// queueCloseNotify sends close_notify once (after anything staged or
// pending).
func (c *Conn) queueCloseNotify() error {
	t := c.tlsc()
	if t.notified {
		return nil
	}
	t.notified = true
	if t.e.CloseWrite() != nil {
		return nil // the record layer failed already: nothing to say
	}
	return c.flushEngine()
}

// flushEngine sends the engine's pending ciphertext (a handshake flight,
// an alert, close_notify) through the output path.
func (c *Conn) flushEngine() error {
	e := c.tlsc().e
	if e.OutputLen() == 0 {
		return nil
	}
	l := c.loop
	l.tlsct = e.AppendOutput(l.tlsct[:0])
	err := c.output(l.tlsct)
	l.trimTLSScratch()
	return err
}

// trimTLSScratch drops the loop's ciphertext scratch buffer after a big
// write, as putBufs drops big connection buffers.
func (l *Loop) trimTLSScratch() {
	if cap(l.tlsct) > 4*len(l.rbuf) {
		l.tlsct = nil
	}
}

// tlsOverhead is a bound on the record overhead of n plaintext bytes:
// crypto/tls starts a connection with records of about 1 KiB (dynamic
// record sizing), each with a header, a tag and maybe padding.
func tlsOverhead(n int) int { return (n>>10 + 1) * 80 }

// writeTLS is Write on a TLS connection: the records of b are encrypted
// straight into where the plain path would copy b.
func (c *Conn) writeTLS(b []byte) (int, error) {
	t := c.tlsc()
	if !t.opened {
		return 0, ErrConnClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	l := c.loop
	est := len(b) + tlsOverhead(len(b))
	var err error
	switch {
	case l.cur == c && c.outLen() == 0 && len(l.stage)+est <= len(l.rbuf):
		// In OnData: staged, sent with one system call after it.
		l.stage, _, err = t.e.AppendWrite(l.stage, b)
	case c.outLen() > 0:
		// Output is waiting for the socket (nothing is staged then):
		// encrypt behind it, under the write limit.
		if c.outLen()+est > l.maxWrite {
			c.Abort(ErrWriteLimit)
			return 0, ErrWriteLimit
		}
		bf := c.bufs
		bf.out, _, err = t.e.AppendWrite(bf.out, b)
	default:
		l.tlsct, _, err = t.e.AppendWrite(l.tlsct[:0], b)
		if err == nil {
			err = c.output(l.tlsct)
			l.trimTLSScratch()
			if err != nil {
				return 0, err // closed by output
			}
		}
	}
	if err != nil {
		c.Abort(err)
		return 0, err
	}
	if !c.backlog && c.OutboundBuffered() >= l.highWater {
		c.backlog = true
	}
	return len(b), nil
}

// closeTLS is Close's TLS step: a connection still in its handshake is
// dropped (it was never opened); an open one queues close_notify. It
// reports whether Close goes on with the plain graceful close.
func (c *Conn) closeTLS() bool {
	if !c.tlsc().opened {
		c.Abort(nil)
		return false
	}
	if !c.shutWr && c.queueCloseNotify() != nil {
		return false // closed by the failed write
	}
	return true
}

// closeWriteTLS is CloseWrite's TLS step: close_notify before SHUT_WR.
func (c *Conn) closeWriteTLS() error {
	if !c.tlsc().opened {
		return ErrConnClosed
	}
	return c.queueCloseNotify()
}

// release closes the engine of a closed connection (after OnClose) and
// counts a connection that never completed its handshake.
func (t *tlsConn) release(c *Conn) {
	if t.released {
		return
	}
	t.released = true
	if t.e != nil {
		t.e.Close() // a handshake in progress ends; its goroutine exits
	}
	if !t.opened {
		c.loop.stats.tlsHandshakeErrors.Add(1)
	}
}
