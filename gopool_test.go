package tevent

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// waitFor waits, with a deadline, for a channel that another goroutine
// closes.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestGoTenThousandOnPoolOfFour(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t, WithPoolSize(4))
	defer ev.Free() // before goleak looks: it waits for the pool goroutines
	const n = 10000
	var running, maxRunning atomic.Int32
	delivered := make([]int, n)
	received := 0
	for i := range n {
		r := Go(&ev.Scope, func(ctx context.Context) (int, error) {
			cur := running.Add(1)
			for {
				m := maxRunning.Load()
				if cur <= m || maxRunning.CompareAndSwap(m, cur) {
					break
				}
			}
			defer running.Add(-1)
			if i%1000 == 999 {
				return 0, errors.New("odd one")
			}
			return i * 2, nil
		})
		r.SetCallback(func(r *Req[int]) {
			delivered[i]++
			received++
			v, err := r.Result()
			if i%1000 == 999 {
				if err == nil || err.Error() != "odd one" {
					t.Errorf("job %d: error %v", i, err)
				}
			} else if v != i*2 || err != nil {
				t.Errorf("job %d: Result = %d, %v", i, v, err)
			}
		})
	}
	if received != 0 {
		t.Fatal("a result was delivered inside Go")
	}
	if err := ev.LoopWait(); err != nil { // returns once every result is in
		t.Fatal(err)
	}
	if received != n {
		t.Fatalf("%d of %d results", received, n)
	}
	for i, c := range delivered {
		if c != 1 {
			t.Fatalf("job %d delivered %d times", i, c)
		}
	}
	if m := maxRunning.Load(); m > 4 || m < 1 {
		t.Fatalf("%d jobs ran at once on a pool of 4", m)
	}
	ev.loop.pool.mu.Lock()
	workers := ev.loop.pool.workers
	ev.loop.pool.mu.Unlock()
	if workers > 4 {
		t.Fatalf("%d pool goroutines", workers)
	}
	ev.Free() // waits for the pool goroutines
	if ev.loop.pool.workers != 0 {
		t.Fatalf("%d pool goroutines after Free", ev.loop.pool.workers)
	}
}

func TestGoFullPoolQueues(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t, WithPoolSize(2))
	defer ev.Free() // before goleak looks: it waits for the pool goroutines
	release := make(chan struct{})
	var started atomic.Int32
	reqs := make([]*Req[int], 6)
	for i := range reqs {
		reqs[i] = Go(&ev.Scope, func(ctx context.Context) (int, error) {
			started.Add(1)
			<-release
			return i, nil
		})
	}
	ev.loop.pool.mu.Lock()
	workers := ev.loop.pool.workers
	ev.loop.pool.mu.Unlock()
	if workers != 2 {
		t.Fatalf("%d pool goroutines for 6 jobs on a pool of 2", workers)
	}
	close(release)
	for i, r := range reqs {
		if err := r.Poll(ev); err != nil {
			t.Fatal(err)
		}
		if v, err := r.Result(); v != i || err != nil {
			t.Fatalf("job %d: %d, %v", i, v, err)
		}
	}
	if started.Load() != 6 {
		t.Fatalf("%d jobs started", started.Load())
	}
}

func TestGoCancel(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t, WithPoolSize(1))
	defer ev.Free() // before goleak looks: it waits for the pool goroutines
	inside := make(chan struct{})
	sawCancel := make(chan struct{})
	r := Go(&ev.Scope, func(ctx context.Context) (int, error) {
		close(inside)
		<-ctx.Done()
		close(sawCancel)
		return 0, ctx.Err()
	})
	// Queued behind r on a pool of one: cancelled before it starts.
	var ranQueued atomic.Bool
	queued := Go(&ev.Scope, func(ctx context.Context) (int, error) {
		ranQueued.Store(true)
		return 1, nil
	})
	waitFor(t, inside, "the job to start")
	if !queued.Cancel() {
		t.Fatal("Cancel of a queued job returned false")
	}
	if _, err := queued.Result(); !errors.Is(err, ErrCancelled) {
		t.Fatalf("queued Result error %v", err)
	}
	calls := 0
	r.SetCallback(func(*Req[int]) { calls++ })
	if !r.Cancel() {
		t.Fatal("Cancel returned false")
	}
	if calls != 1 || r.State() != ReqUserError {
		t.Fatalf("after Cancel: %d calls, state %v", calls, r.State())
	}
	waitFor(t, sawCancel, "ctx to be cancelled")
	if _, err := r.Result(); !errors.Is(err, ErrCancelled) {
		t.Fatalf("Result error %v", err)
	}
	if err := ev.LoopWait(); err != nil { // no live proxy left
		t.Fatal(err)
	}
	ev.Free()
	if ranQueued.Load() {
		t.Fatal("a job cancelled before it started ran")
	}
}

func TestGoFreeCancelsCtx(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	defer ev.Free() // before goleak looks: it waits for the pool goroutines
	inside := make(chan struct{})
	sawCancel := make(chan struct{})
	s := ev.NewScope()
	r := Go(s, func(ctx context.Context) (string, error) {
		close(inside)
		<-ctx.Done()
		close(sawCancel)
		return "late", nil
	})
	calls := 0
	r.SetCallback(func(*Req[string]) { calls++ })
	waitFor(t, inside, "the job to start")
	s.Free()
	waitFor(t, sawCancel, "ctx to be cancelled")
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatal("freed Go request was called back")
	}
}

func TestGoEndtimeCancelsCtx(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	defer ev.Free() // before goleak looks: it waits for the pool goroutines
	sawCancel := make(chan struct{})
	r := Go(&ev.Scope, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		close(sawCancel)
		return 0, ctx.Err()
	})
	r.SetEndtime(ev, time.Now().Add(10*time.Millisecond))
	if err := r.Poll(ev); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Result(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Result error %v", err)
	}
	waitFor(t, sawCancel, "ctx to be cancelled")
}

func TestGoContextFreeStopsPool(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev, err := New(WithPoolSize(2))
	if err != nil {
		t.Fatal(err)
	}
	inside := make(chan struct{}, 2)
	var ran atomic.Int32
	for range 5 {
		Go(&ev.Scope, func(ctx context.Context) (int, error) {
			ran.Add(1)
			inside <- struct{}{}
			<-ctx.Done()
			return 0, ctx.Err()
		})
	}
	waitFor(t, inside, "a job to start")
	waitFor(t, inside, "a second job to start")
	ev.Free() // cancels the running jobs and waits for them
	if n := ran.Load(); n != 2 {
		t.Fatalf("%d jobs ran; the queued ones should have been dropped", n)
	}
	r := Go(&ev.Scope, func(context.Context) (int, error) { return 1, nil })
	if _, err := r.Result(); !errors.Is(err, ErrFreed) {
		t.Fatalf("Go on a freed context: %v", err)
	}
}

func TestGoNilFnPanics(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t)
	defer ev.Free() // before goleak looks: it waits for the pool goroutines
	mustPanic(t, func() { Go[int](&ev.Scope, nil) })
}

func TestGoSequentialReusesProxy(t *testing.T) {
	defer goleak.VerifyNone(t)
	ev := newReqTestContext(t, WithPoolSize(1))
	defer ev.Free() // before goleak looks: it waits for the pool goroutines
	for i := range 50 {
		r := Go(&ev.Scope, func(context.Context) (int, error) { return i, nil })
		if err := r.Poll(ev); err != nil {
			t.Fatal(err)
		}
		if v, err := r.Result(); v != i || err != nil {
			t.Fatalf("job %d: %d, %v", i, v, err)
		}
		if ev.loop.pool.proxy != nil {
			t.Fatal("idle pool keeps its proxy")
		}
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
}
