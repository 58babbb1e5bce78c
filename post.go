package tevent

// postQueue delivers the callbacks of posted requests: one immediate per
// context serves them all, one request per loop turn, in the order they
// were posted, so that Post costs no allocation. Requests received or
// freed while posted are skipped.
type postQueue struct {
	im    *Immediate
	ring  []AnyReq // its length is a power of two
	head  int
	count int
}

func (pq *postQueue) push(ev *Context, r AnyReq) {
	if pq.count == len(pq.ring) {
		ring := make([]AnyReq, max(2*len(pq.ring), 16))
		k := copy(ring, pq.ring[pq.head:])
		copy(ring[k:], pq.ring[:pq.head])
		pq.ring, pq.head = ring, 0
	}
	pq.ring[(pq.head+pq.count)&(len(pq.ring)-1)] = r
	pq.count++
	if pq.im == nil {
		// The main context's own immediate: one made through a wrapper
		// would run inside its hooks and die with it.
		pq.im = ev.loop.main.NewImmediate()
	}
	if !pq.im.scheduled {
		pq.im.Schedule(deliverPosted)
	}
}

// deliverPosted is the post queue's immediate handler, run with the main
// context: a plain function rather than a method value, whose call would
// go through a wrapper.
func deliverPosted(ev *Context, _ *Immediate) { ev.loop.posts.deliverNext() }

// deliverNext calls back the first request still posted.
func (pq *postQueue) deliverNext() {
	for pq.count > 0 {
		r := pq.ring[pq.head]
		pq.ring[pq.head] = nil
		pq.head = (pq.head + 1) & (len(pq.ring) - 1)
		pq.count--
		if r.deliver(pq) {
			return
		}
	}
}
