package tserver

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

const (
	stOpen    uint8 = iota // reading and writing
	stClosing              // reading stopped: linger (or close) once output is flushed
	stLinger               // output flushed and SHUT_WR sent: input drained until EOF
	stClosed
)

// Conn is one connection of a Server. Its methods are for the loop that
// owns it (its callbacks, and timers or proxies on Loop().Context());
// other goroutines use Handle. A Conn belongs to one connection for life:
// it is never reused for another, so a Conn (or a ConnHandle) kept after
// OnClose stays closed, and its calls fail with ErrConnClosed.
//
// Kept small, in the allocator's 80-byte size class (TestConnSizeClass):
// an idle connection costs this, its fd event and a slot in the loop's
// tables (TestServerIdleHeapPerConn bounds the sum).
type Conn struct {
	loop         *Loop
	fde          *tevent.FD
	bufs         *connBufs // nil unless bytes are pending
	lprev, lnext *Conn     // the loop's list of open connections
	user         any
	last         int64       // last activity, ns since loop.base; lingering: when it ends
	done         atomic.Bool // closing or closed: handles refuse it
	fd           int32
	state        uint8
	eof          bool // closing because the peer closed: OnClose gets io.EOF
	shutWr       bool // CloseWrite asked for
	wrDone       bool // SHUT_WR done
	backlog      bool // output reached high water: OnWritable when it drains
	// On a TLS server a Conn is the first field of a tlsBox (tls.go),
	// which holds its TLS state: a plain Conn pays nothing for TLS.
	timed   bool // has a timer of its own (Loop.timers): a deadline or its own idle timeout
	ownIdle bool // SetIdleTimeout: the loop's idle sweep skips it
}

// connBufs holds a connection's pending bytes.
type connBufs struct {
	in     []byte // received, unconsumed
	out    []byte // out[outOff:] is not yet written
	outOff int
	// lingered counts the bytes dropped while lingering (kept here, not
	// in Conn: only a closing connection needs it).
	lingered int
}

// Write queues b to be sent; b is copied, so it may be reused at once. In
// the data callback of c the bytes are staged and go out with one system
// call after the callback returns; elsewhere they are written at once, as
// far as the socket takes them. What the socket does not take is kept,
// up to Config.MaxWriteBuffer unsent bytes.
//
// It returns len(b), or 0 and an error, in which case no byte of b is
// queued: ErrConnClosed on a closed or closing connection (or after
// CloseWrite); ErrWriteLimit when the unsent bytes would exceed
// MaxWriteBuffer; or the kernel's error (a *net.OpError, e.g. matching
// syscall.ECONNRESET) when the write itself failed. In the last two cases
// the connection is closed, and OnClose gets the same error: a stream
// with a hole in it is never sent. To stay under the limit, stop writing
// while Backlogged and resume in OnWritable (see WritableHandler).
func (c *Conn) Write(b []byte) (int, error) {
	if c.loop.ev.InLoopWait() {
		return 0, ErrNotOnLoop
	}
	if c.state != stOpen || c.shutWr {
		return 0, ErrConnClosed
	}
	l := c.loop
	if l.tlsOn { // TLS hook (tls.go): encrypt into the same output path
		return c.writeTLS(b)
	}
	if l.cur == c && c.outLen() == 0 && len(l.stage)+len(b) <= len(l.rbuf) {
		l.stage = append(l.stage, b...)
	} else if err := c.output(b); err != nil {
		return 0, err
	}
	if !c.backlog && c.OutboundBuffered() >= l.highWater {
		c.backlog = true
	}
	return len(b), nil
}

// Writev is Write for several buffers, sent together.
func (c *Conn) Writev(bufs ...[]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := c.Write(b)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Backlogged reports whether the connection's unsent output reached
// Config.WriteHighWater and has not yet drained to WriteLowWater since: a
// handler that produces output at its own pace stops writing while it is
// true and resumes when OnWritable is called.
func (c *Conn) Backlogged() bool { return c.backlog }

// Close closes the connection gracefully, as servers that keep their
// promises do: once its pending output is written, the sending side is
// shut down (the peer reads EOF after the last byte), and input is read
// and dropped until the peer closes too, for at most
// Config.LingerTimeout and Config.LingerMax bytes; then the descriptor is
// closed. Closing a socket with unread input would make the kernel reset
// the connection and throw away output the peer has not read yet.
// Reading stops at once (OnData is not called again) and writes fail
// with ErrConnClosed. OnClose gets nil (io.EOF when the peer had closed
// first, ErrLingerLimit when it went on sending past the limits).
// Idempotent.
func (c *Conn) Close() error {
	if c.loop.ev.InLoopWait() {
		return ErrNotOnLoop
	}
	if c.state != stOpen {
		return nil
	}
	if c.loop.tlsOn && !c.closeTLS() { // TLS hook (tls.go): close_notify first
		return nil
	}
	if c.flushStage() != nil {
		return nil // closed by the failed write
	}
	c.state = stClosing
	c.done.Store(true)
	c.eof = false
	if c.outLen() == 0 {
		c.linger()
		return nil
	}
	c.fde.SetFlags(tevent.FDWrite)
	return nil
}

// linger shuts the sending side down and drains input until the peer
// closes (or the linger limits), when everything was written.
func (c *Conn) linger() {
	l := c.loop
	if l.lingerFor <= 0 {
		c.Abort(nil)
		return
	}
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		c.Abort(c.opError("shutdown", err))
		return
	}
	l.all.remove(c)
	c.state = stLinger
	b := c.bufs
	if b == nil {
		b = l.getBufs()
		c.bufs = b
	}
	b.in = b.in[:0]
	b.lingered = 0
	c.fde.SetFlags(tevent.FDRead)
	c.last = l.clock() + int64(l.lingerFor) // lingering ends then
	l.lingering.pushBack(c)
	if l.lingerTimer == nil {
		l.lingerTimer = l.scope.AddTimer(l.base.Add(time.Duration(c.last)), l.lingerFn)
	}
}

// lingerRead drops what a lingering connection's peer still sends (a few
// reads a turn: dropping is cheap, and the peer's EOF comes after all of
// it); EOF ends the linger.
func (c *Conn) lingerRead() {
	l := c.loop
	for i := 0; i < 16; i++ {
		n, err := sockets.Read(int(c.fd), l.rbuf)
		switch {
		case n > 0:
			l.stats.bytesIn.Add(uint64(n))
			c.bufs.lingered += n
			if c.bufs.lingered > l.lingerMax {
				c.Abort(ErrLingerLimit)
				return
			}
			continue
		case err == nil:
			c.Abort(nil) // the peer closed: nothing unread is left
		case err == unix.EAGAIN || err == unix.EINTR:
		default:
			c.Abort(c.opError("read", err))
		}
		return
	}
}

// CloseWrite shuts the sending side down (shutdown(SHUT_WR)) once pending
// output is written; reading goes on until the peer closes.
func (c *Conn) CloseWrite() error {
	if c.loop.ev.InLoopWait() {
		return ErrNotOnLoop
	}
	if c.state != stOpen {
		return ErrConnClosed
	}
	if c.shutWr {
		return nil
	}
	if c.loop.tlsOn { // TLS hook (tls.go): close_notify before SHUT_WR
		if err := c.closeWriteTLS(); err != nil {
			return err
		}
	}
	c.shutWr = true
	if err := c.flushStage(); err != nil {
		return err
	}
	if c.outLen() == 0 {
		c.wrDone = true
		if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
			return c.opError("shutdown", err)
		}
	}
	return nil
}

// Abort closes the connection now, dropping unsent output; OnClose gets
// err (nil is allowed). Called from a goroutine other than the loop's
// while the loop waits, it panics with ErrNotOnLoop's text (it has no
// error to return).
func (c *Conn) Abort(err error) {
	if c.loop.ev.InLoopWait() {
		panic(ErrNotOnLoop.Error())
	}
	if c.state == stClosed {
		return
	}
	l := c.loop
	if c.state == stLinger {
		l.lingering.remove(c)
	} else {
		l.all.remove(c)
	}
	c.state = stClosed
	c.done.Store(true)
	fd := int(c.fd)
	if fd < len(l.byFD) && l.byFD[fd] == c {
		l.byFD[fd] = nil
	}
	c.fde.Free() // closes the descriptor
	c.fde = nil
	if b := c.bufs; b != nil {
		c.bufs = nil
		l.putBufs(b)
	}
	if l.cur == c {
		l.stage = l.stage[:0]
	}
	c.fd = -1
	c.backlog = false
	if c.timed {
		l.dropTimer(c)
	}
	l.nconns.Add(-1)
	// TLS hook (tls.go): a connection whose handshake did not succeed was
	// never given to the Handler (nor counted by close reason); the
	// engine is released after OnClose (TLSState still works there).
	if t := c.tlsc(); t == nil || t.opened {
		l.stats.countClose(err)
		l.onClose(c, err)
	}
	if t := c.tlsc(); t != nil {
		t.release(c)
	}
	c.user = nil
	l.maybeFinish()
}

// Handle returns a goroutine-safe handle to the connection. A handle
// taken from a closed or closing connection refuses every call with
// ErrConnClosed.
func (c *Conn) Handle() ConnHandle { return ConnHandle{c: c} }

// SetContext attaches a user value to the connection.
func (c *Conn) SetContext(v any) { c.user = v }

// Context returns the value given to SetContext (nil at first).
func (c *Conn) Context() any { return c.user }

// Loop returns the loop that owns the connection.
func (c *Conn) Loop() *Loop { return c.loop }

// Fd returns the connection's descriptor (-1 once closed).
func (c *Conn) Fd() int { return int(c.fd) }

// LocalAddr returns the local address (getsockname; nil on error).
func (c *Conn) LocalAddr() net.Addr { return c.sockAddr(false) }

// RemoteAddr returns the peer's address (getpeername; nil on error).
func (c *Conn) RemoteAddr() net.Addr { return c.sockAddr(true) }

// InboundBuffered returns how many received bytes are kept unconsumed.
func (c *Conn) InboundBuffered() int {
	if c.bufs == nil {
		return 0
	}
	return len(c.bufs.in)
}

// OutboundBuffered returns how many bytes wait to be written (in a data
// callback, those staged by it included).
func (c *Conn) OutboundBuffered() int {
	n := c.outLen()
	if c.loop.cur == c {
		n += len(c.loop.stage)
	}
	return n
}

// outLen is the output waiting for the socket to become writable.
func (c *Conn) outLen() int {
	if c.bufs == nil {
		return 0
	}
	return len(c.bufs.out) - c.bufs.outOff
}

func (c *Conn) touch() {
	l := c.loop
	if l.idle != 0 {
		c.last = l.clock()
		l.all.moveBack(c)
	} else if c.ownIdle {
		c.last = l.clock()
	}
}

// readable reads once and hands the bytes to OnData.
func (c *Conn) readable() {
	l := c.loop
	if l.tlsOn { // TLS hook (tls.go): ciphertext in, plaintext to deliver
		c.readableTLS()
		return
	}
	var data []byte
	b := c.bufs
	if b == nil || len(b.in) == 0 {
		n, err := sockets.Read(int(c.fd), l.rbuf)
		if !c.readDone(n, err) {
			return
		}
		l.stats.bytesIn.Add(uint64(n))
		data = l.rbuf[:n]
	} else {
		in := b.in
		if len(in) >= l.maxIn {
			c.Abort(ErrInboundLimit)
			return
		}
		room := len(l.rbuf)
		if room > l.maxIn-len(in) {
			room = l.maxIn - len(in)
		}
		if cap(in)-len(in) < room {
			nb := make([]byte, len(in), len(in)+room+len(in)/2)
			copy(nb, in)
			in = nb
		}
		n, err := sockets.Read(int(c.fd), in[len(in):len(in)+room])
		if !c.readDone(n, err) {
			return
		}
		l.stats.bytesIn.Add(uint64(n))
		data = in[:len(in)+n]
		b.in = data
	}
	c.deliver(data)
}

// deliver hands data (the loop's read buffer, or c.bufs.in) to OnData,
// keeps what it did not consume and sends what it staged.
func (c *Conn) deliver(data []byte) {
	l := c.loop
	c.touch()
	l.cur = c
	k := l.onData(c, data)
	l.cur = nil
	if c.state != stOpen {
		// Closed: its staged output is dropped; closing (Close in
		// OnData): Close sent the staged output, and input is done with.
		l.stage = l.stage[:0]
		return
	}
	if k < 0 || k > len(data) {
		c.Abort(fmt.Errorf("%w: OnData returned %d, outside [0, %d]", ErrHandler, k, len(data)))
		return
	}
	rest := len(data) - k
	b := c.bufs
	if b != nil && len(b.in) > 0 {
		// data was our own buffer.
		n := copy(b.in, data[k:])
		b.in = b.in[:n]
	} else if rest > 0 {
		if b == nil {
			b = l.getBufs()
			c.bufs = b
		}
		b.in = append(b.in[:0], data[k:]...)
	}
	if len(l.stage) > 0 {
		st := l.stage
		l.stage = st[:0]
		if c.output(st) != nil {
			return
		}
	}
	if c.backlog && c.outLen() <= l.lowWater {
		if c.writable(); c.state == stClosed {
			return
		}
	}
	if rest > 0 && rest >= l.maxIn {
		c.Abort(ErrInboundLimit)
		return
	}
	c.dropBufs()
}

// readDone handles a read's result; true when n > 0 bytes arrived.
func (c *Conn) readDone(n int, err error) bool {
	if n > 0 {
		return true
	}
	switch err {
	case nil:
		c.peerClosed()
	case unix.EAGAIN, unix.EINTR:
	default:
		c.Abort(c.opError("read", err))
	}
	return false
}

// peerClosed: EOF. Output still pending is flushed first.
func (c *Conn) peerClosed() {
	if c.outLen() == 0 {
		c.Abort(io.EOF)
		return
	}
	c.state = stClosing
	c.done.Store(true)
	c.eof = true
	c.fde.SetFlags(tevent.FDWrite)
}

// dropBufs gives the buffers back when nothing is pending.
func (c *Conn) dropBufs() {
	if b := c.bufs; b != nil && len(b.in) == 0 && len(b.out) == b.outOff {
		c.bufs = nil
		c.loop.putBufs(b)
	}
}

// flushStage sends what the running data callback of c staged.
func (c *Conn) flushStage() error {
	l := c.loop
	if l.cur != c || len(l.stage) == 0 {
		return nil
	}
	st := l.stage
	l.stage = st[:0]
	return c.output(st)
}

// output is the one way out to the socket: p goes after what is staged
// and pending; what the socket does not take now is kept, under the
// write limit, and write interest turned on. On failure the connection is
// closed with the error, which is returned.
func (c *Conn) output(p []byte) error {
	if err := c.flushStage(); err != nil {
		return err
	}
	l := c.loop
	if c.outLen() == 0 {
		n, err := writeFD(c.fd, p)
		if err != nil {
			err = c.opError("write", err)
			c.Abort(err)
			return err
		}
		if n > 0 {
			l.stats.bytesOut.Add(uint64(n))
			c.touch()
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
	if c.outLen()+len(p) > l.maxWrite {
		c.Abort(ErrWriteLimit)
		return ErrWriteLimit
	}
	b := c.bufs
	if b == nil {
		b = l.getBufs()
		c.bufs = b
	}
	if len(b.out) == b.outOff {
		b.out, b.outOff = b.out[:0], 0
		c.wantWrite()
	}
	b.out = append(b.out, p...)
	return nil
}

// writeFD writes p once (EINTR retried); a full socket is 0 bytes, no error.
func writeFD(fd int32, p []byte) (int, error) {
	for {
		n, err := sockets.Write(int(fd), p)
		switch err {
		case nil:
			return n, nil
		case unix.EAGAIN:
			return 0, nil
		case unix.EINTR:
			continue
		}
		return 0, err
	}
}

func (c *Conn) wantWrite() {
	fl := tevent.FDWrite
	if c.state == stOpen {
		fl |= tevent.FDRead
	}
	c.fde.SetFlags(fl)
}

// flushOut writes pending output when the socket is writable.
func (c *Conn) flushOut() {
	b := c.bufs
	if b != nil && len(b.out) > b.outOff {
		n, err := writeFD(c.fd, b.out[b.outOff:])
		if err != nil {
			c.Abort(c.opError("write", err))
			return
		}
		if n > 0 {
			c.loop.stats.bytesOut.Add(uint64(n))
			c.touch()
			b.outOff += n
		}
		if left := len(b.out) - b.outOff; left > 0 {
			if b.outOff >= left {
				// Most is written: move the rest to the front.
				b.out = b.out[:copy(b.out, b.out[b.outOff:])]
				b.outOff = 0
			}
			if c.backlog && left <= c.loop.lowWater {
				c.writable()
			}
			return
		}
		b.out, b.outOff = b.out[:0], 0
	}
	c.flushed()
}

// flushed: output drained.
func (c *Conn) flushed() {
	switch {
	case c.state == stClosing:
		if c.eof {
			c.Abort(io.EOF) // the peer closed first: nothing to drain
		} else {
			c.linger()
		}
		return
	case c.shutWr && !c.wrDone:
		c.wrDone = true
		unix.Shutdown(int(c.fd), unix.SHUT_WR)
	}
	if c.state == stOpen {
		c.fde.SetFlags(tevent.FDRead)
	}
	if c.backlog {
		if c.writable(); c.state == stClosed {
			return
		}
	}
	c.dropBufs()
}

// writable: the output drained to low water after a backlog; tell the
// handler.
func (c *Conn) writable() {
	c.backlog = false
	if l := c.loop; l.wh != nil && c.state == stOpen && !c.shutWr {
		l.onWritable(c)
	}
}

func (c *Conn) sockAddr(peer bool) net.Addr {
	if c.fd < 0 {
		return nil
	}
	var sa unix.Sockaddr
	var err error
	if peer {
		sa, err = unix.Getpeername(int(c.fd))
	} else {
		sa, err = unix.Getsockname(int(c.fd))
	}
	if err != nil {
		return nil
	}
	return sockets.NetAddr(sa)
}

// opError is the close reason of a connection whose system call op
// failed with errno (while its descriptor is still open).
func (c *Conn) opError(op string, errno error) error {
	fd := int(c.fd) // -1 once closed: no addresses then
	return sockets.OpError(op, sockets.NetName(sockets.Domain(fd), unix.SOCK_STREAM), fd, nil, nil, op, errno)
}
