package tserver

import (
	"io"
	"net"
	"sync/atomic"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

const (
	stOpen    uint8 = iota // reading and writing
	stClosing              // reading stopped: close once output is flushed
	stClosed
)

// Conn is one connection of a Server. Its methods are for the loop that
// owns it (its callbacks, and timers or proxies on Loop().Context());
// other goroutines use Handle. A Conn belongs to one connection for life:
// it is never reused for another, so a Conn (or a ConnHandle) kept after
// OnClose stays closed, and its calls fail with ErrConnClosed.
//
// Kept small: an idle connection costs this, its fd event and a slot in
// the loop's tables.
type Conn struct {
	loop         *Loop
	fde          *tevent.FD
	bufs         *connBufs // nil unless bytes are pending
	lprev, lnext *Conn     // the loop's list of open connections
	user         any
	last         int64       // last activity, ns since loop.base
	done         atomic.Bool // closing or closed: handles refuse it
	fd           int32
	state        uint8
	eof          bool // closing because the peer closed: OnClose gets io.EOF
	shutWr       bool // CloseWrite asked for
	wrDone       bool // SHUT_WR done
}

// connBufs holds a connection's pending bytes.
type connBufs struct {
	in  []byte // received, unconsumed
	out []byte // not yet written
}

// Write queues b to be sent; b is copied, so it may be reused at once. In
// the data callback of c the bytes go out with one system call after the
// callback returns; elsewhere they are written at once. It returns
// len(b), or ErrConnClosed on a closed or closing connection, or
// ErrWriteLimit when the unsent bytes would exceed the write-buffer limit
// (the connection is then closed with that error).
func (c *Conn) Write(b []byte) (int, error) {
	if c.state != stOpen || c.shutWr {
		return 0, ErrConnClosed
	}
	l := c.loop
	if l.cur == c && c.outLen() == 0 {
		if len(l.stage)+len(b) > l.maxWrite && len(l.stage) > 0 {
			st := l.stage
			l.stage = st[:0]
			c.send(st)
			if c.state != stOpen {
				return 0, c.writeErr()
			}
			if c.outLen() != 0 {
				return c.queue(b)
			}
		}
		l.stage = append(l.stage, b...)
		return len(b), nil
	}
	if c.outLen() != 0 {
		return c.queue(b)
	}
	c.send(b)
	if c.state == stClosed {
		return 0, c.writeErr()
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

// Close closes the connection once its pending output is written (reading
// stops at once); OnClose then gets nil. Idempotent.
func (c *Conn) Close() error {
	if c.state != stOpen {
		return nil
	}
	if c.outLen() == 0 && !(c.loop.cur == c && len(c.loop.stage) > 0) {
		c.Abort(nil)
		return nil
	}
	if c.loop.cur == c && len(c.loop.stage) > 0 {
		st := c.loop.stage
		c.loop.stage = st[:0]
		c.send(st)
		if c.state == stClosed {
			return nil
		}
		if c.outLen() == 0 {
			c.Abort(nil)
			return nil
		}
	}
	c.state = stClosing
	c.eof = false
	c.fde.SetFlags(tevent.FDWrite)
	return nil
}

// CloseWrite shuts the sending side down (shutdown(SHUT_WR)) once pending
// output is written; reading goes on until the peer closes.
func (c *Conn) CloseWrite() error {
	if c.state != stOpen {
		return ErrConnClosed
	}
	if c.shutWr {
		return nil
	}
	c.shutWr = true
	l := c.loop
	if l.cur == c && len(l.stage) > 0 {
		st := l.stage
		l.stage = st[:0]
		c.send(st)
		if c.state == stClosed {
			return nil
		}
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
// err (nil is allowed).
func (c *Conn) Abort(err error) {
	if c.state == stClosed {
		return
	}
	l := c.loop
	c.state = stClosed
	c.done.Store(true)
	l.all.remove(c)
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
	l.nconns.Add(-1)
	l.lastErr = err
	l.h.OnClose(c, err)
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
	return len(c.bufs.out)
}

func (c *Conn) touch() {
	l := c.loop
	if l.idle != 0 {
		c.last = l.clock()
		l.all.moveBack(c)
	}
}

// readable reads once and hands the bytes to OnData.
func (c *Conn) readable() {
	l := c.loop
	var data []byte
	b := c.bufs
	if b == nil || len(b.in) == 0 {
		n, err := sockets.Read(int(c.fd), l.rbuf)
		if !c.readDone(n, err) {
			return
		}
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
		data = in[:len(in)+n]
		b.in = data
	}
	c.touch()
	l.cur = c
	k := l.h.OnData(c, data)
	l.cur = nil
	if c.state == stClosed {
		l.stage = l.stage[:0]
		return
	}
	if k < 0 || k > len(data) {
		panic("tserver: OnData returned a count outside [0, len(in)]")
	}
	rest := len(data) - k
	b = c.bufs
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
		c.send(st)
		if c.state == stClosed {
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
	if b := c.bufs; b != nil && len(b.in) == 0 && len(b.out) == 0 {
		c.bufs = nil
		c.loop.putBufs(b)
	}
}

func (c *Conn) writeErr() error {
	if c.loop.lastErr == ErrWriteLimit {
		return ErrWriteLimit
	}
	return ErrConnClosed
}

// queue appends p to pending output, under the write limit.
func (c *Conn) queue(p []byte) (int, error) {
	b := c.bufs
	if len(b.out)+len(p) > c.loop.maxWrite {
		c.Abort(ErrWriteLimit)
		return 0, ErrWriteLimit
	}
	b.out = append(b.out, p...)
	return len(p), nil
}

// send writes p now (nothing is pending); the rest is kept and write
// interest turned on.
func (c *Conn) send(p []byte) {
	n, err := sockets.Write(int(c.fd), p)
	for err == unix.EINTR {
		n, err = sockets.Write(int(c.fd), p)
	}
	if err != nil && err != unix.EAGAIN {
		c.Abort(c.opError("write", err))
		return
	}
	if n < 0 {
		n = 0
	}
	if n > 0 {
		c.touch()
	}
	if n == len(p) {
		return
	}
	rest := p[n:]
	if len(rest) > c.loop.maxWrite {
		c.Abort(ErrWriteLimit)
		return
	}
	b := c.bufs
	if b == nil {
		b = c.loop.getBufs()
		c.bufs = b
	}
	b.out = append(b.out[:0], rest...)
	c.wantWrite()
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
	if b == nil || len(b.out) == 0 {
		c.flushed()
		return
	}
	n, err := sockets.Write(int(c.fd), b.out)
	if err != nil && err != unix.EAGAIN && err != unix.EINTR {
		c.Abort(c.opError("write", err))
		return
	}
	if n > 0 {
		c.touch()
		m := copy(b.out, b.out[n:])
		b.out = b.out[:m]
	}
	if len(b.out) == 0 {
		c.flushed()
	}
}

// flushed: output drained.
func (c *Conn) flushed() {
	switch {
	case c.state == stClosing:
		if c.eof {
			c.Abort(io.EOF)
		} else {
			c.Abort(nil)
		}
		return
	case c.shutWr && !c.wrDone:
		c.wrDone = true
		unix.Shutdown(int(c.fd), unix.SHUT_WR)
	}
	if c.state == stOpen {
		c.fde.SetFlags(tevent.FDRead)
	}
	c.dropBufs()
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
