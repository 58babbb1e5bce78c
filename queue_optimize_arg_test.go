package tevent

import (
	"slices"
	"testing"
)

// argLog is the state the triggers of the tests below are given as arg.
type argLog struct{ o []string }

func logArg(req AnyReq, arg any) {
	a := arg.(*argLog)
	a.o = append(a.o, "t")
}

// TestQueueAddOptimizeEmptyArg: AddOptimizeEmptyArg is AddOptimizeEmpty
// with arg handed to the trigger. Triggered at once it returns nil, the
// entry is at the head while the trigger runs (length 1, what it adds
// waits behind it) and leaves when the request finishes; not triggered at
// once (queue busy or stopped, callback set) it returns the entry and the
// trigger gets arg on a later turn.
func TestQueueAddOptimizeEmptyArg(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		q := ev.NewQueue("w")
		var o []string
		a, b := NewReq[int](ev), NewReq[int](ev)
		lenInside := 0
		var qb *QueueEntry
		ea := q.AddOptimizeEmptyArg(a, func(req AnyReq, arg any) {
			if req != a || arg != "A" {
				t.Errorf("trigger given %v, %v", req, arg)
			}
			o = append(o, "a")
			lenInside = q.Length()
			qb = q.AddOptimizeEmptyArg(b, func(_ AnyReq, arg any) { o = append(o, arg.(string)) }, "b")
		}, "A")
		if ea != nil {
			t.Fatal("a direct trigger returned an entry")
		}
		if !slices.Equal(o, []string{"a"}) || lenInside != 1 || q.Length() != 2 || qb == nil || qb.Queue() != q {
			t.Fatalf("ran %v (length %d inside), length %d after, b's entry %v; want [a], 1, 2, in q", o, lenInside, q.Length(), qb)
		}
		a.Done(1)
		if q.Length() != 1 {
			t.Fatalf("after a finished: length %d, want 1", q.Length())
		}
		loopOnce(t, ev)
		if !slices.Equal(o, []string{"a", "b"}) {
			t.Fatalf("ran %v, want b triggered after a finished", o)
		}
		b.Done(2)
		if q.Length() != 0 {
			t.Fatalf("length %d, want 0", q.Length())
		}

		// Not direct: a callback is set, or the queue is stopped.
		log := &argLog{}
		d := NewReq[int](ev)
		d.SetCallback(func(*Req[int]) {})
		if e := q.AddOptimizeEmptyArg(d, logArg, log); e == nil || e.Queue() != q || len(log.o) != 0 {
			t.Fatalf("with a callback: entry %v, ran %v; want an entry in q, nothing run", e, log.o)
		}
		loopOnce(t, ev)
		if len(log.o) != 1 {
			t.Fatalf("ran %v, want the trigger on the next turn", log.o)
		}
		d.Free()
		q.Stop()
		f := NewReq[int](ev)
		if e := q.AddOptimizeEmptyArg(f, logArg, log); e == nil || len(log.o) != 1 {
			t.Fatal("triggered at once on a stopped queue")
		}
		f.Free()
		q.Start()
	})
}

// TestQueueAddOptimizeEmptyArgFinishedInside: a request its trigger
// finishes leaves the queue then: from inside the trigger, after the
// request finished, the queue is empty, and another AddOptimizeEmptyArg
// is triggered at once too; after it returns nothing is left and the
// request is delivered through Post. A request freed inside its trigger
// leaves too, and so does one whose queue the trigger frees.
func TestQueueAddOptimizeEmptyArgFinishedInside(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		q := ev.NewQueue("w")
		var o []string
		a, b := NewReq[int](ev), NewReq[int](ev)
		lenAfterDone := -1
		q.AddOptimizeEmptyArg(a, func(AnyReq, any) {
			a.Done(1)
			lenAfterDone = q.Length()
			q.AddOptimizeEmptyArg(b, func(AnyReq, any) {
				o = append(o, "b")
				if q.Length() != 1 {
					t.Errorf("length %d inside b's trigger, want 1", q.Length())
				}
			}, nil)
		}, nil)
		if lenAfterDone != 0 || !slices.Equal(o, []string{"b"}) || q.Length() != 1 {
			t.Fatalf("length %d after a finished inside, ran %v, length %d after; want 0, [b], 1", lenAfterDone, o, q.Length())
		}
		got := 0
		a.Post(nil).SetCallback(func(r *Req[int]) { got, _ = r.Result() })
		driveUntil(t, ev, func() bool { return got == 1 })
		b.Done(2)
		if q.Length() != 0 {
			t.Fatalf("length %d after b finished, want 0", q.Length())
		}

		c := NewReq[int](ev)
		q.AddOptimizeEmptyArg(c, func(AnyReq, any) { c.Free() }, nil)
		if q.Length() != 0 {
			t.Fatalf("length %d after a request freed inside its trigger, want 0", q.Length())
		}
		d := NewReq[int](ev)
		q.AddOptimizeEmptyArg(d, func(AnyReq, any) { q.Free() }, nil)
		if q.Length() != 0 || !d.IsInProgress() {
			t.Fatalf("queue freed inside the trigger: length %d, d in progress %v", q.Length(), d.IsInProgress())
		}
		d.Done(4) // its entry left with the queue: nothing to take out
	})
}

// TestQueueAddOptimizeEmptyArgAllocs: triggered at once, a request its
// trigger finishes costs no allocation in the queue, and one still in
// progress only its record of queue entries; a plain pointer as arg is
// not boxed.
func TestQueueAddOptimizeEmptyArgAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	withBackend(t, "epoll", func(t *testing.T, ev *Context) {
		q := ev.NewQueue("w")
		log := &argLog{}
		finish := func(req AnyReq, arg any) {
			logArg(req, arg)
			req.(*Req[int]).Done(1)
		}
		reqs := make([]*Req[int], 0, 2000)
		for range 2000 {
			reqs = append(reqs, NewReq[int](ev))
		}
		i := 0
		if n := testing.AllocsPerRun(500, func() {
			q.AddOptimizeEmptyArg(reqs[i], finish, log)
			reqs[i].Free()
			i++
		}); n != 0 {
			t.Errorf("finished at once: %v allocations, want 0", n)
		}
		if n := testing.AllocsPerRun(500, func() {
			q.AddOptimizeEmptyArg(reqs[i], logArg, log)
			reqs[i].Done(1)
			reqs[i].Free()
			i++
		}); n != 1 {
			t.Errorf("in progress: %v allocations, want 1 (the request's extra record)", n)
		}
	})
}

// TestQueueAddOptimizeEmptyArgTraced: with a queue trace callback or a
// call-depth callback set, a direct trigger is told of as any entry's
// (attach, before handler, detach when the request finishes inside it),
// and AddOptimizeEmptyArg still returns nil.
func TestQueueAddOptimizeEmptyArgTraced(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var points []EventTracePoint
		ev.SetQueueTraceCallback(func(_ *QueueEntry, p EventTracePoint) { points = append(points, p) })
		var flows []CallFlow
		ev.SetCallDepthCallback(func(f CallFlow, _ AnyReq, _ int) { flows = append(flows, f) })
		q := ev.NewQueue("w")
		r := NewReq[int](ev)
		log := &argLog{}
		e := q.AddOptimizeEmptyArg(r, func(req AnyReq, arg any) {
			logArg(req, arg)
			r.Done(1)
		}, log)
		want := []EventTracePoint{EventAttach, EventBeforeHandler, EventDetach}
		if e != nil || len(log.o) != 1 || !slices.Equal(points, want) || q.Length() != 0 {
			t.Fatalf("entry %v, ran %v, traced %v, length %d; want nil, [t], %v, 0", e, log.o, points, q.Length(), want)
		}
		for _, f := range []CallFlow{FlowQueueEnter, FlowQueueTrigger, FlowQueueLeave} {
			if !slices.Contains(flows, f) {
				t.Fatalf("call-depth callback told %v, missing %v", flows, f)
			}
		}
		ev.SetQueueTraceCallback(nil)
		ev.SetCallDepthCallback(nil)
	})
}
