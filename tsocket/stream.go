package tsocket

// The stream seam (Samba's tstream_context over tstream_context_ops).
//
// A *Stream is the generic layer every caller holds; what moves the bytes
// is a StreamOps implementation under it: the socket stream (NewStream,
// StreamPair, Connect, Accept), the in-memory pair (MemoryPair), or one
// written elsewhere and wrapped with NewCustomStream (TLS over another
// stream's ops, taken with TakeOps). The generic layer implements, once
// for all of them: one read and one write in flight (ErrBusy), exact
// filling of vectors, the PDU next-vector loop, Cancel while no byte
// moved, ErrBroken after a request abandoned half done, sticky errors,
// Disconnect refused while I/O is pending, io.EOF before the first byte
// of a request and io.ErrUnexpectedEOF after, and net.ErrClosed for what
// is pending when the stream is freed.
//
// The contract between the two layers, like the runtime's netpoll
// contract, is small and non-blocking:
//
//	Attach(n StreamNotifier)
//		Called once by NewCustomStream (and again by whoever takes the
//		ops over with TakeOps), before any other method: n is where
//		readiness is reported from then on.
//	Readv(iov [][]byte) (int, error)
//		Reads what is available now into iov, in order, without
//		waiting: n > 0 bytes, or (0, io.EOF) at end of stream, or
//		(0, ErrWouldBlock) when nothing is available, or (0, err) for a
//		failure, which the generic layer makes sticky. iov holds at most
//		8 non-empty vectors and is not kept after the call.
//	Writev(iov [][]byte) (int, error)
//		Writes what fits now: n > 0, or (0, ErrWouldBlock), or (0, err).
//	Wait(read, write bool)
//		Sets the standing interest. While read (write) is set, the
//		implementation calls n.Ready(true, false) (n.Ready(false, true))
//		when the stream may have become readable (writable), from an
//		event handler of the stream's loop, never from inside one of
//		these methods. A spurious call is harmless: Readv then says
//		ErrWouldBlock and the generic layer waits again. Wait(false,
//		false) stops the calls. Wait is called only when the interest
//		changes.
//	Pending() (int, error)
//		How many bytes Readv would return now; (0, io.EOF) at end of
//		stream, (0, err) after a failure.
//	CloseWrite() error
//		Shuts down the sending side; called with no write in flight.
//	Close() error
//		Releases everything, once, when the stream is freed (not after
//		TakeOps: the taker closes them).
//
// After a short Readv or Writev (fewer bytes than asked) the generic layer
// calls again at once, until ErrWouldBlock, unless the implementation
// declares ShortIODrains (the socket does: a short count means the kernel
// had no more, and asking again would cost a system call that fails).
//
// Optional capabilities, small interfaces checked once at creation:
// FDStreamOps (a descriptor and addresses: Fd, LocalAddr, RemoteAddr),
// ShortIODrains, ErrorWatcher (Monitor learns of a failure with no read
// or write in flight) and ReadvFirstErrorOps (FailReadvFirstError).
//
// Every call into the implementation and every readiness report happens
// on the goroutine that drives the stream's loop. The generic layer
// allocates nothing per request beyond the request itself.

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/gotevent/tevent"
)

// ErrWouldBlock is what a StreamOps implementation's Readv or Writev
// returns when it can move no byte without waiting (EAGAIN). It never
// reaches a request.
var ErrWouldBlock = errors.New("tsocket: operation would block")

// StreamOps is an implementation of a byte stream under a *Stream
// (Samba's tstream_context_ops), driven non-blocking by readiness: the
// contract is at the top of stream.go. Wrap one with NewCustomStream.
type StreamOps interface {
	// Attach sets where readiness is reported; see the contract.
	Attach(n StreamNotifier)
	// Readv reads what is available now (ErrWouldBlock if nothing).
	Readv(iov [][]byte) (int, error)
	// Writev writes what fits now (ErrWouldBlock if nothing).
	Writev(iov [][]byte) (int, error)
	// Wait sets the readiness the generic layer wants to be told of.
	Wait(read, write bool)
	// Pending returns how many bytes can be read now.
	Pending() (int, error)
	// CloseWrite shuts down the sending side.
	CloseWrite() error
	// Close releases the implementation, once.
	Close() error
}

// StreamNotifier is how a StreamOps implementation reports readiness to
// the layer above it: the *Stream that wraps it, or another
// implementation stacked on it (TLS over a socket).
type StreamNotifier interface {
	// Ready says the stream may have become readable and/or writable.
	Ready(read, write bool)
	// Failed says the connection failed or the peer hung up while the
	// stream watched for errors (ErrorWatcher); err is the cause, io.EOF
	// for a plain hang-up.
	Failed(err error)
}

// FDStreamOps is the capability of a stream over a descriptor.
type FDStreamOps interface {
	// Fd returns the descriptor, -1 once closed.
	Fd() int
	// LocalAddr returns the local address.
	LocalAddr() (Address, error)
	// RemoteAddr returns the peer's address.
	RemoteAddr() (Address, error)
}

// ShortIODrains is declared by an implementation whose short Readv or
// Writev means nothing more can move now (a kernel socket), so that the
// generic layer waits for readiness instead of asking again.
type ShortIODrains interface {
	ShortIODrains()
}

// ErrorWatcher is the capability behind Monitor: while watching, the
// implementation calls the notifier's Failed once when the connection
// fails or the peer hangs up, even with no read or write in flight.
type ErrorWatcher interface {
	WatchErrors(on bool)
}

// ReadvFirstErrorOps is the capability behind FailReadvFirstError.
type ReadvFirstErrorOps interface {
	// SetFailReadvFirstError turns early failure on or off and returns
	// the previous setting.
	SetFailReadvFirstError(on bool) bool
}

// NextVectorFunc is the next-vector callback of ReadvPDU
// (tstream_readv_pdu_send's next_vector_fn). It is called before the
// first read and each time the vectors it returned last are full; it
// returns the buffers to fill next, or none when the PDU is complete.
// Returning vectors that are all empty is an error (ErrInvalid): it
// would read nothing and never finish. An error it returns finishes the
// request with that error.
type NextVectorFunc func(st *Stream) ([][]byte, error)

// Stream is a byte stream on a loop (tstream_context): a TCP or unix
// stream socket (NewStream, Connect, Listener.Accept, StreamPair), one end
// of an in-memory pair (MemoryPair), or any StreamOps implementation
// (NewCustomStream). At most one read request (Readv, ReadvPDU,
// ReadPDUBlob, WaitForRead and their queued variants) and one write
// request (Writev, WritevQueue) are in flight at a time; starting a second
// fails with ErrBusy.
//
// A Stream is owned by the scope it was made on and freed with it (or by
// Free, or Disconnect); freeing it closes what is under it and finishes
// its pending requests with net.ErrClosed. Like everything of its context
// it is used only from the goroutine that drives the loop: a request
// started from another goroutine while the loop waits fails with
// tevent.ErrConcurrentUse, and one owned by another loop's scope with
// tevent.ErrWrongContext.
type Stream struct {
	ev     *tevent.Context
	scope  *tevent.Scope
	ops    StreamOps
	fdops  FDStreamOps // nil unless the ops have a descriptor
	drains bool        // ShortIODrains
	closed bool
	taken  bool // TakeOps handed the ops on
	inIO   bool // inside a call into ops: Ready is deferred
	again  [2]bool
	wantR  bool // interest last given to ops.Wait
	wantW  bool

	// the read in flight
	rd    *tevent.Req[int]
	rvec  [][]byte
	ridx  int
	roff  int
	rn    int
	rnext NextVectorFunc
	rerr  error // sticky read error
	rwait bool  // rd is a WaitForRead
	rchk  bool  // its check_errors

	// the write in flight
	wr   *tevent.Req[int]
	wvec [][]byte
	widx int
	woff int
	wn   int
	werr error // sticky write error

	mon *tevent.Req[struct{}] // Monitor in flight

	// WritevQueue accounting (pdu.go): writes and bytes waiting or in
	// flight, their limits, and whether the write in flight is counted.
	qWrites, qBytes       int
	qMaxBytes, qMaxWrites int
	wqOn                  bool
	wqN                   int
	// The write WritevQueue hands to its queue's direct trigger
	// (startDirectWrite), set only during that call.
	directVec [][]byte
	directN   int

	iov     [][]byte
	cancelR func(*tevent.Req[int]) bool
	cancelW func(*tevent.Req[int]) bool
	cleanR  func(*tevent.Req[int], tevent.ReqState)
	cleanW  func(*tevent.Req[int], tevent.ReqState)
}

// maxIOV bounds the vectors handed to one readv/writev (x/sys moves up to
// 8 without allocating).
const maxIOV = 8

// streamNotifier is the face a Stream shows its ops: the notifier methods
// stay off Stream's own method set.
type streamNotifier Stream

func (n *streamNotifier) Ready(read, write bool) { (*Stream)(n).ready(read, write) }
func (n *streamNotifier) Failed(err error)       { (*Stream)(n).opsFailed(err) }

// NewCustomStream wraps a StreamOps implementation in a Stream owned by o
// (tstream_context_create). It calls ops.Attach, and ops.Close when the
// stream is freed. A nil ops panics.
func NewCustomStream(o tevent.Owner, ops StreamOps) (*Stream, error) {
	if ops == nil {
		panic("tsocket: NewCustomStream called with nil StreamOps")
	}
	s := tevent.ScopeOf(o)
	if err := s.Context().CheckOnLoop("tsocket.NewCustomStream"); err != nil {
		return nil, err
	}
	if s.Freed() {
		return nil, fmt.Errorf("tsocket: NewCustomStream on a freed scope: %w", tevent.ErrFreed)
	}
	return newStreamOn(s, ops), nil
}

// newStreamOn makes the Stream over ops, in a new scope under s.
func newStreamOn(s *tevent.Scope, ops StreamOps) *Stream {
	ss := s.NewScope()
	st := &Stream{ev: s.Context(), scope: ss, ops: ops}
	st.fdops, _ = ops.(FDStreamOps)
	_, st.drains = ops.(ShortIODrains)
	st.cancelR = st.cancelRead
	st.cancelW = st.cancelWrite
	st.cleanR = st.cleanupRead
	st.cleanW = st.cleanupWrite
	ops.Attach((*streamNotifier)(st))
	ss.OnFree(st.teardown)
	return st
}

// Ops returns the implementation under the stream (nil once freed or
// taken over).
func (st *Stream) Ops() StreamOps {
	if st.closed {
		return nil
	}
	return st.ops
}

// TakeOps detaches the implementation from the stream and returns it, so
// that another implementation can be stacked on it (a TLS stream over a
// socket, as Samba's tls tstream takes over its plain stream): the taker
// calls Attach with its own notifier and Close when it is done. The stream
// is then empty: its requests fail with net.ErrClosed and freeing it
// closes nothing. It is refused with ErrBusy while a request is in flight,
// and with the stream's sticky error once it failed. The ops keep the
// lifetime of what they were made on: a socket's descriptor is closed
// when the owner given to NewStream (or Connect, Accept) is freed.
func (st *Stream) TakeOps() (StreamOps, error) {
	switch {
	case st.closed:
		return nil, net.ErrClosed
	case st.rd != nil || st.wr != nil:
		return nil, ErrBusy
	case st.rerr != nil && st.rerr != io.EOF:
		return nil, st.rerr
	case st.werr != nil:
		return nil, st.werr
	}
	ops := st.ops
	ops.Wait(false, false)
	if w, ok := ops.(ErrorWatcher); ok && st.mon != nil {
		w.WatchErrors(false)
	}
	st.wantR, st.wantW = false, false
	st.taken = true
	st.scope.Free()
	return ops, nil
}

// Fd returns the stream's descriptor, or -1 once the stream is freed or
// for a stream with none (a memory pair). The stream owns it: do not close
// it, and read or write it only while no request is in flight.
func (st *Stream) Fd() int {
	if st.closed || st.fdops == nil {
		return -1
	}
	return st.fdops.Fd()
}

// LocalAddr returns the stream's own address (getsockname).
func (st *Stream) LocalAddr() (Address, error) {
	if st.closed {
		return Address{}, net.ErrClosed
	}
	if st.fdops == nil {
		return Address{}, fmt.Errorf("tsocket: LocalAddr of a stream without a socket: %w", errors.ErrUnsupported)
	}
	return st.fdops.LocalAddr()
}

// RemoteAddr returns the peer's address (getpeername).
func (st *Stream) RemoteAddr() (Address, error) {
	if st.closed {
		return Address{}, net.ErrClosed
	}
	if st.fdops == nil {
		return Address{}, fmt.Errorf("tsocket: RemoteAddr of a stream without a socket: %w", errors.ErrUnsupported)
	}
	return st.fdops.RemoteAddr()
}

// Pending returns how many bytes can be read now without waiting
// (tstream_pending_bytes, FIONREAD on a socket). It returns the stream's
// sticky read error, if any, and io.EOF once the peer finished sending
// and nothing is left.
func (st *Stream) Pending() (int, error) {
	if st.closed {
		return 0, net.ErrClosed
	}
	if st.rerr != nil {
		return 0, st.rerr
	}
	n, err := st.ops.Pending()
	if err != nil && err != io.EOF {
		st.notifyMonitor(err)
	}
	return n, err
}

// Err returns the stream's sticky error: the first failure, ErrBroken,
// io.EOF once a read saw the end of stream, or net.ErrClosed once freed;
// nil while the stream is healthy.
func (st *Stream) Err() error {
	if st.closed {
		return net.ErrClosed
	}
	if st.rerr != nil {
		return st.rerr
	}
	return st.werr
}

// Free closes the stream and frees it. Requests in flight finish with
// net.ErrClosed (their callbacks run from inside Free). Idempotent.
func (st *Stream) Free() { st.scope.Free() }

// CloseWrite shuts down the sending side (shutdown(SHUT_WR) on a socket):
// the peer reads EOF, and reading here goes on. It fails with ErrBusy
// while a write is in flight.
func (st *Stream) CloseWrite() error {
	if st.closed {
		return net.ErrClosed
	}
	if st.wr != nil {
		return ErrBusy
	}
	return st.ops.CloseWrite()
}

// FailReadvFirstError makes reads fail at the first error or hang-up the
// implementation sees, instead of first draining what the peer sent
// before it (tstream_bsd_fail_readv_first_error; for a server, whose
// answers could not reach the client anyway). It returns the previous
// setting; on a stream whose implementation has no such option it does
// nothing and returns false.
func (st *Stream) FailReadvFirstError(on bool) bool {
	if o, ok := st.ops.(ReadvFirstErrorOps); ok && !st.closed {
		return o.SetFailReadvFirstError(on)
	}
	return false
}

// refused does the checks every request of a stream starts with: the
// caller's goroutine and the owner's loop. A refused request is finished
// with the error; it is posted only when the caller is on a loop (a
// request made from the wrong goroutine cannot be posted: its Result
// holds the error).
func refused[T any](st *Stream, req *tevent.Req[T], s *tevent.Scope, what string) (*tevent.Req[T], bool) {
	if err := st.ev.CheckOnLoop(what); err != nil {
		req.Error(err)
		return req, true
	}
	if !tevent.SameLoop(s.Context(), st.ev) {
		req.Error(fmt.Errorf("%w: %s on a stream of another context: make the request on a scope of the stream's own context", tevent.ErrWrongContext, what))
		return req.Post(nil), true
	}
	return nil, false
}

// Disconnect closes the stream (tstream_disconnect_send) and frees it.
// It is refused with ErrBusy while a read or write is in flight, as in
// Samba: cancel or finish them first.
func (st *Stream) Disconnect(o tevent.Owner) *tevent.Req[struct{}] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[struct{}](s)
	if r, bad := refused(st, req, s, "Stream.Disconnect"); bad {
		return r
	}
	switch {
	case st.closed:
		req.Error(net.ErrClosed)
	case st.rd != nil || st.wr != nil:
		req.Error(ErrBusy)
	default:
		if st.mon != nil {
			st.finishMonitor(net.ErrClosed)
		}
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
	if r, bad := refused(st, req, s, "Stream.Readv"); bad {
		return r
	}
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
	if r, bad := refused(st, req, s, "Stream.ReadvPDU"); bad {
		return r
	}
	st.startRead(req, nil, next)
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// Writev writes all of vec, in order (tstream_writev_send), and finishes
// with the number of bytes written. It is tried at once; what does not fit
// is written as the stream drains. The vectors must not be touched until
// the request finishes. A second write in flight is ErrBusy. Cancel
// succeeds while no byte was written; a write that times out, is cancelled
// or freed half done makes later writes fail with ErrBroken. Writing
// nothing at all finishes at once with 0.
func (st *Stream) Writev(o tevent.Owner, vec ...[]byte) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[int](s)
	if r, bad := refused(st, req, s, "Stream.Writev"); bad {
		return r
	}
	st.startWrite(req, vec)
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// WaitForRead finishes when the stream has something to read
// (wait_for_read_send): bytes, or the end of the stream or an error, which
// a read would then report. With checkErrors set it finishes successfully
// only when bytes are waiting, and fails with io.EOF at the end of the
// stream or with the stream's error (wait_for_read_send's check_errors,
// which says EPIPE for both). It takes the stream's read slot: a read in
// flight makes it fail with ErrBusy and it makes a read fail so. Cancel
// works until it finished. It reads nothing.
func (st *Stream) WaitForRead(o tevent.Owner, checkErrors bool) *tevent.Req[struct{}] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[struct{}](s)
	if r, bad := refused(st, req, s, "Stream.WaitForRead"); bad {
		return r
	}
	// The wait is a read of the stream's read slot, finished with 0 or an
	// error, under a request of its own type.
	sub := tevent.NewReq[int](req.Scope())
	st.startWait(sub, checkErrors)
	finish := func(sub *tevent.Req[int]) {
		if _, err := sub.Result(); !req.Error(err) {
			req.Done(struct{}{})
		}
	}
	if !sub.IsInProgress() {
		finish(sub)
		return req.Post(nil)
	}
	sub.SetCallback(finish)
	req.SetCancelFn(func(*tevent.Req[struct{}]) bool { return sub.Cancel() })
	return req
}

// Monitor returns a request that finishes when the stream fails
// (tstream_monitor_send): with the error that failed a read, a write or
// Pending (io.EOF once the end of stream was read), with the peer's
// hang-up or error as the implementation sees it while nothing is in
// flight (a socket watches for it), or with net.ErrClosed when the stream
// is freed or disconnected. It never finishes successfully. One Monitor
// is in flight at a time (ErrBusy); freeing or cancelling it stops the
// watch.
func (st *Stream) Monitor(o tevent.Owner) *tevent.Req[struct{}] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[struct{}](s)
	if r, bad := refused(st, req, s, "Stream.Monitor"); bad {
		return r
	}
	switch {
	case st.closed:
		req.Error(net.ErrClosed)
	case st.mon != nil:
		req.Error(ErrBusy)
	case st.rerr != nil:
		req.Error(st.rerr)
	case st.werr != nil:
		req.Error(st.werr)
	}
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	st.mon = req
	req.SetCancelFn(func(r *tevent.Req[struct{}]) bool {
		if st.mon != r {
			return false
		}
		st.unwatch()
		r.Error(tevent.ErrCancelled)
		return true
	})
	req.SetCleanupFn(func(r *tevent.Req[struct{}], _ tevent.ReqState) {
		if st.mon == r {
			st.unwatch()
		}
	})
	if w, ok := st.ops.(ErrorWatcher); ok {
		st.inIO = true
		w.WatchErrors(true)
		st.inIO = false
	}
	return req.Post(nil) // deferred callback, as tevent_req_defer_callback
}

// unwatch forgets the monitor in flight.
func (st *Stream) unwatch() {
	st.mon = nil
	if w, ok := st.ops.(ErrorWatcher); ok && !st.closed {
		w.WatchErrors(false)
	}
}

// finishMonitor finishes the monitor in flight with err.
func (st *Stream) finishMonitor(err error) {
	req := st.mon
	st.unwatch()
	req.Error(err)
}

// notifyMonitor finishes a monitor in flight with err.
func (st *Stream) notifyMonitor(err error) {
	if st.mon != nil {
		st.finishMonitor(err)
	}
}

// opsFailed is the ops' report of a failure seen with nothing in flight.
func (st *Stream) opsFailed(err error) {
	if st.closed || err == nil {
		return
	}
	st.notifyMonitor(err)
}

// startRead starts req reading vec (or the vectors next returns). It
// finishes req itself on any error.
func (st *Stream) startRead(req *tevent.Req[int], vec [][]byte, next NextVectorFunc) {
	if next == nil && vecLen(vec) == 0 {
		req.Error(invalid("read of zero bytes"))
		return
	}
	if st.refused(req, st.rerr, st.rd != nil) {
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
	st.updateInterest()
}

// refused finishes req, a request about to take a direction's slot, when
// that direction cannot start: the stream is freed (net.ErrClosed), has
// its sticky error, or is busy (ErrBusy), in that order. It reports
// whether it did.
func (st *Stream) refused(req *tevent.Req[int], sticky error, busy bool) bool {
	switch {
	case st.closed:
		req.Error(net.ErrClosed)
	case sticky != nil:
		req.Error(sticky)
	case busy:
		req.Error(ErrBusy)
	default:
		return false
	}
	return true
}

// startWait starts req as a WaitForRead in the read slot.
func (st *Stream) startWait(req *tevent.Req[int], check bool) {
	if st.refused(req, st.rerr, st.rd != nil) {
		return
	}
	st.rd, st.rvec, st.rn, st.rnext, st.rwait, st.rchk = req, nil, 0, nil, true, check
	req.SetCancelFn(st.cancelR)
	req.SetCleanupFn(st.cleanR)
	st.doRead()
	st.updateInterest()
}

// startWrite starts req writing vec. It finishes req itself on any error.
func (st *Stream) startWrite(req *tevent.Req[int], vec [][]byte) {
	if st.refused(req, st.werr, st.wr != nil) {
		return
	}
	if vecLen(vec) == 0 {
		req.Done(0)
		return
	}
	st.wr, st.wvec, st.widx, st.woff, st.wn = req, vec, 0, 0, 0
	req.SetCancelFn(st.cancelW)
	req.SetCleanupFn(st.cleanW)
	st.doWrite()
	st.updateInterest()
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

// opsReadv calls the ops' Readv with Ready deferred.
func (st *Stream) opsReadv(iov [][]byte) (int, error) {
	st.inIO = true
	n, err := st.ops.Readv(iov)
	st.inIO = false
	clear(iov)
	return n, err
}

// opsWritev calls the ops' Writev with Ready deferred.
func (st *Stream) opsWritev(iov [][]byte) (int, error) {
	st.inIO = true
	n, err := st.ops.Writev(iov)
	st.inIO = false
	clear(iov)
	return n, err
}

// doRead reads what it can for the read in flight and finishes it when
// its vectors are full.
func (st *Stream) doRead() {
	req := st.rd
	if st.rwait {
		st.doWait()
		return
	}
	for st.rd == req && req != nil {
		iov := st.buildIOV(st.rvec, st.ridx, st.roff)
		want := vecLen(iov)
		n, err := st.opsReadv(iov)
		switch {
		case err == ErrWouldBlock:
			return
		case err == io.EOF || (err == nil && n == 0):
			st.rerr = io.EOF
			if st.rn == 0 {
				st.finishRead(io.EOF)
			} else {
				st.finishRead(io.ErrUnexpectedEOF)
			}
			st.notifyMonitor(io.EOF)
			return
		case err != nil:
			st.fail(err)
			return
		}
		st.rn += n
		if !advance(st.rvec, &st.ridx, &st.roff, n) {
			if n < want && st.drains {
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

// doWait checks readability for a WaitForRead in flight.
func (st *Stream) doWait() {
	st.inIO = true
	n, err := st.ops.Pending()
	st.inIO = false
	switch {
	case n > 0:
		st.finishRead(nil)
	case err == nil || err == ErrWouldBlock:
		return // nothing yet
	case !st.rchk:
		st.finishRead(nil) // readable: a read will see the end or the error
	case err == io.EOF:
		st.rerr = io.EOF
		st.finishRead(io.EOF)
		st.notifyMonitor(io.EOF)
	default:
		st.fail(err)
	}
}

// doWrite writes what it can for the write in flight and finishes it
// when everything is written.
func (st *Stream) doWrite() {
	req := st.wr
	for st.wr == req && req != nil {
		iov := st.buildIOV(st.wvec, st.widx, st.woff)
		want := vecLen(iov)
		n, err := st.opsWritev(iov)
		switch {
		case err == ErrWouldBlock || (err == nil && n == 0):
			return
		case err != nil:
			st.fail(err)
			return
		}
		st.wn += n
		if advance(st.wvec, &st.widx, &st.woff, n) {
			st.finishWrite(nil)
			return
		}
		if n < want && st.drains {
			return // short write: wait until writable
		}
	}
}

func (st *Stream) finishRead(err error) {
	req, n := st.rd, st.rn
	st.rd, st.rvec, st.rnext, st.rwait = nil, nil, nil, false
	if err != nil {
		req.Error(err)
	} else {
		req.Done(n)
	}
}

// endWrite forgets the write in flight.
func (st *Stream) endWrite() {
	st.wr, st.wvec = nil, nil
	if st.wqOn {
		st.wqOn = false
		st.unqueue(st.wqN)
	}
}

func (st *Stream) finishWrite(err error) {
	req, n := st.wr, st.wn
	st.endWrite()
	if err != nil {
		req.Error(err)
	} else {
		req.Done(n)
	}
}

// fail makes err the sticky error of both directions and finishes what is
// in flight with it, and the monitor.
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
	if !st.closed {
		st.notifyMonitor(err)
	}
}

// ready is the ops' readiness report.
func (st *Stream) ready(read, write bool) {
	if st.closed {
		return
	}
	if st.inIO {
		// Reported from inside a call into the ops: handled when it
		// returns (the caller updates the interest and the loop calls
		// again while the condition lasts).
		st.again[0] = st.again[0] || read
		st.again[1] = st.again[1] || write
		return
	}
	if write && st.wr != nil {
		st.doWrite()
	}
	if read && st.rd != nil && !st.closed {
		st.doRead()
	}
	st.updateInterest()
}

// updateInterest tells the ops what the requests in flight need.
func (st *Stream) updateInterest() {
	if st.closed {
		return
	}
	r, w := st.rd != nil, st.wr != nil
	if r != st.wantR || w != st.wantW {
		st.wantR, st.wantW = r, w
		st.inIO = true
		st.ops.Wait(r, w)
		st.inIO = false
	}
	if st.again[0] || st.again[1] {
		r, w := st.again[0], st.again[1]
		st.again = [2]bool{}
		st.ready(r, w)
	}
}

func (st *Stream) cancelRead(r *tevent.Req[int]) bool {
	if st.rd != r || st.rn > 0 {
		return false
	}
	st.rd, st.rvec, st.rnext, st.rwait = nil, nil, nil, false
	st.updateInterest()
	r.Error(tevent.ErrCancelled)
	return true
}

func (st *Stream) cancelWrite(r *tevent.Req[int]) bool {
	if st.wr != r || st.wn > 0 {
		return false
	}
	st.endWrite()
	st.updateInterest()
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
	st.rd, st.rvec, st.rnext, st.rwait = nil, nil, nil, false
	st.updateInterest()
}

func (st *Stream) cleanupWrite(r *tevent.Req[int], _ tevent.ReqState) {
	if st.wr != r {
		return
	}
	if st.wn > 0 && st.werr == nil {
		st.werr = ErrBroken
	}
	st.endWrite()
	st.updateInterest()
}

// teardown runs when the stream's scope is freed: the ops are closed
// (unless taken over) and pending requests finish with net.ErrClosed.
func (st *Stream) teardown() {
	st.closed = true
	if !st.taken {
		st.ops.Close()
	}
	if st.rd != nil {
		st.finishRead(net.ErrClosed)
	}
	if st.wr != nil {
		st.finishWrite(net.ErrClosed)
	}
	if st.mon != nil {
		req := st.mon
		st.mon = nil
		req.Error(net.ErrClosed)
	}
}

// SetReadBuffer sets the receive buffer of the stream's socket
// (SO_RCVBUF; the kernel may round or double it). A stream without a
// descriptor fails with errors.ErrUnsupported.
func (st *Stream) SetReadBuffer(bytes int) error {
	return st.setBuffer(bytes, true)
}

// SetWriteBuffer sets the send buffer of the stream's socket (SO_SNDBUF).
func (st *Stream) SetWriteBuffer(bytes int) error {
	return st.setBuffer(bytes, false)
}

func (st *Stream) setBuffer(bytes int, read bool) error {
	fd := st.Fd()
	switch {
	case st.closed:
		return net.ErrClosed
	case fd < 0:
		return fmt.Errorf("tsocket: socket buffer of a stream without a descriptor: %w", errors.ErrUnsupported)
	}
	if read {
		return setBuffer(fd, "stream", unixSORcvbuf, bytes)
	}
	return setBuffer(fd, "stream", unixSOSndbuf, bytes)
}
