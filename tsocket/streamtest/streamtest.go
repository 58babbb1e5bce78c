// Package streamtest is the conformance suite of the tsocket stream seam:
// every tsocket.StreamOps implementation, wrapped in a *tsocket.Stream,
// must pass it. Each implementation runs it from its own _test.go:
//
//	func TestConformance(t *testing.T) {
//		streamtest.Run(t, func(t *testing.T) (a, b *tsocket.Stream, ev *tevent.Context) {
//			ev, err := tevent.New()
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(ev.Free)
//			a, b = newConnectedPair(ev) // the implementation's two ends
//			return a, b, ev
//		})
//	}
//
// The suite asserts what Stream documents, whatever is under it: exact
// filling of vectors, writes split across reads, end of stream (io.EOF
// before a request's first byte, io.ErrUnexpectedEOF after), ErrBusy,
// Cancel while no byte moved, ErrBroken after a request abandoned half
// done, sticky errors, Disconnect refused while I/O is pending, Free
// finishing pending requests with net.ErrClosed, PDU reads, queued
// writes, large transfers in both directions at once, half close,
// WaitForRead, Monitor and TakeOps. Every wait is bounded: a broken
// implementation fails, it does not hang the suite. No test asserts how
// long anything takes.
package streamtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tsocket"
)

// Timeout bounds every wait of the suite.
var Timeout = 10 * time.Second

// MakePair returns two connected streams on ev, each end reading what the
// other writes. The suite frees the streams; the function registers the
// context's Free with t.Cleanup.
type MakePair func(t *testing.T) (a, b *tsocket.Stream, ev *tevent.Context)

// Run runs the suite as subtests of t.
func Run(t *testing.T, mk MakePair) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b, ev := mk(t)
			h := &harness{t: t, ev: ev, a: a, b: b, s: ev.NewScope()}
			t.Cleanup(func() {
				h.s.Free()
				a.Free()
				b.Free()
			})
			tc.f(h)
		})
	}
}

var tests = []struct {
	name string
	f    func(*harness)
}{
	{"ExactFill", testExactFill},
	{"SplitWrites", testSplitWrites},
	{"EOFBeforeFirstByte", testEOFBefore},
	{"EOFAfterSomeBytes", testEOFAfter},
	{"HalfClose", testHalfClose},
	{"Busy", testBusy},
	{"Invalid", testInvalid},
	{"CancelNoByteMoved", testCancel},
	{"BreakOnHalfDoneTimeout", testBreak},
	{"StickyWriteError", testSticky},
	{"DisconnectWhilePending", testDisconnect},
	{"FreeFinishesPending", testFree},
	{"ReadvPDU", testPDU},
	{"ReadPDUBlob", testPDUBlob},
	{"WritevQueue", testQueue},
	{"LargeBothWays", testLarge},
	{"WaitForRead", testWaitForRead},
	{"Monitor", testMonitor},
	{"TakeOps", testTakeOps},
}

type harness struct {
	t    *testing.T
	ev   *tevent.Context
	a, b *tsocket.Stream
	s    *tevent.Scope
}

// drive runs the loop until cond holds, at most Timeout.
func (h *harness) drive(what string, cond func() bool) {
	h.t.Helper()
	timedOut := false
	g := h.ev.NewScope()
	g.AddTimer(time.Now().Add(Timeout), func(*tevent.Context, *tevent.Timer, time.Time) { timedOut = true })
	defer g.Free()
	for !cond() {
		if timedOut {
			h.t.Fatalf("%s: not done within %v", what, Timeout)
		}
		if err := h.ev.LoopOnce(); err != nil {
			h.t.Fatalf("%s: LoopOnce: %v", what, err)
		}
	}
}

func wait[T any](h *harness, what string, r *tevent.Req[T]) (T, error) {
	h.t.Helper()
	h.drive(what, func() bool { return !r.IsInProgress() })
	return r.Result()
}

func must[T any](h *harness, what string, r *tevent.Req[T]) T {
	h.t.Helper()
	v, err := wait(h, what, r)
	if err != nil {
		h.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) + seed
	}
	return b
}

func testExactFill(h *harness) {
	w := h.a.Writev(h.s, []byte("hel"), nil, []byte("lo, "), []byte("world!!"))
	x, y := make([]byte, 5), make([]byte, 7)
	if n := must(h, "readv", h.b.Readv(h.s, x, nil, y)); n != 12 || string(x)+string(y) != "hello, world" {
		h.t.Fatalf("readv = %d %q %q", n, x, y)
	}
	if n := must(h, "writev", w); n != 14 {
		h.t.Fatalf("writev = %d, want 14", n)
	}
	z := make([]byte, 2)
	must(h, "rest", h.b.Readv(h.s, z))
	if string(z) != "!!" {
		h.t.Fatalf("bytes beyond the vectors: %q, want \"!!\"", z)
	}
}

func testSplitWrites(h *harness) {
	data := pattern(1000, 3)
	got := make([]byte, len(data))
	r := h.b.Readv(h.s, got[:10], got[10:999], got[999:])
	for off := 0; off < len(data); {
		n := min(1+off%97, len(data)-off)
		must(h, "write piece", h.a.Writev(h.s, data[off:off+n]))
		off += n
	}
	if n := must(h, "read", r); n != len(data) || !bytes.Equal(got, data) {
		h.t.Fatalf("split writes: n=%d, equal=%v", n, bytes.Equal(got, data))
	}
}

func testEOFBefore(h *harness) {
	h.a.Free()
	if _, err := wait(h, "read", h.b.Readv(h.s, make([]byte, 4))); err != io.EOF {
		h.t.Fatalf("read after the peer went: %v, want io.EOF", err)
	}
	if _, err := wait(h, "read again", h.b.Readv(h.s, make([]byte, 4))); err != io.EOF {
		h.t.Fatalf("EOF is sticky: %v", err)
	}
	if !errors.Is(h.b.Err(), io.EOF) {
		h.t.Fatalf("Err() = %v, want io.EOF", h.b.Err())
	}
}

func testEOFAfter(h *harness) {
	must(h, "write", h.a.Writev(h.s, []byte("ab")))
	if err := h.a.CloseWrite(); err != nil {
		h.t.Fatal(err)
	}
	if _, err := wait(h, "read", h.b.Readv(h.s, make([]byte, 4))); err != io.ErrUnexpectedEOF {
		h.t.Fatalf("EOF inside a read: %v, want io.ErrUnexpectedEOF", err)
	}
}

func testHalfClose(h *harness) {
	if err := h.a.CloseWrite(); err != nil {
		h.t.Fatal(err)
	}
	if _, err := wait(h, "read", h.b.Readv(h.s, make([]byte, 1))); err != io.EOF {
		h.t.Fatalf("read after CloseWrite: %v, want io.EOF", err)
	}
	must(h, "write back", h.b.Writev(h.s, []byte("ok")))
	got := make([]byte, 2)
	must(h, "read back", h.a.Readv(h.s, got))
	if string(got) != "ok" {
		h.t.Fatalf("after half close read %q", got)
	}
}

func testBusy(h *harness) {
	r1 := h.b.Readv(h.s, make([]byte, 3))
	if _, err := wait(h, "second read", h.b.Readv(h.s, make([]byte, 3))); !errors.Is(err, tsocket.ErrBusy) {
		h.t.Fatalf("second read: %v, want ErrBusy", err)
	}
	if _, err := wait(h, "wait for read", h.b.WaitForRead(h.s, false)); !errors.Is(err, tsocket.ErrBusy) {
		h.t.Fatalf("WaitForRead with a read in flight: %v, want ErrBusy", err)
	}
	if _, err := h.b.TakeOps(); !errors.Is(err, tsocket.ErrBusy) {
		h.t.Fatalf("TakeOps with a read in flight: %v, want ErrBusy", err)
	}
	must(h, "write", h.a.Writev(h.s, []byte("xyz")))
	if n := must(h, "first read", r1); n != 3 {
		h.t.Fatalf("first read = %d", n)
	}
	// A peer that never reads: a big write stays pending, a second is busy.
	w1 := h.a.Writev(h.s, make([]byte, 16<<20))
	if !w1.IsInProgress() {
		h.t.Fatal("16 MiB write finished without a reader")
	}
	if _, err := wait(h, "second write", h.a.Writev(h.s, []byte("x"))); !errors.Is(err, tsocket.ErrBusy) {
		h.t.Fatalf("second write: %v, want ErrBusy", err)
	}
	if err := h.a.CloseWrite(); !errors.Is(err, tsocket.ErrBusy) {
		h.t.Fatalf("CloseWrite with a write in flight: %v, want ErrBusy", err)
	}
	w1.Free()
}

func testInvalid(h *harness) {
	if _, err := wait(h, "empty read", h.b.Readv(h.s, nil, []byte{})); !errors.Is(err, tsocket.ErrInvalid) {
		h.t.Fatalf("empty read: %v, want ErrInvalid", err)
	}
	if n := must(h, "empty write", h.a.Writev(h.s)); n != 0 {
		h.t.Fatalf("empty write = %d", n)
	}
}

func testCancel(h *harness) {
	r := h.b.Readv(h.s, make([]byte, 4))
	if !r.Cancel() {
		h.t.Fatal("Cancel of a read that moved no byte returned false")
	}
	if _, err := wait(h, "cancelled", r); !errors.Is(err, tevent.ErrCancelled) {
		h.t.Fatalf("cancelled read: %v", err)
	}
	// The stream is intact: a new read gets the bytes.
	must(h, "write", h.a.Writev(h.s, []byte("ab")))
	r = h.b.Readv(h.s, make([]byte, 4))
	h.drive("two bytes in", func() bool { p, _ := h.b.Pending(); return p == 0 && r.IsInProgress() })
	if r.Cancel() {
		h.t.Fatal("Cancel of a read half done returned true")
	}
	must(h, "rest", h.a.Writev(h.s, []byte("cd")))
	if n := must(h, "read", r); n != 4 {
		h.t.Fatalf("read = %d", n)
	}
}

func testBreak(h *harness) {
	r := h.b.Readv(h.s, make([]byte, 10))
	must(h, "write half", h.a.Writev(h.s, []byte("12345")))
	h.drive("half in", func() bool { p, _ := h.b.Pending(); return p == 0 })
	r.SetEndtime(h.ev, time.Now().Add(10*time.Millisecond))
	if _, err := wait(h, "timeout", r); !errors.Is(err, tevent.ErrTimeout) {
		h.t.Fatalf("half-done read: %v, want ErrTimeout", err)
	}
	if _, err := wait(h, "read after", h.b.Readv(h.s, make([]byte, 1))); !errors.Is(err, tsocket.ErrBroken) {
		h.t.Fatalf("read after a half-done read timed out: %v, want ErrBroken", err)
	}
	// Writes are not broken by a broken read.
	must(h, "write", h.b.Writev(h.s, []byte("x")))
}

func testSticky(h *harness) {
	h.b.Free()
	var first error
	h.drive("write fails", func() bool {
		_, err := wait(h, "write", h.a.Writev(h.s, []byte("x")))
		first = err
		return err != nil
	})
	if errors.Is(first, tsocket.ErrBusy) {
		h.t.Fatalf("write to a freed peer: %v", first)
	}
	if _, err := wait(h, "write again", h.a.Writev(h.s, []byte("y"))); err == nil || err.Error() != first.Error() {
		h.t.Fatalf("errors are sticky: first %v, then %v", first, err)
	}
	if h.a.Err() == nil {
		h.t.Fatal("Err() = nil after a failed write")
	}
}

func testDisconnect(h *harness) {
	r := h.b.Readv(h.s, make([]byte, 1))
	if _, err := wait(h, "disconnect", h.b.Disconnect(h.s)); !errors.Is(err, tsocket.ErrBusy) {
		h.t.Fatalf("Disconnect with a read pending: %v, want ErrBusy", err)
	}
	if !r.Cancel() {
		h.t.Fatal("Cancel of a read that moved no byte returned false")
	}
	must(h, "disconnect", h.b.Disconnect(h.s))
	if _, err := wait(h, "read after", h.b.Readv(h.s, make([]byte, 1))); !errors.Is(err, net.ErrClosed) {
		h.t.Fatalf("read after Disconnect: %v, want net.ErrClosed", err)
	}
	if h.b.Fd() != -1 {
		h.t.Fatalf("Fd after Disconnect = %d", h.b.Fd())
	}
}

func testFree(h *harness) {
	r := h.a.Readv(h.s, make([]byte, 1))
	w := h.a.Writev(h.s, make([]byte, 16<<20))
	m := h.a.Monitor(h.s)
	n := 0
	r.SetCallback(func(*tevent.Req[int]) { n++ })
	w.SetCallback(func(*tevent.Req[int]) { n++ })
	h.a.Free()
	h.a.Free()
	if n != 2 {
		h.t.Fatalf("%d callbacks ran inside Free, want 2", n)
	}
	for _, rq := range []*tevent.Req[int]{r, w} {
		if _, err := rq.Result(); !errors.Is(err, net.ErrClosed) {
			h.t.Fatalf("pending request after Free: %v, want net.ErrClosed", err)
		}
	}
	if _, err := wait(h, "monitor", m); !errors.Is(err, net.ErrClosed) {
		h.t.Fatalf("monitor after Free: %v, want net.ErrClosed", err)
	}
}

func testPDU(h *harness) {
	body := pattern(3000, 9)
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	msg = append(msg, body...)
	hdr := make([]byte, 4)
	var got []byte
	step := 0
	r := h.b.ReadvPDU(h.s, func(*tsocket.Stream) ([][]byte, error) {
		step++
		switch step {
		case 1:
			return [][]byte{hdr}, nil
		case 2:
			got = make([]byte, binary.BigEndian.Uint32(hdr))
			return [][]byte{got[:7], got[7:]}, nil
		}
		return nil, nil
	})
	for off := 0; off < len(msg); off += 500 {
		must(h, "write", h.a.Writev(h.s, msg[off:min(off+500, len(msg))]))
	}
	if n := must(h, "pdu", r); n != len(msg) || !bytes.Equal(got, body) {
		h.t.Fatalf("PDU: n=%d equal=%v", n, bytes.Equal(got, body))
	}
}

func testPDUBlob(h *harness) {
	body := pattern(5000, 1)
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	msg = append(msg, body...)
	r := tsocket.ReadPDUBlob(h.s, h.b, 4, func(pdu []byte) (int, error) {
		if len(pdu) == 4 {
			return int(binary.BigEndian.Uint32(pdu)), nil
		}
		return 0, nil
	})
	must(h, "write", h.a.Writev(h.s, msg))
	if got := must(h, "blob", r); !bytes.Equal(got, msg) {
		h.t.Fatalf("blob of %d bytes, want %d", len(got), len(msg))
	}
}

func testQueue(h *harness) {
	q := h.s.NewQueue("streamtest")
	var want []byte
	var reqs []*tevent.Req[int]
	for i := range 50 {
		p := pattern(1+i*211, byte(i))
		want = append(want, p...)
		reqs = append(reqs, tsocket.WritevQueue(h.s, q, h.a, p[:len(p)/2], p[len(p)/2:]))
	}
	got := make([]byte, len(want))
	must(h, "read all", h.b.Readv(h.s, got))
	for i, r := range reqs {
		if n := must(h, "queued write", r); n != 1+i*211 {
			h.t.Fatalf("queued write %d = %d", i, n)
		}
	}
	if !bytes.Equal(got, want) {
		h.t.Fatal("queued writes arrived out of order or damaged")
	}
}

func testLarge(h *harness) {
	const size = 4 << 20
	ab, ba := pattern(size, 5), pattern(size, 77)
	gotB, gotA := make([]byte, size), make([]byte, size)
	w1 := h.a.Writev(h.s, ab[:1], ab[1:size/2], ab[size/2:])
	w2 := h.b.Writev(h.s, ba)
	r1 := h.b.Readv(h.s, gotB)
	r2 := h.a.Readv(h.s, gotA[:12345], gotA[12345:])
	for _, r := range []*tevent.Req[int]{w1, w2, r1, r2} {
		if n := must(h, "large transfer", r); n != size {
			h.t.Fatalf("large transfer moved %d bytes, want %d", n, size)
		}
	}
	if !bytes.Equal(gotB, ab) || !bytes.Equal(gotA, ba) {
		h.t.Fatal("large transfer damaged the bytes")
	}
}

func testWaitForRead(h *harness) {
	wr := h.b.WaitForRead(h.s, true)
	h.drive("a turn", func() bool { return true })
	if !wr.IsInProgress() {
		h.t.Fatal("WaitForRead finished with nothing to read")
	}
	must(h, "write", h.a.Writev(h.s, []byte("z")))
	must(h, "wait for read", wr)
	if p, err := h.b.Pending(); p != 1 || err != nil {
		h.t.Fatalf("WaitForRead consumed bytes: Pending = %d, %v", p, err)
	}
	must(h, "read", h.b.Readv(h.s, make([]byte, 1)))
	// Cancel works while waiting.
	wr = h.b.WaitForRead(h.s, true)
	if !wr.Cancel() {
		h.t.Fatal("Cancel of WaitForRead returned false")
	}
	wait(h, "cancelled", wr)
	// check_errors: the end of stream is an error.
	h.a.Free()
	if _, err := wait(h, "wait at EOF", h.b.WaitForRead(h.s, true)); err != io.EOF {
		h.t.Fatalf("WaitForRead(checkErrors) at EOF: %v, want io.EOF", err)
	}
}

func testMonitor(h *harness) {
	m := h.b.Monitor(h.s)
	if _, err := wait(h, "second monitor", h.b.Monitor(h.s)); !errors.Is(err, tsocket.ErrBusy) {
		h.t.Fatalf("second Monitor: %v, want ErrBusy", err)
	}
	// Traffic is not a failure.
	must(h, "write", h.a.Writev(h.s, []byte("ping")))
	must(h, "read", h.b.Readv(h.s, make([]byte, 4)))
	if !m.IsInProgress() {
		h.t.Fatalf("monitor finished on a healthy stream: %v", m)
	}
	// The peer going away is.
	h.a.Free()
	if _, err := wait(h, "monitor", m); err == nil {
		h.t.Fatal("monitor finished without an error")
	}
	// A monitor on a failed stream fails at once.
	wait(h, "read", h.b.Readv(h.s, make([]byte, 1)))
	if _, err := wait(h, "monitor after EOF", h.b.Monitor(h.s)); err == nil {
		h.t.Fatal("Monitor on a stream at EOF succeeded")
	}
}

// passOps is a StreamOps over another one: it forwards everything, as a
// TLS implementation does around its record layer.
type passOps struct {
	tsocket.StreamOps
	up tsocket.StreamNotifier
}

func (p *passOps) Attach(n tsocket.StreamNotifier) {
	p.up = n
	p.StreamOps.Attach(p)
}
func (p *passOps) Ready(r, w bool)  { p.up.Ready(r, w) }
func (p *passOps) Failed(err error) { p.up.Failed(err) }

func testTakeOps(h *harness) {
	must(h, "write", h.a.Writev(h.s, []byte("before")))
	must(h, "read", h.b.Readv(h.s, make([]byte, 6)))
	ops, err := h.b.TakeOps()
	if err != nil {
		h.t.Fatalf("TakeOps: %v", err)
	}
	if _, err := wait(h, "read of the emptied stream", h.b.Readv(h.s, make([]byte, 1))); !errors.Is(err, net.ErrClosed) {
		h.t.Fatalf("read of a stream whose ops were taken: %v, want net.ErrClosed", err)
	}
	top, err := tsocket.NewCustomStream(h.s, &passOps{StreamOps: ops})
	if err != nil {
		h.t.Fatal(err)
	}
	defer top.Free()
	got := make([]byte, 5)
	r := top.Readv(h.s, got)
	must(h, "write", h.a.Writev(h.s, []byte("after")))
	must(h, "read through the new layer", r)
	if string(got) != "after" {
		h.t.Fatalf("read %q through the stacked stream", got)
	}
	must(h, "write back", top.Writev(h.s, []byte("back")))
	back := make([]byte, 4)
	must(h, "read back", h.a.Readv(h.s, back))
	if string(back) != "back" {
		h.t.Fatalf("read back %q", back)
	}
}
