package tevent

import (
	"slices"
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
	if ev.loop.timers.live != 1 || len(ev.loop.timers.h) > 66 {
		t.Fatalf("after 200 updates: live=%d entries=%d", ev.loop.timers.live, len(ev.loop.timers.h))
	}
	tm.Update(time.Now().Add(-time.Second))
	loopOnce(t, ev)
	if fired != 1 {
		t.Fatalf("re-armed timer fired %d times, want 1", fired)
	}
}

// TestTimerHeapRenumber: when the 32-bit arm counter runs out the live
// entries are renumbered; equal deadlines must still fire in the order
// they were armed, and stale entries must stay dead.
func TestTimerHeapRenumber(t *testing.T) {
	old := seqLimit
	seqLimit = 50
	defer func() { seqLimit = old }()

	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	base := time.Now().Add(-time.Hour)
	var fired []int
	var want []int
	timers := map[int]*Timer{}
	// 300 arms over 5 deadlines: once 50 are live the counter is used up
	// again after each renumbering, so nearly every later arm renumbers;
	// every third timer is freed and every fifth re-armed to the last
	// deadline, so renumbering also meets stale entries.
	for i := 0; i < 300; i++ {
		i := i
		at := base.Add(time.Duration(i%5) * time.Second)
		timers[i] = ev.AddTimer(at, func(*Context, *Timer, time.Time) { fired = append(fired, i) })
	}
	type key struct{ slot, order int }
	order := map[int]key{}
	n := 0
	for i := 0; i < 300; i++ {
		order[i] = key{i % 5, n}
		n++
	}
	for i := 0; i < 300; i += 3 {
		timers[i].Free()
		delete(order, i)
	}
	for i := 1; i < 300; i += 5 {
		if _, ok := order[i]; !ok {
			continue
		}
		timers[i].Update(base.Add(4 * time.Second))
		order[i] = key{4, n}
		n++
	}
	for i := range order {
		want = append(want, i)
	}
	slices.SortFunc(want, func(a, b int) int {
		ka, kb := order[a], order[b]
		if ka.slot != kb.slot {
			return ka.slot - kb.slot
		}
		return ka.order - kb.order
	})
	// Checked before looping: a heap that lost its live entries would
	// leave the loop waiting for nothing.
	if got := len(ev.loop.timers.armedNewestFirst()); got != len(want) || ev.loop.timers.live != len(want) {
		t.Fatalf("after renumbering: %d armed entries, live=%d, want %d", got, ev.loop.timers.live, len(want))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(fired) < len(want) && time.Now().Before(deadline) {
		loopOnce(t, ev)
	}
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %v\nwant  %v", fired, want)
	}
	if ev.loop.timers.live != 0 {
		t.Fatalf("live=%d after all fired", ev.loop.timers.live)
	}
}
