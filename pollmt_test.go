package tevent

import (
	"sync"
	"testing"
	"time"
)

// poll_mt's shared-lock pattern (issue 12, item 10): the loop holds a
// mutex except while it waits in the kernel. Everything the loop touches
// after the wait must come after TraceAfterWait has taken the lock back.

// TestPollMTNowUnderLock: another goroutine calls ev.Now() (which reads
// and fills the loop's cached clock) under the lock while the loop waits,
// right after waking it; under -race the loop must not touch the clock
// before it holds the lock again.
func TestPollMTNowUnderLock(t *testing.T) {
	if !slicesContains(Backends(), "poll_mt") {
		t.Skip("no poll_mt backend")
	}
	withBackend(t, "poll_mt", func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		const rounds = 50
		calls := 0
		started := make(chan struct{})
		loopDone := make(chan error, 1)
		go func() {
			mu.Lock()
			ev.SetTraceCallback(func(tp TracePoint) {
				switch tp {
				case TraceBeforeWait:
					mu.Unlock()
				case TraceAfterWait:
					mu.Lock()
				}
			})
			close(started)
			err := ev.LoopUntil(func() bool { return calls == rounds })
			ev.SetTraceCallback(nil)
			mu.Unlock()
			loopDone <- err
		}()
		<-started
		var last time.Time
		for i := 0; i < rounds; i++ {
			mu.Lock() // only while the loop waits
			if err := tp.Schedule(func(ev *Context) { calls++; ev.Now() }); err != nil {
				mu.Unlock()
				t.Fatal(err)
			}
			now := ev.Now() // the loop may be waking up right now
			if now.Before(last) {
				t.Errorf("Now went back: %v after %v", now, last)
			}
			last = now
			mu.Unlock()
		}
		if err := loopResult(t, "LoopUntil", loopDone); err != nil {
			t.Fatal(err)
		}
		tp.Free()
	})
}
