package tevent

import (
	"errors"
	"slices"
	"testing"
)

// TestQueueAddOptimizeEmpty: on a running, empty queue and a request with
// no callback yet, AddOptimizeEmpty (tevent_queue_add_optimize_empty)
// calls the trigger from inside, with the entry already at the head (so
// what the trigger adds waits behind it); otherwise it is Add: the trigger
// runs on a later turn. A trigger that finishes the request leaves no
// entry behind, and the request is delivered through Post.
func TestQueueAddOptimizeEmpty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		q := ev.NewQueue("w")
		var o []string
		a := NewReq[int](ev)
		b := NewReq[int](ev)
		var lenInside int
		var qa, qb *QueueEntry
		qa = q.AddOptimizeEmpty(a, func(AnyReq) {
			o = append(o, "a")
			lenInside = q.Length()
			qb = q.AddOptimizeEmpty(b, func(AnyReq) { o = append(o, "b") })
		})
		if !slices.Equal(o, []string{"a"}) || lenInside != 1 || q.Length() != 2 {
			t.Fatalf("ran %v (queue length %d inside), length %d after; want [a], 1, 2", o, lenInside, q.Length())
		}
		if qa.Queue() != q || qb.Queue() != q {
			t.Fatal("the entries are not in the queue")
		}
		a.Done(1)
		if qa.Queue() != nil || q.Length() != 1 {
			t.Fatalf("after a finished: its entry in %v, length %d", qa.Queue(), q.Length())
		}
		loopOnce(t, ev)
		if !slices.Equal(o, []string{"a", "b"}) {
			t.Fatalf("ran %v, want b triggered on the next turn", o)
		}
		b.Done(2)

		// Finished by its trigger: no entry left, delivered through Post.
		c := NewReq[int](ev)
		qc := q.AddOptimizeEmpty(c, func(AnyReq) { c.Done(3) })
		if c.IsInProgress() || qc.Queue() != nil || q.Length() != 0 {
			t.Fatalf("a request finished by its direct trigger: in progress %v, entry in %v, length %d", c.IsInProgress(), qc.Queue(), q.Length())
		}
		got := 0
		c.Post(nil).SetCallback(func(r *Req[int]) { got, _ = r.Result() })
		driveUntil(t, ev, func() bool { return got == 3 })

		// Not direct: a callback is set, the queue is stopped, or not empty.
		d := NewReq[int](ev)
		d.SetCallback(func(*Req[int]) {})
		q.AddOptimizeEmpty(d, func(AnyReq) { o = append(o, "d") })
		if slices.Contains(o, "d") {
			t.Fatal("triggered directly although the request has a callback")
		}
		loopOnce(t, ev)
		if !slices.Contains(o, "d") {
			t.Fatal("d was not triggered on the next turn")
		}
		d.Free()
		q.Stop()
		e := NewReq[int](ev)
		q.AddOptimizeEmpty(e, func(AnyReq) { o = append(o, "e") })
		if slices.Contains(o, "e") {
			t.Fatal("triggered directly on a stopped queue")
		}
		e.Free()
		q.Start()
		blocker := NewReq[int](ev)
		q.Add(blocker, nil)
		f := NewReq[int](ev)
		q.AddOptimizeEmpty(f, func(AnyReq) { o = append(o, "f") })
		if slices.Contains(o, "f") {
			t.Fatal("triggered directly on a queue that is not empty")
		}
		blocker.Free()
		loopOnce(t, ev)
		if !slices.Contains(o, "f") {
			t.Fatal("f was not triggered after the blocker left")
		}
		f.Free()
	})
}

// TestQueueEntryUntrigger: a trigger that must stay queued stops the
// queue and untriggers its entry (tevent_queue_entry_untrigger); after
// Start the entry is triggered again. Untrigger on a running queue or an
// entry not at the head returns ErrQueueState and changes nothing (C
// aborts); on an entry in no queue, ErrFreed.
func TestQueueEntryUntrigger(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		q := ev.NewQueue("q")
		r1, r2 := NewReq[int](ev), NewReq[int](ev)
		triggers := 0
		var e1 *QueueEntry
		e1 = q.Add(r1, func(AnyReq) {
			triggers++
			if triggers == 1 {
				if err := e1.Untrigger(); !errors.Is(err, ErrQueueState) {
					t.Errorf("Untrigger on a running queue: %v, want ErrQueueState", err)
				}
				q.Stop()
				if err := e1.Untrigger(); err != nil {
					t.Errorf("Untrigger: %v", err)
				}
			}
		})
		e2 := q.Add(r2, func(AnyReq) { t.Error("r2 triggered while r1 holds the queue") })
		loopOnce(t, ev)
		if triggers != 1 {
			t.Fatalf("triggered %d times, want 1", triggers)
		}
		if err := e2.Untrigger(); !errors.Is(err, ErrQueueState) {
			t.Fatalf("Untrigger of an entry not at the head: %v, want ErrQueueState", err)
		}
		q.Start()
		loopOnce(t, ev)
		if triggers != 2 {
			t.Fatalf("after Start: triggered %d times, want 2", triggers)
		}
		r1.Free()
		if err := e1.Untrigger(); !errors.Is(err, ErrFreed) {
			t.Fatalf("Untrigger of an entry that left: %v, want ErrFreed", err)
		}
		r2.Free()

		// A blocker untriggered stays a blocker.
		b := NewReq[int](ev)
		eb := q.Add(b, nil)
		q.Stop()
		if err := eb.Untrigger(); err != nil {
			t.Fatal(err)
		}
		q.Start()
		loopOnce(t, ev)
		r3 := NewReq[int](ev)
		q.Add(r3, func(AnyReq) { t.Error("r3 triggered while the blocker holds the queue") })
		if err := ev.LoopOnce(); !errors.Is(err, ErrNoEvents) {
			t.Fatalf("LoopOnce with only a held queue: %v, want ErrNoEvents", err)
		}
		b.Free()
		r3.Free()
	})
}
