package tevent

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// queueRecorder adds requests to a queue and records when their triggers
// run; each request finishes on its own timer, so that the next trigger
// can only come from the queue noticing the finish.
type queueRecorder struct {
	t         *testing.T
	q         *Queue
	triggered []int
	active    int // triggered and not yet finished
	maxActive int
}

func (qr *queueRecorder) add(s *Scope, id int, finish func(r *Req[int])) *Req[int] {
	r := NewReq[int](s)
	qr.q.Add(r, func(req AnyReq) {
		if req != AnyReq(r) {
			qr.t.Errorf("trigger of %d got another request", id)
		}
		if !r.IsInProgress() {
			qr.t.Errorf("trigger of %d on a request in state %v", id, r.State())
		}
		qr.triggered = append(qr.triggered, id)
		qr.active++
		qr.maxActive = max(qr.maxActive, qr.active)
		r.SetCleanupFn(func(_ *Req[int], s ReqState) {
			if s != ReqReceived || ReqState(r.finState()) == ReqInProgress {
				qr.active--
			}
		})
		finish(r)
	})
	return r
}

func TestQueueThousandInOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("thousand")
	qr := &queueRecorder{t: t, q: q}
	const n = 1000
	received := 0
	for i := range n {
		r := qr.add(&ev.Scope, i, func(r *Req[int]) {
			switch i % 3 {
			case 0: // finishes inside its trigger
				r.Done(i)
			case 1: // on a later turn
				r.Scope().NewImmediate().Schedule(func(*Context, *Immediate) { r.Done(i) })
			case 2: // on a timer
				r.Scope().AddTimer(time.Now(), func(*Context, *Timer, time.Time) { r.Done(i) })
			}
		})
		r.SetCallback(func(r *Req[int]) {
			if v, err := r.Result(); v != i || err != nil {
				t.Errorf("request %d: Result = %d, %v", i, v, err)
			}
			received++
		})
	}
	if q.Length() != n {
		t.Fatalf("Length = %d", q.Length())
	}
	if len(qr.triggered) != 0 {
		t.Fatal("Add triggered synchronously")
	}
	loopUntil(t, ev, func() bool { return received == n })
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(qr.triggered, want) {
		t.Fatalf("triggered out of order: %v...", qr.triggered[:min(20, len(qr.triggered))])
	}
	if qr.maxActive != 1 {
		t.Fatalf("%d requests ran at once", qr.maxActive)
	}
	if q.Length() != 0 {
		t.Fatalf("Length after all = %d", q.Length())
	}
}

func TestQueueAddTriggersOnLaterTurn(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("lazy")
	if q.Name() != "lazy" || !q.Running() || q.Length() != 0 {
		t.Fatalf("new queue: %v", q)
	}
	r := NewReq[int](&ev.Scope)
	triggered := 0
	e := q.Add(r, func(AnyReq) { triggered++ })
	if e == nil || triggered != 0 {
		t.Fatal("Add on an empty queue triggered synchronously")
	}
	if err := ev.LoopOnce(); err != nil {
		t.Fatal(err)
	}
	if triggered != 1 {
		t.Fatalf("after one turn: %d triggers", triggered)
	}
	if q.Length() != 1 {
		t.Fatalf("a triggered entry left the queue: Length %d", q.Length())
	}
	r.Done(1)
	if q.Length() != 0 {
		t.Fatalf("Length after Done = %d", q.Length())
	}
	if !strings.Contains(q.String(), "lazy") {
		t.Fatalf("String() = %q", q.String())
	}
}

func TestQueueStartStop(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("q")
	q.Stop()
	if q.Running() {
		t.Fatal("Running after Stop")
	}
	var triggered []int
	reqs := make([]*Req[int], 3)
	for i := range reqs {
		reqs[i] = NewReq[int](&ev.Scope)
		q.Add(reqs[i], func(AnyReq) { triggered = append(triggered, i) })
	}
	ticked := false
	ev.AddTimer(time.Now().Add(5*time.Millisecond), func(*Context, *Timer, time.Time) { ticked = true })
	loopUntil(t, ev, func() bool { return ticked })
	if len(triggered) != 0 {
		t.Fatal("a stopped queue triggered")
	}
	q.Start()
	q.Start()
	loopUntil(t, ev, func() bool { return len(triggered) == 1 })
	q.Stop() // the running entry keeps running
	reqs[0].Done(0)
	if q.Length() != 2 {
		t.Fatalf("Length = %d", q.Length())
	}
	ticked = false
	ev.AddTimer(time.Now().Add(5*time.Millisecond), func(*Context, *Timer, time.Time) { ticked = true })
	loopUntil(t, ev, func() bool { return ticked })
	if len(triggered) != 1 {
		t.Fatal("a stopped queue triggered its next entry")
	}
	q.Start()
	loopUntil(t, ev, func() bool { return len(triggered) == 2 })
	reqs[1].Done(1)
	loopUntil(t, ev, func() bool { return len(triggered) == 3 })
	if !slices.Equal(triggered, []int{0, 1, 2}) {
		t.Fatalf("order %v", triggered)
	}
}

func TestQueueFreedWhileWaiting(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("q")
	var triggered []int
	reqs := make([]*Req[int], 4)
	for i := range reqs {
		reqs[i] = NewReq[int](&ev.Scope)
		q.Add(reqs[i], func(AnyReq) { triggered = append(triggered, i) })
	}
	reqs[1].Free()  // freed while waiting
	reqs[2].Done(2) // finished while waiting
	if q.Length() != 2 {
		t.Fatalf("Length = %d, want 2", q.Length())
	}
	loopUntil(t, ev, func() bool { return len(triggered) == 1 })
	reqs[0].Free() // the head freed: the next is triggered
	if q.Length() != 1 {
		t.Fatalf("Length = %d, want 1", q.Length())
	}
	loopUntil(t, ev, func() bool { return len(triggered) == 2 })
	if !slices.Equal(triggered, []int{0, 3}) {
		t.Fatalf("triggered %v", triggered)
	}
	if _, err := reqs[2].Result(); err != nil {
		t.Fatal(err)
	}
	reqs[3].Error(errors.New("x"))
	if q.Length() != 0 {
		t.Fatalf("Length = %d", q.Length())
	}
}

func TestQueueReceivedLeaves(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("q")
	var triggered []int
	for i := range 3 {
		r := NewReq[int](&ev.Scope)
		q.Add(r, func(AnyReq) {
			triggered = append(triggered, i)
			r.Done(i)
			if q.Length() != 2-i {
				t.Errorf("Length in trigger %d = %d", i, q.Length())
			}
			r.Result()
		})
	}
	loopUntil(t, ev, func() bool { return len(triggered) == 3 })
	if q.Length() != 0 {
		t.Fatalf("Length = %d", q.Length())
	}
}

func TestQueueEntryFree(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("q")
	var triggered []int
	a, b := NewReq[int](&ev.Scope), NewReq[int](&ev.Scope)
	ea := q.Add(a, func(AnyReq) { triggered = append(triggered, 0) })
	q.Add(b, func(AnyReq) { triggered = append(triggered, 1) })
	loopUntil(t, ev, func() bool { return len(triggered) == 1 })
	ea.Free()
	ea.Free()
	if q.Length() != 1 || !a.IsInProgress() {
		t.Fatalf("Length %d, a %v", q.Length(), a.State())
	}
	loopUntil(t, ev, func() bool { return len(triggered) == 2 })
	a.Done(1) // no longer in the queue: nothing happens to it
	if q.Length() != 1 {
		t.Fatalf("Length = %d", q.Length())
	}
}

func TestQueueBlocker(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("q")
	blocker := NewReq[int](&ev.Scope)
	q.Add(blocker, nil)
	triggered := false
	q.Add(NewReq[int](&ev.Scope), func(AnyReq) { triggered = true })
	ticked := false
	ev.AddTimer(time.Now().Add(5*time.Millisecond), func(*Context, *Timer, time.Time) { ticked = true })
	loopUntil(t, ev, func() bool { return ticked })
	if triggered {
		t.Fatal("triggered behind a blocker")
	}
	blocker.Free()
	loopUntil(t, ev, func() bool { return triggered })
}

func TestQueueWait(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q := ev.NewQueue("q")

	// On an empty queue: finished on a later turn.
	w0 := q.Wait(&ev.Scope)
	if !w0.IsInProgress() {
		t.Fatal("Wait finished synchronously")
	}
	if err := w0.Poll(ev); err != nil {
		t.Fatal(err)
	}
	if _, err := w0.Result(); err != nil {
		t.Fatal(err)
	}

	a, b := NewReq[int](&ev.Scope), NewReq[int](&ev.Scope)
	q.Add(a, func(AnyReq) {
		a.Scope().AddTimer(time.Now().Add(2*time.Millisecond), func(*Context, *Timer, time.Time) { a.Done(1) })
	})
	q.Add(b, func(AnyReq) {
		b.Scope().AddTimer(time.Now().Add(2*time.Millisecond), func(*Context, *Timer, time.Time) { b.Done(2) })
	})
	w := q.Wait(&ev.Scope)
	var order []string
	a.SetCallback(func(*Req[int]) { order = append(order, "a") })
	b.SetCallback(func(*Req[int]) { order = append(order, "b") })
	w.SetCallback(func(*Req[struct{}]) { order = append(order, "wait") })
	loopUntil(t, ev, func() bool { return !w.IsInProgress() })
	if !slices.Equal(order, []string{"a", "b", "wait"}) {
		t.Fatalf("order %v", order)
	}
	if q.Length() != 0 {
		t.Fatalf("Length = %d", q.Length())
	}
}

func TestQueueFree(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	s := ev.NewScope()
	q := s.NewQueue("q")
	triggered := 0
	reqs := []*Req[int]{NewReq[int](&ev.Scope), NewReq[int](&ev.Scope)}
	for _, r := range reqs {
		q.Add(r, func(AnyReq) { triggered++ })
	}
	s.Free() // frees the queue
	if q.Length() != 0 || q.Running() {
		t.Fatalf("freed queue: %v", q)
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if triggered != 0 {
		t.Fatal("a freed queue triggered")
	}
	for _, r := range reqs {
		if !r.IsInProgress() || r.firstEntry() != nil {
			t.Fatal("freeing the queue changed its requests")
		}
	}
	// Adding to a freed queue gives a detached entry.
	e := q.Add(reqs[0], func(AnyReq) { triggered++ })
	e.Free()
	q.Start()
	q.Free()
	if q.Length() != 0 || q.Running() {
		t.Fatal("freed queue came back")
	}
	if err := ev.LoopWait(); err != nil || triggered != 0 {
		t.Fatalf("LoopWait %v, %d triggers", err, triggered)
	}
	q2 := s.NewQueue("born freed")
	q2.Add(NewReq[int](&ev.Scope), func(AnyReq) { triggered++ })
	if q2.Length() != 0 || q2.Running() {
		t.Fatal("queue on a freed scope is alive")
	}
}

func TestQueueRequestInTwoQueues(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	q1, q2 := ev.NewQueue("1"), ev.NewQueue("2")
	r := NewReq[int](&ev.Scope)
	n := 0
	q1.Add(r, func(AnyReq) { n++ })
	q2.Add(r, func(AnyReq) { n++ })
	loopUntil(t, ev, func() bool { return n == 2 })
	r.Free()
	if q1.Length() != 0 || q2.Length() != 0 {
		t.Fatalf("lengths %d, %d", q1.Length(), q2.Length())
	}
}
