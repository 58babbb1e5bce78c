package tevent

// timerHeap is a 4-ary min-heap of armed timers ordered by deadline, then
// by the order they were armed (seq), so equal deadlines fire in order.
//
// The keys live in the heap array beside the timer pointer, so sifting
// compares without touching the timers. Freeing or re-arming a timer does
// not search the heap: it changes the timer's seq (0 when disarmed), which
// turns its old entry stale. Stale entries are dropped when they reach the
// top, where the timer is touched anyway to fire it, and the array is
// compacted when they outnumber the live ones. So a sift never writes to a
// timer (no cache miss per heap level, unlike an index-tracking heap),
// freeing costs O(1), and adding and firing cost O(log n) amortized.
type timerHeap struct {
	h     []heapEntry
	live  int // entries whose timer is armed with their seq
	stale int // entries left behind by freed or re-armed timers
}

type heapEntry struct {
	when int64
	seq  uint64
	t    *Timer
}

func (a *heapEntry) less(b *heapEntry) bool {
	return a.when < b.when || (a.when == b.when && a.seq < b.seq)
}

func (e *heapEntry) isStale() bool { return e.t.seq != e.seq }

// push arms t, whose seq is set, for when (monotonic ns since
// clockBase). The deadline lives only in the heap entry.
func (th *timerHeap) push(t *Timer, when int64) {
	th.h = append(th.h, heapEntry{when, t.seq, t})
	th.up(len(th.h) - 1)
	th.live++
}

// disarm records that armed timer t's entry went stale: t was freed, or
// is about to be re-armed with a new seq. The caller changes t.seq.
func (th *timerHeap) disarm(t *Timer) {
	th.live--
	th.stale++
	if th.stale > 64 && th.stale > th.live {
		th.compact()
	}
}

// peek returns the earliest live entry, or nil.
func (th *timerHeap) peek() *heapEntry {
	for len(th.h) > 0 {
		if !th.h[0].isStale() {
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
		if e := th.h[i]; !e.isStale() {
			h = append(h, e)
		}
	}
	clear(th.h[len(h):])
	th.h = h
	th.stale = 0
	if len(h) > 1 {
		for i := (len(h) - 2) / 4; i >= 0; i-- {
			th.down(i)
		}
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
