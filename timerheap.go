package tevent

// timerHeap is a 4-ary min-heap of timers ordered by deadline, then by
// the order they were added (seq), so equal deadlines fire in order. Each
// timer keeps its index, so removal and update cost O(log n).
type timerHeap []*Timer

func timerLess(a, b *Timer) bool {
	if a.when != b.when {
		return a.when < b.when
	}
	return a.seq < b.seq
}

func (h *timerHeap) push(t *Timer) {
	*h = append(*h, t)
	t.index = len(*h) - 1
	h.up(t.index)
}

func (h *timerHeap) up(i int) {
	s := *h
	t := s[i]
	for i > 0 {
		p := (i - 1) / 4
		if !timerLess(t, s[p]) {
			break
		}
		s[i] = s[p]
		s[i].index = i
		i = p
	}
	s[i] = t
	t.index = i
}

func (h *timerHeap) down(i int) {
	s := *h
	n := len(s)
	t := s[i]
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
			if timerLess(s[j], s[m]) {
				m = j
			}
		}
		if !timerLess(s[m], t) {
			break
		}
		s[i] = s[m]
		s[i].index = i
		i = m
	}
	s[i] = t
	t.index = i
}

// remove takes t out of the heap.
func (h *timerHeap) remove(t *Timer) {
	s := *h
	i := t.index
	last := len(s) - 1
	t.index = -1
	if i != last {
		s[i] = s[last]
		s[i].index = i
	}
	s[last] = nil
	*h = s[:last]
	if i != last {
		h.fix(i)
	}
}

func (h *timerHeap) fix(i int) {
	s := *h
	if i > 0 && timerLess(s[i], s[(i-1)/4]) {
		h.up(i)
	} else {
		h.down(i)
	}
}
