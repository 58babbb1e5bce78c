package tsocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gotevent/tevent"
)

// frame returns a 4-byte big-endian length prefix and body.
func frame(body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(b, body...)
}

// lenPrefixed returns a next-vector function for one frame and a pointer
// to its body.
func lenPrefixed() (NextVectorFunc, *[]byte) {
	hdr := make([]byte, 4)
	var body []byte
	step := 0
	return func(*Stream) ([][]byte, error) {
		step++
		switch step {
		case 1:
			return [][]byte{hdr}, nil
		case 2:
			n := binary.BigEndian.Uint32(hdr)
			if n > 1<<20 {
				return nil, fmt.Errorf("frame of %d bytes too big", n)
			}
			body = make([]byte, n)
			if n == 0 {
				return nil, nil
			}
			return [][]byte{body}, nil
		}
		return nil, nil
	}, &body
}

func TestReadvPDU(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		a, b := pair(t, ev)
		all := append(append(frame("hello"), frame("")...), frame("world!")...)
		// Split the write in odd places: the reader must not care.
		must(t, ev, a.Writev(s, all[:3]))
		next, body := lenPrefixed()
		r := b.ReadvPDU(s, next)
		must(t, ev, a.Writev(s, all[3:6]))
		must(t, ev, a.Writev(s, all[6:]))
		if n := must(t, ev, r); n != 9 || string(*body) != "hello" {
			t.Errorf("first PDU: %d %q", n, *body)
		}
		next, body = lenPrefixed()
		if n := must(t, ev, b.ReadvPDU(s, next)); n != 4 || len(*body) != 0 {
			t.Errorf("empty PDU: %d %q", n, *body)
		}
		next, body = lenPrefixed()
		must(t, ev, b.ReadvPDU(s, next))
		if string(*body) != "world!" {
			t.Errorf("third PDU %q", *body)
		}
		// No vectors at all: done at once with 0.
		if n := must(t, ev, b.ReadvPDU(s, func(*Stream) ([][]byte, error) { return nil, nil })); n != 0 {
			t.Errorf("no vectors: %d", n)
		}
		// All-empty vectors: an error.
		empty := func(*Stream) ([][]byte, error) { return [][]byte{{}, nil}, nil }
		if _, err := wait(t, ev, b.ReadvPDU(s, empty)); !errors.Is(err, ErrInvalid) {
			t.Errorf("all-empty vector first: %v", err)
		}
		calls := 0
		later := func(*Stream) ([][]byte, error) {
			calls++
			if calls == 1 {
				return [][]byte{make([]byte, 1)}, nil
			}
			return [][]byte{{}}, nil
		}
		must(t, ev, a.Writev(s, []byte("x")))
		if _, err := wait(t, ev, b.ReadvPDU(s, later)); !errors.Is(err, ErrInvalid) {
			t.Errorf("all-empty vector later: %v", err)
		}
		// The next-vector function's error is the request's.
		must(t, ev, a.Writev(s, binary.BigEndian.AppendUint32(nil, 1<<30)))
		next, _ = lenPrefixed()
		if _, err := wait(t, ev, b.ReadvPDU(s, next)); err == nil || err.Error() != "frame of 1073741824 bytes too big" {
			t.Errorf("next's error: %v", err)
		}
	})
}

func TestReadvPDUEOF(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		a, b := pair(t, ev)
		must(t, ev, a.Writev(s, frame("abcdef")[:7]))
		a.Free()
		next, _ := lenPrefixed()
		if _, err := wait(t, ev, b.ReadvPDU(s, next)); err != io.ErrUnexpectedEOF {
			t.Errorf("EOF mid-PDU: %v, want io.ErrUnexpectedEOF", err)
		}
		c, d := pair(t, ev)
		c.Free()
		next, _ = lenPrefixed()
		if _, err := wait(t, ev, d.ReadvPDU(s, next)); err != io.EOF {
			t.Errorf("EOF between PDUs: %v, want io.EOF", err)
		}
	})
}

func TestReadvPDUQueueAndBlob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		a, b := pair(t, ev)
		q := s.NewQueue("readers")
		var reqs []*tevent.Req[int]
		var bodies []*[]byte
		for range 3 {
			next, body := lenPrefixed()
			reqs = append(reqs, ReadvPDUQueue(s, q, b, next))
			bodies = append(bodies, body)
		}
		must(t, ev, a.Writev(s, append(append(frame("one"), frame("two")...), frame("three")...)))
		for i, want := range []string{"one", "two", "three"} {
			must(t, ev, reqs[i])
			if string(*bodies[i]) != want {
				t.Errorf("queued reader %d got %q", i, *bodies[i])
			}
		}
		moreFn := func(pdu []byte) (int, error) {
			if len(pdu) == 4 {
				return int(binary.BigEndian.Uint32(pdu)), nil
			}
			return 0, nil
		}
		must(t, ev, a.Writev(s, frame("blob body")))
		blob := must(t, ev, ReadPDUBlob(s, b, 4, moreFn))
		if string(blob) != string(frame("blob body")) {
			t.Errorf("blob %q", blob)
		}
		// Cancel before a byte, then a timeout half done breaks the stream.
		r := ReadPDUBlob(s, b, 4, moreFn)
		if !r.Cancel() {
			t.Error("Cancel of an idle blob read returned false")
		}
		if _, err := wait(t, ev, r); !errors.Is(err, tevent.ErrCancelled) {
			t.Errorf("cancelled blob: %v", err)
		}
		if _, err := wait(t, ev, ReadPDUBlob(s, b, 0, moreFn)); !errors.Is(err, ErrInvalid) {
			t.Errorf("initial 0: %v", err)
		}
		must(t, ev, a.Writev(s, frame("xy")[:5]))
		r = ReadPDUBlob(s, b, 4, moreFn)
		drive(t, ev, func() bool { p, _ := b.Pending(); return p == 0 })
		r.SetEndtime(ev, ev.Now())
		if _, err := wait(t, ev, r); !errors.Is(err, tevent.ErrTimeout) {
			t.Errorf("timed out blob: %v", err)
		}
		if !errors.Is(b.Err(), ErrBroken) {
			t.Errorf("stream after a half-read blob timed out: %v", b.Err())
		}
	})
}

func TestWritevQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		a, b := pair(t, ev)
		q := s.NewQueue("writers")
		// Empty queue: written inside WritevQueue, before any loop turn.
		w := WritevQueue(s, q, a, []byte("now"))
		if p, _ := b.Pending(); p != 3 {
			t.Errorf("optimize-empty: %d bytes pending after WritevQueue, want 3", p)
		}
		must(t, ev, w)
		must(t, ev, b.Readv(s, make([]byte, 3)))
		// A big write holds the queue; later ones go out whole and in order.
		big := make([]byte, 4<<20)
		for i := range big {
			big[i] = 'B'
		}
		var ws []*tevent.Req[int]
		ws = append(ws, WritevQueue(s, q, a, big))
		if q.Length() != 1 {
			t.Errorf("queue length while the big write is pending: %d", q.Length())
		}
		for i := range 5 {
			ws = append(ws, WritevQueue(s, q, a, []byte{byte('0' + i)}))
		}
		got := make([]byte, len(big)+5)
		r := b.Readv(s, got)
		for _, w := range ws {
			must(t, ev, w)
		}
		must(t, ev, r)
		if string(got[len(big):]) != "01234" || got[0] != 'B' || got[len(big)-1] != 'B' {
			t.Errorf("queued writes out of order: tail %q", got[len(big):])
		}
		// A stopped queue does not take the shortcut.
		q.Stop()
		w = WritevQueue(s, q, a, []byte("later"))
		if p, _ := b.Pending(); p != 0 {
			t.Errorf("stopped queue wrote at once")
		}
		q.Start()
		must(t, ev, w)
	})
}
