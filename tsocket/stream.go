package tsocket

import (
	"io"
	"net"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

// NextVectorFunc is the next-vector callback of ReadvPDU
// (tstream_readv_pdu_send's next_vector_fn). It is called before the
// first read and each time the vectors it returned last are full; it
// returns the buffers to fill next, or none when the PDU is complete.
// Returning vectors that are all empty is an error (ErrInvalid): it
// would read nothing and never finish. An error it returns finishes the
// request with that error.
type NextVectorFunc func(st *Stream) ([][]byte, error)

// Stream is a byte stream socket on a loop (tstream_context): a TCP or
// unix stream socket, made by NewStream, Connect, Listener.Accept or
// StreamPair. At most one read request (Readv, ReadvPDU, ReadPDUBlob and
// their queued variants) and one write request (Writev, WritevQueue) are in
// flight at a time; starting a second fails with ErrBusy.
//
// A Stream is owned by the scope it was made on and freed with it (or by
// Free, or Disconnect); freeing it closes the socket and finishes its
// pending requests with net.ErrClosed. Like everything of its context it is
// used only from the goroutine that drives the loop.
type Stream struct {
	ev     *tevent.Context
	scope  *tevent.Scope
	fde    *tevent.FD
	fd     int
	netw   string
	closed bool

	// the read in flight
	rd    *tevent.Req[int]
	rvec  [][]byte
	ridx  int
	roff  int
	rn    int
	rnext NextVectorFunc
	rerr  error // sticky read error

	// the write in flight
	wr      *tevent.Req[int]
	wvec    [][]byte
	widx    int
	woff    int
	wn      int
	werr    error // sticky write error
	wnoErr  bool  // FDError showed a half-closed peer: wait for FDWrite only
	iov     [][]byte
	flags   tevent.FDFlags
	cancelR func(*tevent.Req[int]) bool
	cancelW func(*tevent.Req[int]) bool
	cleanR  func(*tevent.Req[int], tevent.ReqState)
	cleanW  func(*tevent.Req[int], tevent.ReqState)
}

// maxIOV bounds the vectors handed to one readv/writev (x/sys moves up to
// 8 without allocating).
const maxIOV = 8

// NewStream wraps an existing connected stream socket
// (tstream_bsd_existing_socket). The stream takes the descriptor over: it
// makes it non-blocking and close-on-exec and closes it when freed. A
// closed or negative fd fails with tevent.ErrBadFD, a descriptor that is
// not a stream socket with ErrNotSocket; the fd is then left alone.
//
// To hand a socket from Go's net package to the loop, duplicate it
// ((*net.TCPConn).File, then File.Fd and unix.Dup, or SyscallConn().Control
// with unix.Dup) and pass the duplicate; close the net.Conn and the File.
func NewStream(o tevent.Owner, fd int) (*Stream, error) {
	s := tevent.ScopeOf(o)
	if _, err := prepareFD(fd, unix.SOCK_STREAM); err != nil {
		return nil, err
	}
	return newStream(s, fd)
}

// newStream wraps a prepared non-blocking socket. On failure fd is not
// closed.
func newStream(s *tevent.Scope, fd int) (*Stream, error) {
	ss := s.NewScope()
	st := &Stream{ev: s.Context(), scope: ss, fd: fd, netw: sockets.NetName(sockets.Domain(fd), unix.SOCK_STREAM)}
	fde, err := ss.AddFD(fd, 0, st.handle)
	if err != nil {
		ss.Free()
		return nil, err
	}
	fde.SetAutoClose()
	st.fde = fde
	st.cancelR = st.cancelRead
	st.cancelW = st.cancelWrite
	st.cleanR = st.cleanupRead
	st.cleanW = st.cleanupWrite
	ss.OnFree(st.teardown)
	return st, nil
}

// StreamPair returns the two connected ends of a unix stream socket pair
// (socketpair(2)), both owned by s.
func StreamPair(o tevent.Owner) (*Stream, *Stream, error) {
	s := tevent.ScopeOf(o)
	fds, err := sockets.Socketpair(unix.SOCK_STREAM)
	if err != nil {
		return nil, nil, sockets.OpError("socketpair", "unix", -1, nil, nil, "socketpair", err)
	}
	a, err := newStream(s, fds[0])
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := newStream(s, fds[1])
	if err != nil {
		a.Free()
		unix.Close(fds[1])
		return nil, nil, err
	}
	return a, b, nil
}

// Fd returns the socket descriptor, or -1 once the stream is freed. The
// stream owns it: do not close it, and read or write it only while no
// request is in flight.
func (st *Stream) Fd() int {
	if st.closed {
		return -1
	}
	return st.fd
}

// LocalAddr returns the socket's own address (getsockname).
func (st *Stream) LocalAddr() (Address, error) {
	if st.closed {
		return Address{}, net.ErrClosed
	}
	sa, err := unix.Getsockname(st.fd)
	if err != nil {
		return Address{}, sockets.OpError("getsockname", st.netw, -1, nil, nil, "getsockname", err)
	}
	return fromSockaddr(sa)
}

// RemoteAddr returns the peer's address (getpeername).
func (st *Stream) RemoteAddr() (Address, error) {
	if st.closed {
		return Address{}, net.ErrClosed
	}
	sa, err := unix.Getpeername(st.fd)
	if err != nil {
		return Address{}, sockets.OpError("getpeername", st.netw, -1, nil, nil, "getpeername", err)
	}
	return fromSockaddr(sa)
}

// Pending returns how many bytes can be read now without waiting
// (tstream_pending_bytes, FIONREAD). It returns the stream's sticky read
// error, if any.
func (st *Stream) Pending() (int, error) {
	if st.closed {
		return 0, net.ErrClosed
	}
	if st.rerr != nil {
		return 0, st.rerr
	}
	n, err := sockets.Pending(st.fd)
	if err != nil {
		return 0, sockets.OpError("ioctl", st.netw, st.fd, nil, nil, "ioctl FIONREAD", err)
	}
	return n, nil
}

// Err returns the stream's sticky error: the first kernel error, ErrBroken,
// io.EOF once the peer finished sending, or net.ErrClosed once freed; nil
// while the stream is healthy.
func (st *Stream) Err() error {
	if st.closed {
		return net.ErrClosed
	}
	if st.rerr != nil {
		return st.rerr
	}
	return st.werr
}

// Free closes the socket and frees the stream. Requests in flight finish
// with net.ErrClosed (their callbacks run from inside Free). Idempotent.
func (st *Stream) Free() { st.scope.Free() }

// CloseWrite shuts down the sending side (shutdown(SHUT_WR)): the peer
// reads EOF, and reading here goes on. It fails with ErrBusy while a write
// is in flight.
func (st *Stream) CloseWrite() error {
	if st.closed {
		return net.ErrClosed
	}
	if st.wr != nil {
		return ErrBusy
	}
	if err := unix.Shutdown(st.fd, unix.SHUT_WR); err != nil {
		return sockets.OpError("shutdown", st.netw, st.fd, nil, nil, "shutdown", err)
	}
	return nil
}

// Disconnect closes the stream (tstream_disconnect_send) and frees it.
// It is refused with ErrBusy while a read or write is in flight, as in
// Samba: cancel or finish them first.
func (st *Stream) Disconnect(o tevent.Owner) *tevent.Req[struct{}] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[struct{}](s)
	switch {
	case st.closed:
		req.Error(net.ErrClosed)
	case st.rd != nil || st.wr != nil:
		req.Error(ErrBusy)
	default:
		st.Free()
		req.Done(struct{}{})
	}
	return req.Post(nil)
}

// Readv reads exactly enough bytes to fill vec, in order
// (tstream_readv_send), and finishes with the number of bytes read. It is
// tried at once; what is missing is read as it arrives. The vectors must
// not be touched until the request finishes. Reading zero bytes in all is
// ErrInvalid; a second read in flight is ErrBusy.
//
// End of stream finishes it with io.EOF if no byte of this request had
// arrived, io.ErrUnexpectedEOF otherwise. Cancel succeeds while no byte has
// arrived. If the request times out (SetEndtime), is cancelled or is freed
// after some bytes arrived, the stream's framing is lost and later reads
// fail with ErrBroken.
//
// Only the request itself is allocated: the stream keeps the read's state.
func (st *Stream) Readv(o tevent.Owner, vec ...[]byte) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[int](s)
	st.startRead(req, vec, nil)
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// ReadvPDU reads one PDU whose layout next discovers as it goes
// (tstream_readv_pdu_send): next is called for the first vectors, then
// each time they are full, until it returns none. The request finishes
// with the total number of bytes read. The rules of Readv apply.
func (st *Stream) ReadvPDU(o tevent.Owner, next NextVectorFunc) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	if next == nil {
		panic("tsocket: ReadvPDU called with a nil next-vector function")
	}
	req := tevent.NewReq[int](s)
	st.startRead(req, nil, next)
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// Writev writes all of vec, in order (tstream_writev_send), and finishes
// with the number of bytes written. It is tried at once; what does not fit
// the socket buffer is written as it drains. The vectors must not be
// touched until the request finishes. A second write in flight is ErrBusy.
// Cancel succeeds while no byte was written; a write that times out, is
// cancelled or freed half done makes later writes fail with ErrBroken.
// Writing nothing at all finishes at once with 0.
func (st *Stream) Writev(o tevent.Owner, vec ...[]byte) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[int](s)
	st.startWrite(req, vec)
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// startRead starts req reading vec (or the vectors next returns). It
// finishes req itself on any error.
func (st *Stream) startRead(req *tevent.Req[int], vec [][]byte, next NextVectorFunc) {
	switch {
	case next == nil && vecLen(vec) == 0:
		req.Error(invalid("read of zero bytes"))
		return
	case st.closed:
		req.Error(net.ErrClosed)
		return
	case st.rerr != nil:
		req.Error(st.rerr)
		return
	case st.rd != nil:
		req.Error(ErrBusy)
		return
	}
	if next != nil {
		v, err := next(st)
		if err != nil {
			req.Error(err)
			return
		}
		if len(v) == 0 {
			req.Done(0)
			return
		}
		vec = v
		if st.closed || st.rd != nil { // next freed the stream or started a read
			req.Error(net.ErrClosed)
			return
		}
	}
	if vecLen(vec) == 0 {
		req.Error(invalid("read of zero bytes"))
		return
	}
	st.rd, st.rvec, st.ridx, st.roff, st.rn, st.rnext = req, vec, 0, 0, 0, next
	req.SetCancelFn(st.cancelR)
	req.SetCleanupFn(st.cleanR)
	st.doRead()
	st.updateFlags()
}

// startWrite starts req writing vec. It finishes req itself on any error.
func (st *Stream) startWrite(req *tevent.Req[int], vec [][]byte) {
	switch {
	case st.closed:
		req.Error(net.ErrClosed)
		return
	case st.werr != nil:
		req.Error(st.werr)
		return
	case st.wr != nil:
		req.Error(ErrBusy)
		return
	}
	if vecLen(vec) == 0 {
		req.Done(0)
		return
	}
	st.wr, st.wvec, st.widx, st.woff, st.wn, st.wnoErr = req, vec, 0, 0, 0, false
	req.SetCancelFn(st.cancelW)
	req.SetCleanupFn(st.cleanW)
	st.doWrite()
	st.updateFlags()
}

func vecLen(vec [][]byte) int {
	n := 0
	for _, b := range vec {
		n += len(b)
	}
	return n
}

// buildIOV returns the unfilled part of vec from (idx, off), at most
// maxIOV non-empty vectors, in the stream's reused scratch slice.
func (st *Stream) buildIOV(vec [][]byte, idx, off int) [][]byte {
	iov := st.iov[:0]
	for i := idx; i < len(vec) && len(iov) < maxIOV; i++ {
		b := vec[i]
		if i == idx {
			b = b[off:]
		}
		if len(b) > 0 {
			iov = append(iov, b)
		}
	}
	st.iov = iov
	return iov
}

// advance moves (idx, off) n bytes on and reports whether vec is full.
func advance(vec [][]byte, idx, off *int, n int) bool {
	for *idx < len(vec) {
		room := len(vec[*idx]) - *off
		if n < room {
			*off += n
			return false
		}
		n -= room
		*idx++
		*off = 0
	}
	return true
}

// doRead reads what it can for the read in flight and finishes it when
// its vectors are full.
func (st *Stream) doRead() {
	req := st.rd
	for st.rd == req && req != nil {
		iov := st.buildIOV(st.rvec, st.ridx, st.roff)
		n, err := sockets.Readv(st.fd, iov)
		clear(st.iov[:len(iov)])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			st.fail(sockets.OpError("read", st.netw, st.fd, nil, nil, "readv", err))
			return
		case n == 0:
			st.rerr = io.EOF
			if st.rn == 0 {
				st.finishRead(io.EOF)
			} else {
				st.finishRead(io.ErrUnexpectedEOF)
			}
			return
		}
		st.rn += n
		if !advance(st.rvec, &st.ridx, &st.roff, n) {
			if n < vecLen(iov) {
				return // short read: wait for more
			}
			continue
		}
		if st.rnext == nil {
			st.finishRead(nil)
			return
		}
		v, err := st.rnext(st)
		if st.rd != req {
			return // the callback freed the stream
		}
		switch {
		case err != nil:
			st.finishRead(err)
			return
		case len(v) == 0:
			st.finishRead(nil)
			return
		case vecLen(v) == 0:
			st.finishRead(invalid("next-vector function returned only empty vectors"))
			return
		}
		st.rvec, st.ridx, st.roff = v, 0, 0
	}
}

// doWrite writes what it can for the write in flight and finishes it
// when everything is written. It reports whether the kernel said EAGAIN.
func (st *Stream) doWrite() bool {
	req := st.wr
	for st.wr == req && req != nil {
		iov := st.buildIOV(st.wvec, st.widx, st.woff)
		n, err := sockets.Writev(st.fd, iov)
		clear(st.iov[:len(iov)])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return true
		case err != nil:
			st.fail(sockets.OpError("write", st.netw, st.fd, nil, nil, "writev", err))
			return false
		}
		st.wn += n
		if advance(st.wvec, &st.widx, &st.woff, n) {
			st.finishWrite(nil)
			return false
		}
		if n < vecLen(iov) {
			return false // short write: wait until writable
		}
	}
	return false
}

func (st *Stream) finishRead(err error) {
	req, n := st.rd, st.rn
	st.rd, st.rvec, st.rnext = nil, nil, nil
	if err != nil {
		req.Error(err)
	} else {
		req.Done(n)
	}
}

func (st *Stream) finishWrite(err error) {
	req, n := st.wr, st.wn
	st.wr, st.wvec = nil, nil
	if err != nil {
		req.Error(err)
	} else {
		req.Done(n)
	}
}

// fail makes err the sticky error of both directions and finishes what is
// in flight with it.
func (st *Stream) fail(err error) {
	if st.rerr == nil || st.rerr == io.EOF {
		st.rerr = err
	}
	if st.werr == nil {
		st.werr = err
	}
	if st.rd != nil {
		st.finishRead(err)
	}
	if st.wr != nil && !st.closed {
		st.finishWrite(err)
	}
}

// handle is the stream's fd handler.
func (st *Stream) handle(_ *tevent.Context, _ *tevent.FD, flags tevent.FDFlags) {
	if st.wr != nil && flags&(tevent.FDWrite|tevent.FDError) != 0 {
		if st.doWrite() && flags&tevent.FDWrite == 0 {
			// FDError alone, and the socket is not writable: the peer shut
			// down its side but may still read. Stop asking for FDError
			// until this write finishes, or the loop would spin.
			st.wnoErr = true
		}
	}
	if st.rd != nil && !st.closed && flags&(tevent.FDRead|tevent.FDError) != 0 {
		st.doRead()
	}
	st.updateFlags()
}

// updateFlags asks the loop for what the requests in flight need.
func (st *Stream) updateFlags() {
	if st.closed {
		return
	}
	var f tevent.FDFlags
	if st.rd != nil {
		f |= tevent.FDRead
	}
	if st.wr != nil {
		f |= tevent.FDWrite
		if !st.wnoErr {
			f |= tevent.FDError
		}
	}
	if f != st.flags {
		st.flags = f
		st.fde.SetFlags(f)
	}
}

func (st *Stream) cancelRead(r *tevent.Req[int]) bool {
	if st.rd != r || st.rn > 0 {
		return false
	}
	st.rd, st.rvec, st.rnext = nil, nil, nil
	st.updateFlags()
	r.Error(tevent.ErrCancelled)
	return true
}

func (st *Stream) cancelWrite(r *tevent.Req[int]) bool {
	if st.wr != r || st.wn > 0 {
		return false
	}
	st.wr, st.wvec = nil, nil
	st.updateFlags()
	r.Error(tevent.ErrCancelled)
	return true
}

// cleanupRead sees a read leave without finishing through the stream: it
// timed out or was freed. Half done, it breaks the stream.
func (st *Stream) cleanupRead(r *tevent.Req[int], _ tevent.ReqState) {
	if st.rd != r {
		return
	}
	if st.rn > 0 && st.rerr == nil {
		st.rerr = ErrBroken
	}
	st.rd, st.rvec, st.rnext = nil, nil, nil
	st.updateFlags()
}

func (st *Stream) cleanupWrite(r *tevent.Req[int], _ tevent.ReqState) {
	if st.wr != r {
		return
	}
	if st.wn > 0 && st.werr == nil {
		st.werr = ErrBroken
	}
	st.wr, st.wvec = nil, nil
	st.updateFlags()
}

// teardown runs when the stream's scope is freed (the fd is closed by
// then): pending requests finish with net.ErrClosed.
func (st *Stream) teardown() {
	st.closed = true
	if st.rd != nil {
		st.finishRead(net.ErrClosed)
	}
	if st.wr != nil {
		st.finishWrite(net.ErrClosed)
	}
}
