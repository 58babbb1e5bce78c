package tsocket

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// Issue 16, the request layer's items: each test here failed on branch
// split (before the fixes) and passes after.

// TestFDClosedBehindBackReused (item 2): a stream whose descriptor was
// closed behind its back and whose number now names another socket must
// not read that socket's bytes, nor close it when freed; NewStream on a
// number a stream owns is refused.
func TestFDClosedBehindBackReused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		defer b.Free()
		if _, err := NewStream(ev, a.Fd()); !errors.Is(err, ErrFDInUse) {
			t.Fatalf("NewStream on a descriptor a stream owns: %v, want ErrFDInUse", err)
		}
		fd := a.Fd()
		r := a.Readv(ev, make([]byte, 6))
		other := rawPair(t)
		// Put another socket at a's number: dup2 closes a's socket.
		if err := unix.Dup2(other[0], fd); err != nil {
			t.Fatal(err)
		}
		unix.Close(other[0])
		defer unix.Close(other[1])
		if _, err := unix.Write(other[1], []byte("secret")); err != nil {
			t.Fatal(err)
		}
		n, err := wait(t, ev, r)
		if !errors.Is(err, ErrFDLost) {
			t.Fatalf("pending read after the number was reused: n=%d err=%v, want ErrFDLost", n, err)
		}
		if a.Fd() != -1 {
			t.Errorf("Fd of a stream that lost its descriptor = %d, want -1", a.Fd())
		}
		a.Free()
		// The other socket is open and still holds its bytes.
		got := make([]byte, 16)
		m, err := unix.Read(fd, got)
		if err != nil || string(got[:m]) != "secret" {
			t.Fatalf("the socket now at the number: read %q, %v; want \"secret\" (not read, not closed by the stream)", got[:m], err)
		}
		// It is nobody's now: a new stream may take it.
		st, err := NewStream(ev, fd)
		if err != nil {
			t.Fatalf("NewStream on the reused number: %v", err)
		}
		st.Free()
	})
}

// TestReadPDUBlobGrowsAsBytesArrive (item 3): a peer announcing 1 GiB and
// sending a little costs what it sent, not what it announced; a PDU over
// the limit is ErrPDUTooLarge; more returning math.MaxInt is an error,
// not a panic.
func TestReadPDUBlobGrowsAsBytesArrive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		defer a.Free()
		defer b.Free()
		more := func(pdu []byte) (int, error) {
			if len(pdu) == 4 {
				return int(binary.BigEndian.Uint32(pdu)), nil
			}
			return 0, nil
		}
		// Over the default limit: refused before the body.
		must(t, ev, a.Writev(ev, binary.BigEndian.AppendUint32(nil, 1<<30), []byte("abc")))
		if _, err := wait(t, ev, ReadPDUBlob(ev, b, 4, more)); !errors.Is(err, ErrPDUTooLarge) {
			t.Fatalf("1 GiB PDU with the default limit: %v, want ErrPDUTooLarge", err)
		}
		c, d := pair(t, ev)
		defer c.Free()
		defer d.Free()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := ReadPDUBlobLimit(ev, d, 4, math.MaxInt, more)
		must(t, ev, c.Writev(ev, binary.BigEndian.AppendUint32(nil, 1<<30), make([]byte, 1000)))
		drive(t, ev, func() bool { p, _ := d.Pending(); return p == 0 })
		runtime.ReadMemStats(&after)
		if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
			t.Fatalf("heap grew by %d bytes for 1004 bytes received of a 1 GiB PDU", grew)
		}
		r.Free()
		// more announcing math.MaxInt.
		e, f := pair(t, ev)
		defer e.Free()
		defer f.Free()
		must(t, ev, e.Writev(ev, []byte("xxxx")))
		huge := func(pdu []byte) (int, error) {
			if len(pdu) == 4 {
				return math.MaxInt, nil
			}
			return 0, nil
		}
		if _, err := wait(t, ev, ReadPDUBlobLimit(ev, f, 4, math.MaxInt, huge)); !errors.Is(err, ErrPDUTooLarge) {
			t.Fatalf("more returning math.MaxInt: %v, want ErrPDUTooLarge", err)
		}
	})
}

// TestWritevQueueBounded (item 4): a peer that never reads cannot make a
// write queue grow without end.
func TestWritevQueueBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		defer a.Free()
		defer b.Free()
		q := ev.NewQueue("out")
		chunk := make([]byte, 64<<10)
		var reqs []*tevent.Req[int]
		var full error
		for i := 0; i < 10000 && full == nil; i++ {
			r := WritevQueue(ev, q, a, chunk)
			if !r.IsInProgress() {
				if _, err := r.Result(); err != nil {
					full = err
				}
				continue
			}
			reqs = append(reqs, r)
		}
		if !errors.Is(full, ErrQueueFull) {
			t.Fatalf("queue never refused a write: %v", full)
		}
		if w, n := a.QueuedWrites(); n > DefaultWriteQueueBytes || w != len(reqs) {
			t.Fatalf("QueuedWrites = %d writes, %d bytes; want %d writes, at most %d bytes", w, n, len(reqs), DefaultWriteQueueBytes)
		}
		// A tighter limit of the stream's own.
		a.SetWriteQueueLimit(0, len(reqs))
		if _, err := wait(t, ev, WritevQueue(ev, q, a, []byte("x"))); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("write past SetWriteQueueLimit: %v", err)
		}
		// The reader drains it: the count goes back to zero.
		got := make([]byte, len(reqs)*len(chunk))
		must(t, ev, b.Readv(ev, got))
		for _, r := range reqs {
			must(t, ev, r)
		}
		if w, n := a.QueuedWrites(); w != 0 || n != 0 {
			t.Fatalf("QueuedWrites after draining = %d, %d", w, n)
		}
	})
}

// TestCancelQueuedRequests (item 12): a queued request that has moved no
// byte can be cancelled, as documented.
func TestCancelQueuedRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		defer a.Free()
		defer b.Free()
		q := ev.NewQueue("out")
		first := WritevQueue(ev, q, a, make([]byte, 8<<20)) // stays pending
		second := WritevQueue(ev, q, a, []byte("second"))
		if !second.Cancel() {
			t.Fatal("Cancel of a queued write that moved no byte returned false")
		}
		if _, err := wait(t, ev, second); !errors.Is(err, tevent.ErrCancelled) {
			t.Fatalf("cancelled queued write: %v", err)
		}
		if w, _ := a.QueuedWrites(); w != 1 {
			t.Fatalf("QueuedWrites after the cancel = %d, want 1", w)
		}
		first.Free()
		rq := ev.NewQueue("in")
		next := func(*Stream) ([][]byte, error) { return [][]byte{make([]byte, 4)}, nil }
		r1 := ReadvPDUQueue(ev, rq, b, next)
		r2 := ReadvPDUQueue(ev, rq, b, next)
		if !r2.Cancel() {
			t.Fatal("Cancel of a queued read returned false")
		}
		if _, err := wait(t, ev, r2); !errors.Is(err, tevent.ErrCancelled) {
			t.Fatalf("cancelled queued read: %v", err)
		}
		if !r1.Cancel() {
			t.Fatal("Cancel of a started read that moved no byte returned false")
		}
		wait(t, ev, r1)
	})
}

// TestSendToFullUnixReceiverDoesNotSpin (item 13): an unconnected unix
// datagram socket sending to a full receiver polls writable while sendto
// keeps failing with EAGAIN; the send must wait without spinning the
// loop.
func TestSendToFullUnixReceiverDoesNotSpin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		path := filepath.Join(t.TempDir(), "rx")
		rxAddr, _ := UnixAddress(path)
		rx, err := NewUnixDgram(ev, rxAddr, Address{})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Free()
		tx, err := NewUnixDgram(ev, Address{}, Address{})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Free()
		var pending *tevent.Req[int]
		for i := 0; i < 100000 && pending == nil; i++ {
			r := tx.SendTo(ev, make([]byte, 512), rxAddr)
			if r.IsInProgress() {
				pending = r
				break
			}
			if _, err := r.Result(); err != nil {
				t.Fatal(err)
			}
		}
		if pending == nil {
			t.Fatal("the receiver never filled up")
		}
		turns := 0
		ev.SetTraceCallback(func(p tevent.TracePoint) {
			if p == tevent.TraceBeforeLoopOnce {
				turns++
			}
		})
		defer ev.SetTraceCallback(nil)
		done := false
		ev.AddTimer(time.Now().Add(300*time.Millisecond), func(*tevent.Context, *tevent.Timer, time.Time) { done = true })
		drive(t, ev, func() bool { return done })
		if turns > 200 {
			t.Fatalf("%d loop turns in 300 ms while a send waited for a full receiver: the loop spins", turns)
		}
		// Reading makes room: the send goes out.
		must(t, ev, rx.RecvFrom(ev, nil))
		must(t, ev, pending)
	})
}

// TestStreamMisuse (item 14): a stream used from a goroutine that is not
// its loop's while the loop waits, and a request on a stream of another
// context, are reported, not left hanging.
func TestStreamMisuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		defer a.Free()
		defer b.Free()
		ev2, err := tevent.New()
		if err != nil {
			t.Fatal(err)
		}
		defer ev2.Free()
		if _, err := wait(t, ev, a.Readv(ev2, make([]byte, 1))); !errors.Is(err, tevent.ErrWrongContext) {
			t.Fatalf("Readv owned by another context: %v, want ErrWrongContext", err)
		}
		if ev.Backend() == "poll_mt" {
			return // other goroutines may change events while poll_mt waits
		}
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Free()
		r := b.Readv(ev, make([]byte, 1)) // keeps the loop waiting
		done := make(chan error, 1)
		go func() { done <- ev.LoopOnce() }()
		deadline := time.Now().Add(testTimeout)
		for ev.CheckOnLoop("probe") == nil {
			if time.Now().After(deadline) {
				t.Fatal("the loop never waited")
			}
			runtime.Gosched()
		}
		w := a.Writev(ev, []byte("x"))
		_, werr := w.Result()
		tp.Schedule(func(*tevent.Context) {})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(werr, tevent.ErrConcurrentUse) {
			t.Fatalf("Writev from another goroutine while the loop waits: %v, want ErrConcurrentUse", werr)
		}
		r.Cancel()
	})
}

// TestWithContext: a request is cancelled when its context.Context is
// done.
func TestWithContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		defer a.Free()
		defer b.Free()
		ctx, cancel := context.WithCancel(context.Background())
		r := WithContext(b.Readv(ev, make([]byte, 4)), ctx)
		cancel()
		if _, err := wait(t, ev, r); !errors.Is(err, tevent.ErrCancelled) {
			t.Fatalf("read after its context was cancelled: %v, want ErrCancelled", err)
		}
		// Half done: the request ends with the context's error and the
		// stream breaks, as after a timeout.
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		r = WithContext(b.Readv(ev, make([]byte, 4)), ctx2)
		must(t, ev, a.Writev(ev, []byte("ab")))
		drive(t, ev, func() bool { p, _ := b.Pending(); return p == 0 })
		cancel2()
		if _, err := wait(t, ev, r); !errors.Is(err, context.Canceled) {
			t.Fatalf("half-done read after its context was cancelled: %v, want context.Canceled", err)
		}
		if _, err := wait(t, ev, b.Readv(ev, make([]byte, 1))); !errors.Is(err, ErrBroken) {
			t.Fatalf("read after: %v, want ErrBroken", err)
		}
	})
}

// TestFailReadvFirstError: with the option on, a read fails at the peer's
// hang-up instead of draining what it sent first.
func TestFailReadvFirstError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		for _, on := range []bool{false, true} {
			a, b := pair(t, ev)
			if old := b.FailReadvFirstError(on); old {
				t.Fatal("FailReadvFirstError was on by default")
			}
			r := b.Readv(ev, make([]byte, 10))
			must(t, ev, a.Writev(ev, []byte("abc")))
			a.Free()
			_, err := wait(t, ev, r)
			want := io.ErrUnexpectedEOF
			if on {
				want = io.EOF
			}
			if err != want {
				t.Errorf("FailReadvFirstError(%v): read at hang-up with data pending: %v, want %v", on, err, want)
			}
			b.Free()
		}
	})
}

// TestBufferSizesAndDisconnect: SO_RCVBUF/SO_SNDBUF of datagram sockets
// and streams, Dgram.Disconnect as a request, IsInetFamily.
func TestBufferSizesAndDisconnect(t *testing.T) {
	checkFDs(t)
	ev, err := tevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	x, y, err := DgramPair(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	if got, _ := unix.GetsockoptInt(x.Fd(), unix.SOL_SOCKET, unix.SO_RCVBUF); got < 1<<20 {
		t.Errorf("SO_RCVBUF = %d after SetReadBuffer(1 MiB)", got)
	}
	if err := x.SetWriteBuffer(0); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetWriteBuffer(0): %v", err)
	}
	rr := y.RecvFrom(ev, nil)
	if _, err := wait(t, ev, y.Disconnect(ev)); !errors.Is(err, ErrBusy) {
		t.Errorf("Dgram.Disconnect with a receive pending: %v, want ErrBusy", err)
	}
	rr.Cancel()
	must(t, ev, y.Disconnect(ev))
	if _, err := wait(t, ev, y.Disconnect(ev)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Disconnect: %v", err)
	}
	x.Free()
	a, b := pair(t, ev)
	if err := a.SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	m, n, _ := MemoryPair(ev)
	if err := m.SetReadBuffer(1024); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetReadBuffer of a memory stream: %v", err)
	}
	a.Free()
	b.Free()
	m.Free()
	n.Free()
	v4, _ := InetAddress("ipv4", "10.0.0.1", 1)
	v6, _ := InetAddress("ipv6", "::1", 1)
	ux, _ := UnixAddress("/tmp/x")
	for _, c := range []struct {
		a    Address
		fam  string
		want bool
	}{{v4, "ip", true}, {v4, "IPv4", true}, {v4, "ipv6", false}, {v6, "ip", true}, {v6, "ipv6", true}, {v6, "ipv4", false}, {ux, "ip", false}, {v4, "unix", false}} {
		if got := c.a.IsInetFamily(c.fam); got != c.want {
			t.Errorf("%v.IsInetFamily(%q) = %v, want %v", c.a, c.fam, got, c.want)
		}
	}
}
