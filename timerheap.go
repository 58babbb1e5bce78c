package tevent

import (
	"cmp"
	"slices"
)

// timerHeap is a 4-ary min-heap of armed timers ordered by deadline, then
// by the order they were armed (seq), so equal deadlines fire in order.
//
// The keys live in the heap array beside the timer pointer, so sifting
// compares without touching timers. An armed timer also owns a slot in a
// dense side table (4 bytes a slot) that records the seq of its live
// entry. Freeing or re-arming a timer does not search the heap: it
// releases the slot, which turns the old entry stale (its seq no longer
// matches the slot's). Stale entries are dropped when they reach the top,
// and the array is compacted when they outnumber the live ones (and are
// more than 64). So
// neither a sift nor a compaction touches a timer (no cache miss per heap
// level or per entry), freeing costs O(1), and adding and firing cost
// O(log n) amortized. Only firing touches the timer, to call it.
type timerHeap struct {
	h         []heapEntry
	slots     []uint32 // the seq of each slot's live entry; 0 when free
	freeSlots []uint32
	seq       uint32 // the last seq handed out
	live      int    // entries whose slot is still theirs
	stale     int    // entries left behind by freed or re-armed timers
}

// heapEntry is 24 bytes: the keys, the timer to fire, and its slot.
type heapEntry struct {
	when int64 // monotonic ns since clockBase
	t    *Timer
	seq  uint32
	slot uint32
}

// seqLimit is the last seq handed out before renumbering; a variable so
// that tests can make renumbering happen.
var seqLimit uint32 = 1<<32 - 1

func (a *heapEntry) less(b *heapEntry) bool {
	return a.when < b.when || (a.when == b.when && a.seq < b.seq)
}

func (th *timerHeap) isStale(e *heapEntry) bool { return th.slots[e.slot] != e.seq }

// push arms t for when, giving it a slot.
func (th *timerHeap) push(t *Timer, when int64) {
	if th.seq >= seqLimit {
		th.renumber()
	}
	th.seq++
	var slot uint32
	if n := len(th.freeSlots); n > 0 {
		slot = th.freeSlots[n-1]
		th.freeSlots = th.freeSlots[:n-1]
	} else {
		slot = uint32(len(th.slots))
		th.slots = append(th.slots, 0)
	}
	th.slots[slot] = th.seq
	t.slot = slot
	th.h = append(th.h, heapEntry{when, t, th.seq, slot})
	th.up(len(th.h) - 1)
	th.live++
}

// release frees a slot, turning its entry stale.
func (th *timerHeap) release(slot uint32) {
	th.slots[slot] = 0
	th.freeSlots = append(th.freeSlots, slot)
}

// disarm releases armed timer t's slot.
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

// popLive removes the top entry, which peek returned, releases its slot
// and returns its timer.
func (th *timerHeap) popLive() *Timer {
	e := &th.h[0]
	t := e.t
	th.release(e.slot)
	th.popTop()
	th.live--
	return t
}

// popTop removes the top entry. The last entry, which replaces it,
// almost always belongs near the bottom, so the hole left at the top
// first walks down along the smallest children to a leaf (one comparison
// less per level than a plain sift-down) and the entry then rises from
// there (Floyd's bottom-up heap pop).
func (th *timerHeap) popTop() {
	h := th.h
	last := len(h) - 1
	e := h[last]
	h[last].t = nil
	h = h[:last]
	th.h = h
	if last == 0 {
		return
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= last {
			break
		}
		var m int
		if c+4 <= last && last <= branchlessMax {
			// The least of four, with conditional moves rather than
			// branches (deadlines come in no predictable order): a
			// tournament of two pairs, then their winners.
			k := h[c : c+4 : c+4]
			a := lessIndex(k, 0, 1)
			b := lessIndex(k, 2, 3)
			m = c + lessIndex(k, a, b)
		} else {
			m = c
			for j := c + 1; j < min(c+4, last); j++ {
				if h[j].less(&h[m]) {
					m = j
				}
			}
		}
		h[i] = h[m]
		i = m
	}
	h[i] = e
	th.up(i)
}

// compact drops every stale entry and rebuilds the heap in O(n). It reads
// the dense slot table, never a timer.
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
	if len(h) > 1 {
		for i := (len(h) - 2) / 4; i >= 0; i-- {
			th.down(i)
		}
	}
}

// renumber gives the live entries the seqs 1..live in their firing order
// once the 32-bit seq is used up (after 4 billion arms), keeping the
// order of equal deadlines. A sorted array is a valid heap. (The order
// in which the timers were armed is lost, which only the order
// Context.Free detaches them in could show.)
func (th *timerHeap) renumber() {
	th.compact()
	slices.SortFunc(th.h, func(a, b heapEntry) int {
		if a.less(&b) {
			return -1
		}
		if b.less(&a) {
			return 1
		}
		return 0
	})
	for i := range th.h {
		e := &th.h[i]
		e.seq = uint32(i + 1)
		th.slots[e.slot] = e.seq
	}
	th.seq = uint32(len(th.h))
}

// armedNewestFirst returns the armed timers, most recently armed first.
func (th *timerHeap) armedNewestFirst() []*Timer {
	var live []heapEntry
	for i := range th.h {
		if e := th.h[i]; !th.isStale(&e) {
			live = append(live, e)
		}
	}
	slices.SortFunc(live, func(a, b heapEntry) int { return cmp.Compare(b.seq, a.seq) })
	ts := make([]*Timer, len(live))
	for i := range live {
		ts[i] = live[i].t
	}
	return ts
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

// branchlessMax is the largest heap (counted after the pop) whose pops
// pick children without branches. That wins while the array is in cache (about 25% a pop in a
// heap of 10,000), but a larger heap waits on memory, and there a
// predicted branch lets the processor fetch the next level early.
const branchlessMax = 1 << 15

// lessIndex returns i if h[i] sorts before h[j], else j, without a branch.
func lessIndex(h []heapEntry, i, j int) int {
	x, y := &h[i], &h[j]
	lt := b2i(y.when < x.when) | (b2i(y.when == x.when) & b2i(y.seq < x.seq))
	// lt is 1 when h[j] is less: pick j.
	return i + (j-i)*lt
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
