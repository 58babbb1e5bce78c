package tsocket

import (
	"testing"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// TestAllocsWritevQueue pins what WritevQueue costs: a write on an empty
// queue that goes out at once allocates only its request; one that must
// wait for the peer (started at once, holding the queue) adds the
// request's record of its queue entry (the queue's own entry stands for
// it: Queue.AddOptimizeEmptyArg); one behind a busy queue adds its queue
// entry, the request's record of it, and the record of what it writes
// with its cleanup function. (Before WritevQueue went through
// AddOptimizeEmptyArg: 1, 3 and 6.)
func TestAllocsWritevQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	checkFDs(t)
	ev, err := tevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	s := &ev.Scope
	a, b := pair(t, ev)
	defer a.Free()
	defer b.Free()
	q := s.NewQueue("w")
	msg := []byte("0123456789abcdef")
	in := make([]byte, len(msg))
	vout := [][]byte{msg} // the caller's vectors, as Writev's callers pass them
	drain := func() {
		if _, err := unix.Read(b.Fd(), in); err != nil {
			t.Fatal(err)
		}
	}
	now := testing.AllocsPerRun(200, func() {
		w := WritevQueue(s, q, a, vout...)
		if w.IsInProgress() {
			t.Fatal("a write to an empty socket did not go out at once")
		}
		w.Result()
		drain()
	})

	// The peer's buffer full: the write starts and waits.
	fill := make([]byte, 64<<10)
	for {
		if _, err := unix.Write(a.Fd(), fill); err != nil {
			break
		}
	}
	waiting := testing.AllocsPerRun(200, func() {
		w := WritevQueue(s, q, a, vout...)
		if !w.IsInProgress() || q.Length() != 1 {
			t.Fatal("a write to a full socket did not wait, holding the queue")
		}
		w.Free()
	})

	// Behind a write that waits.
	first := WritevQueue(s, q, a, vout...)
	queued := testing.AllocsPerRun(200, func() {
		w := WritevQueue(s, q, a, vout...)
		if q.Length() != 2 {
			t.Fatal("the write is not queued behind the first")
		}
		w.Free()
	})
	first.Free()
	t.Logf("allocations per WritevQueue: %.1f written at once, %.1f waiting for the peer, %.1f behind a busy queue", now, waiting, queued)
	if now != 1 || waiting != 2 || queued != 5 {
		t.Errorf("allocations per WritevQueue: %.1f written at once, %.1f waiting, %.1f queued; want 1, 2, 5", now, waiting, queued)
	}
}
