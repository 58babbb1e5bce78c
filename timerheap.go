package tevent

// timerHeap is a 4-ary min-heap of armed timers ordered by deadline, then
// by the order they were armed (seq), so equal deadlines fire in order.
//
// The keys live in the heap array beside the timer pointer, so sifting
// compares without touching the timers. An armed timer holds a slot in a
// compact array that records the seq it is armed with; freeing or
// re-arming a timer does not search the heap, it only clears or changes
// its slot, which turns the old entry stale. Stale entries are dropped when
// they reach the top, and the array is compacted when they outnumber the
// live ones; telling them apart reads the slot array, never the timers. So
// neither a sift nor a compaction touches scattered timers (no cache miss
// per heap level, unlike an index-tracking heap), freeing costs O(1), and
// adding and firing cost O(log n) amortized.
type timerHeap struct {
	h     []heapEntry
	slots []uint64 // seq each slot's timer is armed with; 0 when free
	free  []int32  // free slots
	live  int      // entries whose timer is armed with their seq
	stale int      // entries left behind by freed or re-armed timers
}

type heapEntry struct {
	when int64
	seq  uint64
	t    *Timer
	slot int32
}

func (a *heapEntry) less(b *heapEntry) bool {
	return a.when < b.when || (a.when == b.when && a.seq < b.seq)
}

func (th *timerHeap) isStale(e *heapEntry) bool { return th.slots[e.slot] != e.seq }

// push arms t, whose when and seq are set.
func (th *timerHeap) push(t *Timer) {
	var slot int32
	if n := len(th.free); n > 0 {
		slot = th.free[n-1]
		th.free = th.free[:n-1]
	} else {
		slot = int32(len(th.slots))
		th.slots = append(th.slots, 0)
	}
	th.slots[slot] = t.seq
	t.slot = slot
	th.h = append(th.h, heapEntry{t.when, t.seq, t, slot})
	th.up(len(th.h) - 1)
	th.live++
}

// release frees the slot of a timer that is no longer armed.
func (th *timerHeap) release(slot int32) {
	th.slots[slot] = 0
	th.free = append(th.free, slot)
}

// disarm turns the entry of armed timer t stale: it was freed, or is
// about to be re-armed.
func (th *timerHeap) disarm(t *Timer) {
	th.release(t.slot)
	th.live--
	th.stale++
	if th.stale > 64 && th.stale > th.live {
		th.compact()
	}
}

// peek returns the earliest live entry, or nil.
func (th *timerHeap) peek() *heapEntry {
	for len(th.h) > 0 {
		if !th.isStale(&th.h[0]) {
			return &th.h[0]
		}
		th.popTop()
		th.stale--
	}
	return nil
}

// popLive removes the top entry, which peek returned, and disarms its
// timer.
func (th *timerHeap) popLive() {
	th.release(th.h[0].slot)
	th.popTop()
	th.live--
}

func (th *timerHeap) popTop() {
	h := th.h
	last := len(h) - 1
	h[0] = h[last]
	h[last] = heapEntry{}
	th.h = h[:last]
	if last > 0 {
		th.down(0)
	}
}

// compact drops every stale entry and rebuilds the heap in O(n).
func (th *timerHeap) compact() {
	h := th.h[:0]
	for i := range th.h {
		if e := th.h[i]; !th.isStale(&e) {
			h = append(h, e)
		}
	}
	clear(th.h[len(h):])
	th.h = h
	th.stale = 0
	for i := (len(h) - 2) / 4; i >= 0; i-- {
		th.down(i)
	}
}

func (th *timerHeap) up(i int) {
	h := th.h
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.less(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (th *timerHeap) down(i int) {
	h := th.h
	n := len(h)
	e := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		end := c + 4
		if end > n {
			end = n
		}
		for j := c + 1; j < end; j++ {
			if h[j].less(&h[m]) {
				m = j
			}
		}
		if !h[m].less(&e) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = e
}
