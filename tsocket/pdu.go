package tsocket

import (
	"github.com/gotevent/tevent"
)

// ReadvPDUQueue is ReadvPDU behind q (tstream_readv_pdu_queue_send): the
// read starts when the request reaches the head of q, so that several
// readers of one stream take turns, one PDU each.
func ReadvPDUQueue(o tevent.Owner, q *tevent.Queue, st *Stream, next NextVectorFunc) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	if next == nil {
		panic("tsocket: ReadvPDUQueue called with a nil next-vector function")
	}
	req := tevent.NewReq[int](s)
	q.Add(req, func(tevent.AnyReq) { st.startRead(req, nil, next) })
	return req
}

// WritevQueue is Writev behind q (tstream_writev_queue_send, Samba's most
// used call): writes queued on one stream go out whole and in order. When
// q is running and empty the write starts at once, inside WritevQueue, as
// tevent_queue_add_optimize_empty does, and holds the queue until it
// finishes; otherwise it starts when it reaches the head of q. With an
// empty queue nothing is allocated beyond the request.
func WritevQueue(o tevent.Owner, q *tevent.Queue, st *Stream, vec ...[]byte) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[int](s)
	if q.Running() && q.Length() == 0 {
		st.startWrite(req, vec)
		if !req.IsInProgress() {
			return req.Post(nil)
		}
		q.Add(req, nil) // a blocker: holds the queue until req finishes
		return req
	}
	q.Add(req, func(tevent.AnyReq) { st.startWrite(req, vec) })
	return req
}

// ReadPDUBlob reads one PDU into a fresh buffer (tstream_read_pdu_blob_send,
// async_sock's read_packet_send): first initial bytes, then, as long as
// more returns n > 0, n more bytes appended; more sees the whole PDU so
// far. The request finishes with the PDU when more returns 0, or with
// more's error. more should refuse a size it will not accept (a peer can
// announce any length). The rules of Readv apply (EOF, busy, breaking on a
// timeout half done); Cancel works while no byte has arrived.
func ReadPDUBlob(o tevent.Owner, st *Stream, initial int, more func(pdu []byte) (int, error)) *tevent.Req[[]byte] {
	s := tevent.ScopeOf(o)
	if more == nil {
		panic("tsocket: ReadPDUBlob called with a nil more function")
	}
	req := tevent.NewReq[[]byte](s)
	if initial <= 0 {
		req.Error(invalid("initial read size %d", initial))
		return req.Post(nil)
	}
	var buf []byte
	vec := make([][]byte, 1)
	sub := st.ReadvPDU(req.Scope(), func(*Stream) ([][]byte, error) {
		if buf == nil {
			buf = make([]byte, initial)
			vec[0] = buf
			return vec, nil
		}
		n, err := more(buf)
		if err != nil || n <= 0 {
			return nil, err
		}
		old := len(buf)
		buf = append(buf, make([]byte, n)...)
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
