package tsocket

import (
	"fmt"
	"slices"

	"github.com/gotevent/tevent"
)

// DefaultMaxPDU is the largest PDU ReadPDUBlob accepts (16 MiB): a peer
// announcing more fails the request with ErrPDUTooLarge before a byte of
// the body is read. ReadPDUBlobLimit takes a limit of its own.
const DefaultMaxPDU = 16 << 20

// Write queue bounds of a stream (see SetWriteQueueLimit): what
// WritevQueue requests waiting or in flight on one stream may hold before
// the next fails with ErrQueueFull.
const (
	DefaultWriteQueueBytes  = 16 << 20
	DefaultWriteQueueWrites = 4096
)

// pduGrowth is the least a PDU buffer grows by while its body arrives.
const pduGrowth = 4096

// ReadvPDUQueue is ReadvPDU behind q (tstream_readv_pdu_queue_send): the
// read starts when the request reaches the head of q, so that several
// readers of one stream take turns, one PDU each. Cancel works while the
// request waits in q, and after it started while no byte arrived.
func ReadvPDUQueue(o tevent.Owner, q *tevent.Queue, st *Stream, next NextVectorFunc) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	if next == nil {
		panic("tsocket: ReadvPDUQueue called with a nil next-vector function")
	}
	req := tevent.NewReq[int](s)
	if r, bad := refused(st, req, s, "tsocket.ReadvPDUQueue"); bad {
		return r
	}
	req.SetCancelFn(cancelWaiting)
	q.Add(req, func(tevent.AnyReq) { st.startRead(req, nil, next) })
	return req
}

// cancelWaiting cancels a request still waiting in a queue: nothing of it
// moved. Once started, the stream's own cancel function replaces it.
func cancelWaiting(r *tevent.Req[int]) bool {
	r.Error(tevent.ErrCancelled)
	return true
}

// WritevQueue is Writev behind q (tstream_writev_queue_send, Samba's most
// used call): writes queued on one stream go out whole and in order. When
// q is running and empty the write starts at once, inside WritevQueue, as
// tevent_queue_add_optimize_empty does (through q.AddOptimizeEmptyArg),
// and holds the queue until it finishes; otherwise it starts when it
// reaches the head of q. On an empty queue a write that goes out at once
// allocates nothing beyond the request, and one that must wait adds only
// the request's record of its queue entry.
// Cancel works while the write waits in q, and after it started while no
// byte was written.
//
// What a stream's WritevQueue requests hold, waiting or in flight, is
// bounded (SetWriteQueueLimit; by default DefaultWriteQueueBytes and
// DefaultWriteQueueWrites): a write that would go beyond fails at once
// with ErrQueueFull, so that a peer that stops reading cannot make the
// queue grow without end. A write alone is always accepted, whatever its
// size. QueuedWrites tells how full it is.
func WritevQueue(o tevent.Owner, q *tevent.Queue, st *Stream, vec ...[]byte) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[int](s)
	if r, bad := refused(st, req, s, "tsocket.WritevQueue"); bad {
		return r
	}
	n := vecLen(vec)
	if err := st.enqueue(n); err != nil {
		req.Error(err)
		return req.Post(nil)
	}
	if q.Running() && q.Length() == 0 {
		// Triggered at once (the queue is empty, req has no callback):
		// the stream carries the write into the trigger, so that nothing
		// is allocated for it.
		st.directVec, st.directN = vec, n
		e := q.AddOptimizeEmptyArg(req, startDirectWrite, st)
		st.directVec = nil
		if e == nil {
			if !req.IsInProgress() {
				return req.Post(nil)
			}
			return req
		}
		e.Free() // not triggered after all: queue it as below
	}
	w := &queuedWrite{st: st, req: req, vec: vec, n: n}
	req.SetCancelFn(cancelWaiting)
	req.SetCleanupFn(w.cleanup)
	q.AddOptimizeEmptyArg(req, triggerQueuedWrite, w)
	return req
}

// startDirectWrite is WritevQueue's trigger on an empty queue: it starts
// the write the stream was handed.
func startDirectWrite(req tevent.AnyReq, arg any) {
	st := arg.(*Stream)
	st.startQueuedWrite(req.(*tevent.Req[int]), st.directVec, st.directN)
}

// queuedWrite is a WritevQueue request waiting in its queue.
type queuedWrite struct {
	st      *Stream
	req     *tevent.Req[int]
	vec     [][]byte
	n       int
	started bool
}

// triggerQueuedWrite is the trigger of a write that waited in its queue
// (arg the *queuedWrite).
func triggerQueuedWrite(_ tevent.AnyReq, arg any) {
	w := arg.(*queuedWrite)
	w.started = true
	w.st.startQueuedWrite(w.req, w.vec, w.n)
}

// cleanup takes a write that leaves its queue before it started off the
// stream's count.
func (w *queuedWrite) cleanup(_ *tevent.Req[int], _ tevent.ReqState) {
	if !w.started {
		w.started = true
		w.st.unqueue(w.n)
	}
}

// enqueue counts a WritevQueue write of n bytes, or refuses it.
func (st *Stream) enqueue(n int) error {
	maxB, maxW := st.qMaxBytes, st.qMaxWrites
	if maxB == 0 {
		maxB = DefaultWriteQueueBytes
	}
	if maxW == 0 {
		maxW = DefaultWriteQueueWrites
	}
	if st.qWrites > 0 && (st.qWrites+1 > maxW || n > maxB-st.qBytes) {
		return fmt.Errorf("%w: %d writes of %d bytes queued on the stream, limits %d writes and %d bytes", ErrQueueFull, st.qWrites, st.qBytes, maxW, maxB)
	}
	st.qWrites++
	st.qBytes += n
	return nil
}

// unqueue takes a write of n bytes off the count.
func (st *Stream) unqueue(n int) {
	st.qWrites--
	st.qBytes -= n
}

// startQueuedWrite starts a counted write; the stream takes it off the
// count when it ends.
func (st *Stream) startQueuedWrite(req *tevent.Req[int], vec [][]byte, n int) {
	st.startWrite(req, vec)
	if st.wr == req {
		st.wqOn, st.wqN = true, n
	} else {
		st.unqueue(n) // finished (or refused) at once
	}
}

// SetWriteQueueLimit bounds what the stream's WritevQueue requests,
// waiting or in flight, may hold: bytes and writes (0 means the default,
// DefaultWriteQueueBytes or DefaultWriteQueueWrites). It applies to the
// writes queued from then on.
func (st *Stream) SetWriteQueueLimit(bytes, writes int) {
	st.qMaxBytes, st.qMaxWrites = max(bytes, 0), max(writes, 0)
}

// QueuedWrites returns how many WritevQueue writes, and how many bytes,
// are waiting or in flight on the stream: a writer can watch it to stop
// before the limit and resume when it drops.
func (st *Stream) QueuedWrites() (writes, bytes int) { return st.qWrites, st.qBytes }

// ReadPDUBlob reads one PDU into a fresh buffer (tstream_read_pdu_blob_send,
// async_sock's read_packet_send): first initial bytes, then, as long as
// more returns n > 0, n more bytes appended; more sees the whole PDU so
// far. The request finishes with the PDU when more returns 0, or with
// more's error. A PDU longer than DefaultMaxPDU fails with ErrPDUTooLarge
// as soon as more announces it; ReadPDUBlobLimit sets another limit. The
// buffer grows as the bytes arrive, not to the size announced: a peer that
// announces a large PDU and sends little costs what it sent. The rules of
// Readv apply (EOF, busy, breaking on a timeout half done); Cancel works
// while no byte has arrived.
func ReadPDUBlob(o tevent.Owner, st *Stream, initial int, more func(pdu []byte) (int, error)) *tevent.Req[[]byte] {
	return ReadPDUBlobLimit(o, st, initial, DefaultMaxPDU, more)
}

// ReadPDUBlobLimit is ReadPDUBlob with a limit of maxPDU bytes for the
// whole PDU.
func ReadPDUBlobLimit(o tevent.Owner, st *Stream, initial, maxPDU int, more func(pdu []byte) (int, error)) *tevent.Req[[]byte] {
	s := tevent.ScopeOf(o)
	if more == nil {
		panic("tsocket: ReadPDUBlob called with a nil more function")
	}
	req := tevent.NewReq[[]byte](s)
	switch {
	case initial <= 0:
		req.Error(invalid("initial read size %d", initial))
		return req.Post(nil)
	case initial > maxPDU:
		req.Error(fmt.Errorf("%w: initial read of %d bytes, limit %d", ErrPDUTooLarge, initial, maxPDU))
		return req.Post(nil)
	}
	var buf []byte
	need := 0 // bytes of the current step still to read
	vec := make([][]byte, 1)
	sub := st.ReadvPDU(req.Scope(), func(*Stream) ([][]byte, error) {
		if buf == nil {
			buf = make([]byte, initial)
			vec[0] = buf
			return vec, nil
		}
		if need == 0 {
			n, err := more(buf)
			if err != nil || n <= 0 {
				return nil, err
			}
			if n > maxPDU-len(buf) {
				return nil, fmt.Errorf("%w: %d bytes announced after %d, limit %d", ErrPDUTooLarge, n, len(buf), maxPDU)
			}
			need = n
		}
		// Grow by what has arrived so far (at least pduGrowth), not by
		// what was announced.
		step := min(need, max(len(buf), pduGrowth))
		old := len(buf)
		buf = slices.Grow(buf, step)[:old+step]
		need -= step
		vec[0] = buf[old:]
		return vec, nil
	})
	sub.SetCallback(func(sub *tevent.Req[int]) {
		if _, err := sub.Result(); req.Error(err) {
			return
		}
		req.Done(buf)
	})
	req.SetCancelFn(func(*tevent.Req[[]byte]) bool { return sub.Cancel() })
	req.SetCleanupFn(func(_ *tevent.Req[[]byte], state tevent.ReqState) {
		if state == tevent.ReqTimedOut {
			sub.Free() // stop reading now, not when the result is received
		}
	})
	return req
}
