package tsocket

import (
	"io"
	"net"
	"os"
	"sync/atomic"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

const (
	stFree    uint8 = iota
	stOpen          // reading and writing
	stClosing       // reading stopped: close once output is flushed
	stClosed
)

// connFields is the state of a Conn. Kept small: an idle connection costs
// this, its fd event and a slot in the loop's tables.
type connFields struct {
	loop         *Loop
	fde          *tevent.FD
	bufs         *connBufs // nil unless bytes are pending
	lprev, lnext *Conn     // the loop's activity list (lnext: free list when free)
	user         any
	last         int64 // last activity, ns since loop.base
	gen          atomic.Uint32
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

func (c *Conn) inLen() int {
	if c.bufs == nil {
		return 0
	}
	return len(c.bufs.in)
}

// outLen is the output waiting for the socket to become writable.
func (c *Conn) outLen() int {
	if c.bufs == nil {
		return 0
	}
	return len(c.bufs.out)
}

// outBuffered also counts output staged in the current data callback.
func (c *Conn) outBuffered() int {
	n := c.outLen()
	if c.loop.cur == c {
		n += len(c.loop.stage)
	}
	return n
}

func (c *Conn) touch() {
	l := c.loop
	if l.idle != 0 {
		c.last = l.clock()
		l.all.moveBack(c)
	}
}

func opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}
}

// readable reads once and hands the bytes to OnData.
func (c *Conn) readable() {
	l := c.loop
	var data []byte
	b := c.bufs
	if b == nil || len(b.in) == 0 {
		n, err := sysRead(int(c.fd), l.rbuf)
		if !c.readDone(n, err) {
			return
		}
		data = l.rbuf[:n]
	} else {
		in := b.in
		if len(in) >= l.maxIn {
			c.abort(ErrInboundLimit)
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
		n, err := sysRead(int(c.fd), in[len(in):len(in)+room])
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
		c.state = stFree
		l.putConn(c)
		return
	}
	if k < 0 || k > len(data) {
		panic("tsocket: OnData returned a count outside [0, len(in)]")
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
		c.abort(ErrInboundLimit)
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
		c.abort(opErr("read", err))
	}
	return false
}

// peerClosed: EOF. Output still pending is flushed first.
func (c *Conn) peerClosed() {
	if c.outLen() == 0 {
		c.abort(io.EOF)
		return
	}
	c.state = stClosing
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

func (c *Conn) write(p []byte) (int, error) {
	if c.state != stOpen || c.shutWr {
		return 0, ErrConnClosed
	}
	l := c.loop
	if l.cur == c && c.outLen() == 0 {
		if len(l.stage)+len(p) > l.maxWrite && len(l.stage) > 0 {
			st := l.stage
			l.stage = st[:0]
			c.send(st)
			if c.state != stOpen {
				return 0, c.writeErr()
			}
			if c.outLen() != 0 {
				return c.queue(p)
			}
		}
		l.stage = append(l.stage, p...)
		return len(p), nil
	}
	if c.outLen() != 0 {
		return c.queue(p)
	}
	c.send(p)
	if c.state == stClosed {
		return 0, c.writeErr()
	}
	return len(p), nil
}

func (c *Conn) writeErr() error {
	if c.loop.lastErr == ErrWriteLimit {
		return ErrWriteLimit
	}
	return ErrConnClosed
}

func (c *Conn) writev(bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := c.write(b)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// queue appends p to pending output, under the write limit.
func (c *Conn) queue(p []byte) (int, error) {
	b := c.bufs
	if len(b.out)+len(p) > c.loop.maxWrite {
		c.abort(ErrWriteLimit)
		return 0, ErrWriteLimit
	}
	b.out = append(b.out, p...)
	return len(p), nil
}

// send writes p now (nothing is pending); the rest is kept and write
// interest turned on.
func (c *Conn) send(p []byte) {
	n, err := sysWrite(int(c.fd), p)
	for err == unix.EINTR {
		n, err = sysWrite(int(c.fd), p)
	}
	if err != nil && err != unix.EAGAIN {
		c.abort(opErr("write", err))
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
		c.abort(ErrWriteLimit)
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
	n, err := sysWrite(int(c.fd), b.out)
	if err != nil && err != unix.EAGAIN && err != unix.EINTR {
		c.abort(opErr("write", err))
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
			c.abort(io.EOF)
		} else {
			c.abort(nil)
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

func (c *Conn) closeGraceful() error {
	if c.state != stOpen {
		return nil
	}
	if c.outLen() == 0 && !(c.loop.cur == c && len(c.loop.stage) > 0) {
		c.abort(nil)
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
			c.abort(nil)
			return nil
		}
	}
	c.state = stClosing
	c.eof = false
	c.fde.SetFlags(tevent.FDWrite)
	return nil
}

func (c *Conn) closeWrite() error {
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
			return opErr("shutdown", err)
		}
	}
	return nil
}

// abort closes the connection now and calls OnClose with err.
func (c *Conn) abort(err error) {
	if c.state == stClosed || c.state == stFree {
		return
	}
	l := c.loop
	c.state = stClosed
	c.gen.Add(1)
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
	l.nconns.Add(-1)
	l.h.OnClose(c, err)
	c.fd = -1
	c.user = nil
	c.eof, c.shutWr, c.wrDone = false, false, false
	l.lastErr = err
	if l.cur != c {
		c.state = stFree
		l.putConn(c)
	} else {
		// Recycled once OnData returns (readable sees stClosed).
	}
	l.maybeFinish()
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
	return sockaddrToAddr(sa)
}

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrInet6:
		ad := &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ad.Zone = ifi.Name
			}
		}
		return ad
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

func (h ConnHandle) post(k opKind, b []byte, fn func(*Conn)) error {
	c := h.c
	if c == nil || c.gen.Load() != h.gen {
		return ErrConnClosed
	}
	if k == opDo && fn == nil {
		panic("tsocket: ConnHandle.Do called with a nil function")
	}
	var cp []byte
	if len(b) > 0 {
		cp = append([]byte(nil), b...)
	}
	if err := c.loop.post(op{kind: k, c: c, gen: h.gen, b: cp, fn: fn}); err != nil {
		return ErrConnClosed
	}
	return nil
}
