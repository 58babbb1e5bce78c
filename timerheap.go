package tevent

// timerHeap is a 4-ary min-heap of timers ordered by deadline, then by the
// order they were added (seq), so equal deadlines fire in order. The keys
// live in the heap array beside the timer pointer, so sifting compares
// without touching the timers (as libev's heap does); each timer keeps its
// slot, so removal and update cost O(log n).
type timerHeap []heapEntry

type heapEntry struct {
	when int64
	seq  uint64
	t    *Timer
}

func (a *heapEntry) less(b *heapEntry) bool {
	return a.when < b.when || (a.when == b.when && a.seq < b.seq)
}

func (h *timerHeap) push(t *Timer) {
	*h = append(*h, heapEntry{t.when, t.seq, t})
	h.up(len(*h) - 1)
}

func (h timerHeap) up(i int) {
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.less(&h[p]) {
			break
		}
		h[i] = h[p]
		h[i].t.index = i
		i = p
	}
	h[i] = e
	e.t.index = i
}

func (h timerHeap) down(i int) {
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
		h[i].t.index = i
		i = m
	}
	h[i] = e
	e.t.index = i
}

// remove takes t out of the heap.
func (h *timerHeap) remove(t *Timer) {
	s := *h
	i := t.index
	last := len(s) - 1
	t.index = -1
	if i != last {
		s[i] = s[last]
	}
	s[last] = heapEntry{}
	s = s[:last]
	*h = s
	if i != last {
		s.fix(i)
	}
}

// update re-keys t, which is in the heap.
func (h timerHeap) update(t *Timer) {
	i := t.index
	h[i].when, h[i].seq = t.when, t.seq
	h.fix(i)
}

func (h timerHeap) fix(i int) {
	if i > 0 && h[i].less(&h[(i-1)/4]) {
		h.up(i)
	} else {
		h.down(i)
	}
}
