package tsocket

import (
	"io"
	"net"
	"syscall"

	"github.com/gotevent/tevent"
)

// DefaultMemoryBuffer is the buffer of each direction of a MemoryPair: a
// writer that gets that far ahead of its reader waits, as on a socket.
const DefaultMemoryBuffer = 64 << 10

// MemoryPair returns two Streams connected in memory, both owned by o:
// what one writes the other reads, through a bounded buffer of
// DefaultMemoryBuffer bytes in each direction. It behaves as a socket
// pair does (EOF after CloseWrite or Free of the peer, EPIPE writing to a
// freed peer) without a descriptor or a system call: for tests of code
// written against *Stream, and as an example of a StreamOps
// implementation.
func MemoryPair(o tevent.Owner) (*Stream, *Stream, error) {
	return MemoryPairSize(o, DefaultMemoryBuffer)
}

// MemoryPairSize is MemoryPair with a buffer of size bytes (at least 1)
// in each direction.
func MemoryPairSize(o tevent.Owner, size int) (*Stream, *Stream, error) {
	s := tevent.ScopeOf(o)
	if err := s.Context().CheckOnLoop("tsocket.MemoryPair"); err != nil {
		return nil, nil, err
	}
	if size < 1 {
		return nil, nil, invalid("memory pair buffer of %d bytes", size)
	}
	if s.Freed() {
		return nil, nil, tevent.ErrFreed
	}
	ab, ba := &memPipe{buf: make([]byte, size)}, &memPipe{buf: make([]byte, size)}
	x := newMemOps(s, ba, ab)
	y := newMemOps(s, ab, ba)
	x.peer, y.peer = y, x
	return newStreamOn(s, x), newStreamOn(s, y), nil
}

// memPipe is one direction of a memory pair: a ring buffer.
type memPipe struct {
	buf     []byte
	r, n    int  // read position, bytes held
	wclosed bool // the writer shut down or went away: EOF once drained
	rclosed bool // the reader went away: writes fail with EPIPE
}

func (p *memPipe) write(iov [][]byte) int {
	total := 0
	for _, b := range iov {
		for len(b) > 0 && p.n < len(p.buf) {
			w := (p.r + p.n) % len(p.buf)
			end := len(p.buf)
			if w < p.r {
				end = p.r
			}
			k := copy(p.buf[w:end], b)
			p.n += k
			b = b[k:]
			total += k
		}
		if p.n == len(p.buf) {
			break
		}
	}
	return total
}

func (p *memPipe) read(iov [][]byte) int {
	total := 0
	for _, b := range iov {
		for len(b) > 0 && p.n > 0 {
			end := min(p.r+p.n, len(p.buf))
			k := copy(b, p.buf[p.r:end])
			p.r = (p.r + k) % len(p.buf)
			p.n -= k
			b = b[k:]
			total += k
		}
		if p.n == 0 {
			break
		}
	}
	if p.n == 0 {
		p.r = 0
	}
	return total
}

// memOps is the memory implementation of StreamOps. Readiness goes to the
// layer above through an Immediate, never from inside a call of the peer.
type memOps struct {
	scope *tevent.Scope
	im    *tevent.Immediate
	fire  tevent.ImmediateHandler
	in    *memPipe
	out   *memPipe
	peer  *memOps
	n     StreamNotifier

	wantR, wantW, watch bool
	pendR, pendW        bool
	closed              bool
}

func newMemOps(s *tevent.Scope, in, out *memPipe) *memOps {
	o := &memOps{scope: s.NewScope(), in: in, out: out}
	o.im = o.scope.NewImmediate()
	o.fire = o.deliver
	o.scope.OnFree(func() { o.Close() })
	return o
}

// kick schedules a readiness report.
func (o *memOps) kick(r, w bool) {
	if o.closed {
		return
	}
	o.pendR = o.pendR || r
	o.pendW = o.pendW || w
	if !o.im.Scheduled() {
		o.im.Schedule(o.fire)
	}
}

func (o *memOps) deliver(*tevent.Context, *tevent.Immediate) {
	r, w := o.pendR && o.wantR, o.pendW && o.wantW
	o.pendR, o.pendW = false, false
	if o.watch && o.in.wclosed && o.in.n == 0 && !o.wantR && !o.wantW {
		o.watch = false
		o.n.Failed(io.EOF)
		return
	}
	if (r || w) && o.n != nil {
		o.n.Ready(r, w)
	}
}

func (o *memOps) Attach(n StreamNotifier) { o.n = n }

func (o *memOps) Readv(iov [][]byte) (int, error) {
	if o.closed {
		return 0, net.ErrClosed
	}
	if o.in.n == 0 {
		if o.in.wclosed {
			return 0, io.EOF
		}
		return 0, ErrWouldBlock
	}
	k := o.in.read(iov)
	if o.peer != nil {
		o.peer.kick(false, true)
	}
	return k, nil
}

func (o *memOps) Writev(iov [][]byte) (int, error) {
	switch {
	case o.closed:
		return 0, net.ErrClosed
	case o.out.wclosed:
		return 0, &net.OpError{Op: "write", Net: "memory", Err: syscall.EPIPE}
	case o.out.rclosed:
		return 0, &net.OpError{Op: "write", Net: "memory", Err: syscall.EPIPE}
	case o.out.n == len(o.out.buf):
		return 0, ErrWouldBlock
	}
	k := o.out.write(iov)
	if o.peer != nil {
		o.peer.kick(true, false)
	}
	return k, nil
}

func (o *memOps) Wait(read, write bool) {
	o.wantR, o.wantW = read, write
	// Level-triggered: a condition that already holds is reported.
	r := read && (o.in.n > 0 || o.in.wclosed)
	w := write && (o.out.n < len(o.out.buf) || o.out.rclosed)
	if r || w {
		o.kick(r, w)
	}
}

func (o *memOps) WatchErrors(on bool) {
	o.watch = on
	if on && o.in.wclosed {
		o.kick(false, false)
	}
}

func (o *memOps) Pending() (int, error) {
	switch {
	case o.closed:
		return 0, net.ErrClosed
	case o.in.n > 0:
		return o.in.n, nil
	case o.in.wclosed:
		return 0, io.EOF
	}
	return 0, nil
}

func (o *memOps) CloseWrite() error {
	if o.closed {
		return net.ErrClosed
	}
	o.out.wclosed = true
	if o.peer != nil {
		o.peer.kick(true, false)
	}
	return nil
}

func (o *memOps) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	o.out.wclosed = true
	o.in.rclosed = true
	if p := o.peer; p != nil {
		p.peer = nil
		o.peer = nil
		p.kick(true, true)
	}
	o.scope.Free()
	return nil
}
