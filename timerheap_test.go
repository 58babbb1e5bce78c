package tevent

import (
	"testing"
	"time"
)

// TestTimerHeapCompactToEmpty: re-arming one timer again and again leaves
// stale entries behind until a compaction runs while that timer is
// between its old entry and its new one, so compaction finds nothing live
// (found by FuzzLoop: compacting to nothing indexed an empty array).
func TestTimerHeapCompactToEmpty(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	fired := 0
	tm := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { fired++ })
	for i := 0; i < 200; i++ {
		tm.Update(time.Now().Add(time.Hour))
	}
	if ev.timers.live != 1 || len(ev.timers.h) > 66 {
		t.Fatalf("after 200 updates: live=%d entries=%d", ev.timers.live, len(ev.timers.h))
	}
	tm.Update(time.Now().Add(-time.Second))
	loopOnce(t, ev)
	if fired != 1 {
		t.Fatalf("re-armed timer fired %d times, want 1", fired)
	}
}
