package tevent

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// newReqTestContext returns a fresh context freed at the end of the test.
func newReqTestContext(t testing.TB, opts ...Option) *Context {
	t.Helper()
	ev, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ev.Free)
	return ev
}

// loopUntil runs ev's loop one turn at a time until cond holds, failing
// the test after a deadline. A guard timer keeps the loop from waiting
// past the deadline.
func loopUntil(t testing.TB, ev *Context, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	guard := ev.AddTimer(deadline, func(*Context, *Timer, time.Time) {})
	defer guard.Free()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached before the deadline")
		}
		if err := ev.LoopOnce(); err != nil {
			t.Fatalf("LoopOnce: %v", err)
		}
	}
}

// mustPanic runs fn and returns the panic message it must raise.
func mustPanic(t *testing.T, fn func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	fn()
	return ""
}

func TestReqStateString(t *testing.T) {
	defer goleak.VerifyNone(t)
	want := map[ReqState]string{
		ReqInit: "ReqInit", ReqInProgress: "ReqInProgress", ReqDone: "ReqDone",
		ReqUserError: "ReqUserError", ReqTimedOut: "ReqTimedOut", ReqReceived: "ReqReceived",
		ReqState(42): "ReqState(42)",
	}
	for s, name := range want {
		if got := s.String(); got != name {
			t.Errorf("%d.String() = %q, want %q", int(s), got, name)
		}
	}
}

func TestReqNewIsInProgress(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	if r.State() != ReqInProgress || !r.IsInProgress() {
		t.Fatalf("new request: state %v, in progress %v", r.State(), r.IsInProgress())
	}
	var _ AnyReq = r
	if s := r.String(); !strings.Contains(s, "Req[int]") || !strings.Contains(s, "ReqInProgress") {
		t.Fatalf("String() = %q", s)
	}
	if _, err := r.Result(); err == nil {
		t.Fatal("Result of a request in progress returned no error")
	}
	if r.State() != ReqInProgress {
		t.Fatalf("Result in progress changed the state to %v", r.State())
	}
	if r.Scope() == nil || r.Scope().Freed() || r.Scope().Context() != ev {
		t.Fatal("request scope is not a live scope of the context")
	}
}

func TestReqDoneCallsBackOnLoop(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[string](&ev.Scope)
	r.Scope().AddTimer(time.Now(), func(*Context, *Timer, time.Time) { r.Done("hello") })
	calls := 0
	var got string
	var gotErr error
	r.SetCallback(func(r *Req[string]) {
		calls++
		got, gotErr = r.Result()
	})
	loopUntil(t, ev, func() bool { return calls > 0 })
	if calls != 1 || got != "hello" || gotErr != nil {
		t.Fatalf("calls=%d got=%q err=%v", calls, got, gotErr)
	}
	if r.State() != ReqReceived {
		t.Fatalf("state after Result = %v", r.State())
	}
	v, err := r.Result()
	if err == nil || v != "" || !errors.Is(err, ErrFreed) {
		t.Fatalf("second Result = %q, %v; want an error and no value", v, err)
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("callback ran %d times", calls)
	}
	r.Free() // after Result: a no-op
}

// doneSend finishes its request before returning, as tevent_req_post
// exists for.
func doneSend(s *Scope, v int) *Req[int] {
	r := NewReq[int](s)
	r.Done(v)
	return r.Post(s.Context())
}

func TestReqPostDeliversOnLaterTurn(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	calls := 0
	r := doneSend(&ev.Scope, 7)
	if r.State() != ReqDone {
		t.Fatalf("state = %v", r.State())
	}
	r.SetCallback(func(r *Req[int]) {
		calls++
		if v, err := r.Result(); v != 7 || err != nil {
			t.Errorf("Result = %d, %v", v, err)
		}
	})
	if calls != 0 {
		t.Fatal("callback ran inside the creator or SetCallback")
	}
	if err := ev.LoopOnce(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("after one turn: %d calls", calls)
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("callback ran %d times", calls)
	}
}

func TestReqPostTwiceAndFreeBeforeDelivery(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	calls := 0
	r := doneSend(&ev.Scope, 1)
	r.Post(ev).Post(nil)
	r.SetCallback(func(*Req[int]) { calls++ })
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("posted three times: %d calls", calls)
	}

	// Freed before its delivery: never called back.
	r2 := doneSend(&ev.Scope, 2)
	r2.SetCallback(func(*Req[int]) { calls++ })
	r2.Free()
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatal("freed request was called back")
	}
}

func TestReqPostBeforeFinishDefersCallback(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	r.Post(ev) // tevent_req_defer_callback
	calls := 0
	r.SetCallback(func(*Req[int]) { calls++ })
	finished := false
	ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) {
		r.Done(3)
		finished = true
		if calls != 0 {
			t.Error("deferred callback ran inside Done")
		}
	})
	loopUntil(t, ev, func() bool { return finished })
	if calls != 0 {
		t.Fatal("callback ran in the same turn")
	}
	loopUntil(t, ev, func() bool { return calls > 0 })
	if v, err := r.Result(); v != 3 || err != nil {
		t.Fatalf("Result = %d, %v", v, err)
	}
}

func TestReqSetCallbackAfterFinishWithoutPost(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	r.Done(5) // the creator forgot Post
	calls := 0
	r.SetCallback(func(*Req[int]) { calls++ })
	if calls != 0 {
		t.Fatal("SetCallback called back synchronously")
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("%d calls", calls)
	}
}

func TestReqError(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	if r.Error(nil) {
		t.Fatal("Error(nil) returned true")
	}
	if !r.IsInProgress() {
		t.Fatal("Error(nil) finished the request")
	}
	boom := errors.New("boom")
	if !r.Error(boom) {
		t.Fatal("Error(err) returned false")
	}
	if r.State() != ReqUserError {
		t.Fatalf("state = %v", r.State())
	}
	if !strings.Contains(r.String(), "boom") {
		t.Fatalf("String() = %q lacks the error", r.String())
	}
	if r.Error(nil) {
		t.Fatal("Error(nil) on a finished request returned true")
	}
	v, err := r.Result()
	if v != 0 || err != boom {
		t.Fatalf("Result = %d, %v", v, err)
	}
}

func TestReqFinishTwicePanics(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	r.Done(1)
	msg := mustPanic(t, func() { r.Done(2) })
	if !strings.Contains(msg, "Req[int]") || !strings.Contains(msg, "Done") {
		t.Fatalf("panic message %q does not name the request", msg)
	}
	msg = mustPanic(t, func() { r.Error(errors.New("late")) })
	if !strings.Contains(msg, "Req[int]") {
		t.Fatalf("panic message %q does not name the request", msg)
	}
	if v, err := r.Result(); v != 1 || err != nil {
		t.Fatalf("Result = %d, %v; the second finish changed it", v, err)
	}
	mustPanic(t, func() { r.Done(3) }) // received after finishing: still a double finish

	// Freed before finishing: a late completion goes nowhere.
	r2 := NewReq[int](&ev.Scope)
	r2.Free()
	r2.Done(1)
	if !r2.Error(errors.New("late")) {
		t.Fatal("Error(err) on a freed request returned false")
	}
	if r2.State() != ReqReceived {
		t.Fatalf("state = %v", r2.State())
	}
}

func TestReqEndtime(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	var states []ReqState
	r.SetCleanupFn(func(r *Req[int], s ReqState) { states = append(states, s) })
	start := time.Now()
	if !r.SetEndtime(ev, start.Add(time.Hour)) {
		t.Fatal("SetEndtime failed")
	}
	if !r.SetEndtime(nil, start.Add(20*time.Millisecond)) { // replaces the first
		t.Fatal("SetEndtime failed")
	}
	if !strings.Contains(r.String(), "endtime") {
		t.Fatalf("String() = %q", r.String())
	}
	calls := 0
	r.SetCallback(func(*Req[int]) { calls++ })
	if err := r.Poll(ev); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("timed out early")
	}
	if r.State() != ReqTimedOut || calls != 1 {
		t.Fatalf("state %v, %d calls", r.State(), calls)
	}
	r.Done(9) // the implementation finishing late: ignored
	if v, err := r.Result(); v != 0 || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Result = %d, %v", v, err)
	}
	if !slices.Equal(states, []ReqState{ReqTimedOut, ReqReceived}) {
		t.Fatalf("cleanup states %v", states)
	}
	if r.SetEndtime(ev, time.Now()) {
		t.Fatal("SetEndtime on a received request succeeded")
	}
	if err := ev.LoopWait(); err != nil { // the hour-long timer is gone
		t.Fatal(err)
	}

	// Finishing first frees the end-time timer.
	r2 := NewReq[int](&ev.Scope)
	r2.SetEndtime(ev, time.Now().Add(time.Hour))
	r2.Done(1)
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if r2.State() != ReqDone {
		t.Fatalf("state = %v", r2.State())
	}
}

func TestReqCancel(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	if r.Cancel() {
		t.Fatal("Cancel without a cancel function returned true")
	}
	cancels := 0
	r.SetCancelFn(func(r *Req[int]) bool {
		cancels++
		return r.Error(ErrCancelled)
	})
	calls := 0
	r.SetCallback(func(*Req[int]) { calls++ })
	if !r.Cancel() {
		t.Fatal("Cancel returned false")
	}
	if r.State() != ReqUserError || calls != 1 {
		t.Fatalf("state %v, %d calls", r.State(), calls)
	}
	if r.Cancel() || cancels != 1 {
		t.Fatalf("Cancel on a finished request called the cancel function (%d)", cancels)
	}
	if _, err := r.Result(); !errors.Is(err, ErrCancelled) {
		t.Fatalf("Result error = %v", err)
	}

	// A cancel function that declines.
	r2 := NewReq[int](&ev.Scope)
	r2.SetCancelFn(func(*Req[int]) bool { return false })
	if r2.Cancel() || !r2.IsInProgress() {
		t.Fatal("declined cancel finished the request")
	}
}

func TestReqCleanupFn(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	type rec struct{ states []ReqState }
	track := func(r *Req[int]) *rec {
		x := &rec{}
		r.SetCleanupFn(func(_ *Req[int], s ReqState) { x.states = append(x.states, s) })
		return x
	}
	cases := []struct {
		name string
		run  func(r *Req[int])
		want []ReqState
	}{
		{"done", func(r *Req[int]) { r.Done(1); r.Result(); r.Free() }, []ReqState{ReqDone, ReqReceived}},
		{"error", func(r *Req[int]) { r.Error(errors.New("x")); r.Result() }, []ReqState{ReqUserError, ReqReceived}},
		{"free", func(r *Req[int]) { r.Free(); r.Free() }, []ReqState{ReqReceived}},
		{"finished-free", func(r *Req[int]) { r.Done(1); r.Free() }, []ReqState{ReqDone, ReqReceived}},
		{"scope", func(r *Req[int]) {
			s := r.link.owner
			s.Free()
		}, []ReqState{ReqReceived}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReq[int](ev.NewScope())
			x := track(r)
			c.run(r)
			if !slices.Equal(x.states, c.want) {
				t.Fatalf("cleanup states %v, want %v", x.states, c.want)
			}
		})
	}

	// Set after finishing: not called for the state it was set in.
	r := NewReq[int](&ev.Scope)
	r.Done(1)
	x := track(r)
	r.Result()
	if !slices.Equal(x.states, []ReqState{ReqReceived}) {
		t.Fatalf("cleanup states %v", x.states)
	}

	// The scope is still alive while the cleanup function runs.
	r2 := NewReq[int](&ev.Scope)
	sub := NewReq[int](r2.Scope())
	var subAlive bool
	r2.SetCleanupFn(func(r *Req[int], s ReqState) {
		if s == ReqReceived {
			subAlive = sub.IsInProgress() && !r.Scope().Freed()
		}
	})
	r2.Free()
	if !subAlive {
		t.Fatal("scope freed before the cleanup function ran")
	}
	if sub.State() != ReqReceived {
		t.Fatal("sub-request survived its parent")
	}
}

func TestReqScopeLivesUntilResult(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	sc := r.Scope()
	r.Done(1)
	if sc.Freed() {
		t.Fatal("scope freed when the request finished")
	}
	ran := false
	sc.NewImmediate().Schedule(func(*Context, *Immediate) { ran = true })
	loopUntil(t, ev, func() bool { return ran })
	fired := false
	sc.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { fired = true })
	if _, err := r.Result(); err != nil {
		t.Fatal(err)
	}
	if !sc.Freed() || !r.Scope().Freed() {
		t.Fatal("scope alive after Result")
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if fired {
		t.Fatal("a timer of the received request's scope fired")
	}
}

func TestReqFreedWithOwner(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	s := ev.NewScope()
	r := NewReq[int](s)
	fired := false
	r.Scope().AddTimer(time.Now(), func(*Context, *Timer, time.Time) { fired = true; r.Done(1) })
	calls := 0
	r.SetCallback(func(*Req[int]) { calls++ })
	s.Free()
	if r.State() != ReqReceived {
		t.Fatalf("state = %v", r.State())
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if fired || calls != 0 {
		t.Fatal("freed request ran")
	}

	// On a freed scope: born dead.
	r2 := NewReq[int](s)
	if !r2.Scope().Freed() || r2.SetEndtime(ev, time.Now()) {
		t.Fatal("request on a freed scope is alive")
	}
}

func TestReqContextFree(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	r := NewReq[int](&ev.Scope)
	r.SetEndtime(ev, time.Now().Add(time.Hour))
	r.Scope().AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
	var states []ReqState
	r.SetCleanupFn(func(_ *Req[int], s ReqState) { states = append(states, s) })
	posted := doneSend(&ev.Scope, 1)
	ev.Free()
	if r.State() != ReqReceived || posted.State() != ReqReceived {
		t.Fatalf("states after Context.Free: %v, %v", r.State(), posted.State())
	}
	if !slices.Equal(states, []ReqState{ReqReceived}) {
		t.Fatalf("cleanup states %v", states)
	}
	if err := r.Poll(ev); err != nil {
		t.Fatalf("Poll of a received request: %v", err)
	}
}

func TestReqFreeInsideCallback(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := doneSend(&ev.Scope, 1)
	calls := 0
	r.SetCallback(func(r *Req[int]) {
		calls++
		r.Free()
		r.Free()
	})
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || r.State() != ReqReceived {
		t.Fatalf("calls %d, state %v", calls, r.State())
	}
	if _, err := r.Result(); err == nil {
		t.Fatal("Result after Free returned no error")
	}
}

func TestReqPollNoEvents(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	r := NewReq[int](&ev.Scope)
	if err := r.Poll(ev); !errors.Is(err, ErrNoEvents) {
		t.Fatalf("Poll of a request nothing can finish: %v", err)
	}
}

// TestReqCallbackExactlyOnceRaces finishes each request from several
// sources due at the same instant (a sub-timer calling Done, one calling
// Error, one calling Cancel, its end time, and a deferred Post with Done),
// in every order, and checks that each callback runs exactly once, with
// the result of whichever came first.
func TestReqCallbackExactlyOnceRaces(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	boom := errors.New("boom")
	orders := permutations([]string{"done", "error", "cancel", "timeout", "post"})
	calls := make([]int, len(orders))
	winner := make([]string, len(orders))
	pending := len(orders)
	at := time.Now().Add(5 * time.Millisecond)
	for i, order := range orders {
		r := NewReq[string](&ev.Scope)
		r.SetCancelFn(func(r *Req[string]) bool { return r.Error(ErrCancelled) })
		// Timers due at the same instant fire in the order added.
		for _, src := range order {
			switch src {
			case "done":
				r.Scope().AddTimer(at, func(*Context, *Timer, time.Time) {
					if r.IsInProgress() {
						r.Done("done")
					}
				})
			case "error":
				r.Scope().AddTimer(at, func(*Context, *Timer, time.Time) {
					if r.IsInProgress() {
						r.Error(boom)
					}
				})
			case "cancel":
				r.Scope().AddTimer(at, func(*Context, *Timer, time.Time) { r.Cancel() })
			case "timeout":
				r.SetEndtime(ev, at)
			case "post":
				r.Scope().AddTimer(at, func(*Context, *Timer, time.Time) {
					if r.IsInProgress() {
						r.Post(ev)
						r.Done("post")
					}
				})
			}
		}
		r.SetCallback(func(r *Req[string]) {
			calls[i]++
			pending--
			state := r.State()
			v, err := r.Result()
			switch {
			case state == ReqTimedOut && errors.Is(err, ErrTimeout):
				winner[i] = "timeout"
			case errors.Is(err, ErrCancelled):
				winner[i] = "cancel"
			case errors.Is(err, boom):
				winner[i] = "error"
			case err == nil:
				winner[i] = v
			}
		})
	}
	loopUntil(t, ev, func() bool { return pending == 0 })
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	for i := range orders {
		if calls[i] != 1 {
			t.Fatalf("order %v: %d callbacks", orders[i], calls[i])
		}
		if winner[i] != orders[i][0] {
			t.Fatalf("order %v: %q won", orders[i], winner[i])
		}
	}
}

func permutations(s []string) [][]string {
	if len(s) <= 1 {
		return [][]string{slices.Clone(s)}
	}
	var out [][]string
	for i := range s {
		rest := slices.Concat(s[:i], s[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]string{s[i]}, p...))
		}
	}
	return out
}

// stepsSend is a request whose work is three Wakeup sub-requests in a
// row, each started from the previous one's callback, under an end time.
// It reports how many steps completed.
func stepsSend(s *Scope, step time.Duration, timeout time.Duration, subs *[]*Req[struct{}]) *Req[int] {
	r := NewReq[int](s)
	done := 0
	var next func()
	next = func() {
		sub := Wakeup(r.Scope(), time.Now().Add(step))
		*subs = append(*subs, sub)
		sub.SetCallback(func(sub *Req[struct{}]) {
			if _, err := sub.Result(); r.Error(err) {
				return
			}
			done++
			if done == 3 {
				r.Done(done)
				return
			}
			next()
		})
	}
	next()
	r.SetEndtime(s.Context(), time.Now().Add(timeout))
	return r
}

func TestReqNestedCompletes(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	var subs []*Req[struct{}]
	r := stepsSend(&ev.Scope, time.Millisecond, time.Minute, &subs)
	if err := r.Poll(ev); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Result(); v != 3 || err != nil {
		t.Fatalf("Result = %d, %v", v, err)
	}
	if len(subs) != 3 {
		t.Fatalf("%d sub-requests", len(subs))
	}
	if err := ev.LoopWait(); err != nil { // the minute-long end time is gone
		t.Fatal(err)
	}
}

func TestReqNestedTimesOut(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	var subs []*Req[struct{}]
	r := stepsSend(&ev.Scope, time.Hour, 10*time.Millisecond, &subs)
	if err := r.Poll(ev); err != nil {
		t.Fatal(err)
	}
	if subs[0].State() != ReqInProgress {
		t.Fatal("sub-request finished with its parent still holding its scope")
	}
	if _, err := r.Result(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Result error = %v", err)
	}
	if subs[0].State() != ReqReceived {
		t.Fatal("sub-request outlived the received parent")
	}
	if err := ev.LoopWait(); err != nil { // no hour-long timer left
		t.Fatal(err)
	}
}

func TestReqNestedFreedEarly(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	var subs []*Req[struct{}]
	r := stepsSend(&ev.Scope, 2*time.Millisecond, time.Hour, &subs)
	var subStates []ReqState
	loopUntil(t, ev, func() bool { return len(subs) == 2 }) // in the second step
	for _, sub := range subs {
		sub.SetCleanupFn(func(_ *Req[struct{}], s ReqState) { subStates = append(subStates, s) })
	}
	calls := 0
	r.SetCallback(func(*Req[int]) { calls++ })
	r.Free()
	if r.State() != ReqReceived || subs[1].State() != ReqReceived {
		t.Fatalf("states %v, %v", r.State(), subs[1].State())
	}
	if !slices.Equal(subStates, []ReqState{ReqReceived}) {
		t.Fatalf("sub cleanup states %v", subStates)
	}
	start := time.Now()
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("LoopWait took %v: sub-events survived the free", d)
	}
	if len(subs) != 2 || calls != 0 {
		t.Fatalf("%d sub-requests, %d calls after the free", len(subs), calls)
	}
}

func TestWakeup(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	start := time.Now()
	at := start.Add(15 * time.Millisecond)
	r := Wakeup(&ev.Scope, at)
	past := Wakeup(&ev.Scope, start.Add(-time.Second))
	var order []string
	r.SetCallback(func(*Req[struct{}]) { order = append(order, "later") })
	past.SetCallback(func(*Req[struct{}]) { order = append(order, "past") })
	if err := r.Poll(ev); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(at) {
		t.Fatal("woke up early")
	}
	if _, err := r.Result(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"past", "later"}) {
		t.Fatalf("order %v", order)
	}
	// Freed before it is due: never fires.
	w := Wakeup(&ev.Scope, time.Now().Add(time.Hour))
	w.Free()
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReqChain is bench/SPEC.md's req_chain: a request finished at
// once and delivered through Post; its callback receives it and starts the
// next one. One op is one request created, finished, called back and
// received.
func BenchmarkReqChain(b *testing.B) {
	ev := newReqTestContext(b)
	count, errs := 0, 0
	var onDone func(r *Req[int])
	start := func() { doneSend(&ev.Scope, count).SetCallback(onDone) }
	onDone = func(r *Req[int]) {
		if v, err := r.Result(); err != nil || v != count {
			errs++
		}
		count++
		if count < b.N {
			start()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start()
	for count < b.N {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if errs != 0 {
		b.Fatalf("%d bad results", errs)
	}
}

// BenchmarkReqCancelCleanup is a request as a stream sets it up: a cancel
// and a cleanup function, finished and received. One op is one request.
func BenchmarkReqCancelCleanup(b *testing.B) {
	ev := newReqTestContext(b)
	cancel := func(*Req[int]) bool { return false }
	cleanup := func(*Req[int], ReqState) {}
	b.ReportAllocs()
	for b.Loop() {
		r := NewReq[int](&ev.Scope)
		r.SetCancelFn(cancel)
		r.SetCleanupFn(cleanup)
		r.Done(1)
		if _, err := r.Result(); err != nil {
			b.Fatal(err)
		}
	}
}
