package tevent

import (
	"cmp"
	"fmt"
	"slices"
)

// owned is anything a Scope can own: events, child scopes, requests,
// queues, proxies. freeOwned is called after the item has been unlinked
// from its owner.
type owned interface {
	freeOwned()
	ownerLink() *ownLink
}

// ownLink ties an owned item to its Scope: the scope and the item's slot
// in the scope's child table.
type ownLink struct {
	owner *Scope
	slot  int32
	seq   uint32 // low bits of the slot's seq when adopted
}

// kidSlot is one entry of a scope's child table. seq orders children by
// creation, so that they are freed newest first.
type kidSlot struct {
	item owned
	seq  uint64
}

// kidChunk is the number of slots of a chunk of a scope's child table
// (6 KiB, a size class of the allocator), and of its first part.
const kidChunk = 256

// kidChunks holds the slots of a child table beyond its first kidChunk,
// apart from the Scope (which every request with a scope of its own
// embeds) since few scopes need it.
type kidChunks struct {
	chunks []*[kidChunk]kidSlot
	n      int32 // slots in use, kidChunk on
}

// slots is the number of slots in use in the child table.
func (s *Scope) slots() int32 {
	n := int32(len(s.kids))
	if s.more != nil {
		n += s.more.n
	}
	return n
}

// kid returns the child table's slot.
func (s *Scope) kid(slot int32) *kidSlot {
	if slot < kidChunk {
		return &s.kids[slot]
	}
	i := slot - kidChunk
	return &s.more.chunks[i/kidChunk][i%kidChunk]
}

// newSlot makes room for one more slot at the end of the child table.
func (s *Scope) newSlot() int32 {
	if n := len(s.kids); n < kidChunk {
		s.kids = append(s.kids, kidSlot{})
		return int32(n)
	}
	m := s.more
	if m == nil {
		m = new(kidChunks)
		s.more = m
	}
	i := m.n
	if int(i/kidChunk) == len(m.chunks) {
		m.chunks = append(m.chunks, new([kidChunk]kidSlot))
	}
	m.n++
	return kidChunk + i
}

// Scope is a node of the ownership tree, the role talloc parents play in C
// tevent. Events, requests, queues, proxies and child scopes are created
// from a Scope and are freed with it, newest first. The Context embeds its
// root Scope.
//
// A Scope belongs to one Context and, like everything else of that
// context, is used only from the goroutine that drives it.
type Scope struct {
	ev   *Context
	link ownLink // in the parent scope
	// The child table: adopting and disowning touch only the item and its
	// slot (no neighbours, as a linked list would), and freed slots are
	// reused. Creation order lives in the slots' seq. Slots [0, kidChunk)
	// are in kids, which grows by append; the ones after in fixed chunks
	// of kidChunk slots (more), so that a scope with many children (a
	// server's scope, one fd event per connection) grows without copying
	// its table and leaving the old copies behind as garbage.
	kids        []kidSlot
	more        *kidChunks // slots from kidChunk on; nil until needed
	freeSlots   []int32
	kidSeq      uint64
	live        int
	reused      bool // a slot was reused: slot order is not creation order
	freed       bool
	destructors []func()
	req         *reqBase // the request whose own scope this is, if any
}

func (s *Scope) init(ev *Context) {
	s.ev = ev
}

// Owner is what can own requests and the other things made by NewReq, Go
// and Wakeup: a *Scope, or a *Context, which stands for its root scope.
// It cannot be implemented outside this package.
type Owner interface {
	ownerScope() *Scope
}

func (s *Scope) ownerScope() *Scope { return s }

// ownerScope is the context's root scope; nil for a nil *Context (the
// method promoted from Scope would fault on it instead).
func (ev *Context) ownerScope() *Scope {
	if ev == nil {
		return nil
	}
	return &ev.Scope
}

// ownerScope is o's scope; a nil owner panics with a message naming the
// function it was given to.
func ownerScope(o Owner, fn string) *Scope {
	if o != nil {
		if s := o.ownerScope(); s != nil {
			return s
		}
	}
	panic("tevent: " + fn + " called with a nil owner (a *Scope or *Context)")
}

// freedError is the error of an operation on a freed scope or context.
func (s *Scope) freedError(what string) error {
	if s.ev.freed {
		return fmt.Errorf("%w: %s on a freed context", ErrFreed, what)
	}
	return fmt.Errorf("%w: %s on a freed scope", ErrFreed, what)
}

// adopt makes item (whose link is l) the newest child of s. The caller
// checks that s is not freed.
func (s *Scope) adopt(l *ownLink, item owned) {
	var slot int32
	if n := len(s.freeSlots); n > 0 {
		slot = s.freeSlots[n-1]
		s.freeSlots = s.freeSlots[:n-1]
		s.reused = true
	} else {
		slot = s.newSlot()
	}
	s.kidSeq++
	*s.kid(slot) = kidSlot{item: item, seq: s.kidSeq}
	s.live++
	l.owner = s
	l.slot = slot
	l.seq = uint32(s.kidSeq)
}

// disown unlinks l from its owner, if it has one.
func disown(l *ownLink) {
	s := l.owner
	if s == nil {
		return
	}
	l.owner = nil
	if l.slot >= s.slots() {
		return // freed with its scope already
	}
	k := s.kid(l.slot)
	if k.item == nil || uint32(k.seq) != l.seq {
		return // freed with its scope already
	}
	*k = kidSlot{}
	s.live--
	if s.live == 0 && !s.freed {
		// Empty again: start over, so slot order is creation order.
		// (The chunks are kept, empty, as kids keeps its capacity.)
		s.kids = s.kids[:0]
		if s.more != nil {
			s.more.n = 0
		}
		s.freeSlots = s.freeSlots[:0]
		s.reused = false
		return
	}
	s.freeSlots = append(s.freeSlots, l.slot)
}

// Context returns the context this scope belongs to.
func (s *Scope) Context() *Context { return s.ev }

// NewScope returns a child scope of s: freed with s, or earlier with its
// own Free. A child of a freed scope is born freed.
func (s *Scope) NewScope() *Scope {
	c := &Scope{}
	c.init(s.ev)
	if s.freed {
		c.freed = true
		return c
	}
	s.adopt(&c.link, c)
	return c
}

// OnFree registers fn to run when s is freed, after its children are
// freed; destructors run last added first. On a freed scope fn runs at
// once.
func (s *Scope) OnFree(fn func()) {
	if fn == nil {
		panic("tevent: Scope.OnFree called with a nil function")
	}
	if s.freed {
		fn()
		return
	}
	s.destructors = append(s.destructors, fn)
}

// Freed reports whether s has been freed.
func (s *Scope) Freed() bool { return s.freed }

// Free frees everything s owns, newest first, then runs its destructors,
// last added first. Free is idempotent and may be called from any handler
// of the context, including one of an event that s owns.
func (s *Scope) Free() {
	if s.freed {
		return
	}
	if s.ev != nil && &s.ev.Scope == s {
		s.ev.Free()
		return
	}
	if s.ev.loop.handOver(s) {
		return
	}
	disown(&s.link)
	s.freeTree()
}

// freeTree marks s freed, frees its children and runs its destructors.
func (s *Scope) freeTree() {
	s.freed = true
	s.freeChildren()
	for len(s.destructors) > 0 {
		i := len(s.destructors) - 1
		fn := s.destructors[i]
		s.destructors[i] = nil
		s.destructors = s.destructors[:i]
		fn()
	}
	s.destructors = nil
}

func (s *Scope) freeChildren() {
	if s.live == 0 {
		s.kids, s.more, s.freeSlots = nil, nil, nil
		return
	}
	if !s.reused {
		// Slot order is creation order: free from the end.
		for i := s.slots() - 1; i >= 0; i-- {
			s.freeSlot(i, s.kid(i).seq)
		}
	} else {
		type kid struct {
			slot int32
			seq  uint64
		}
		order := make([]kid, 0, s.live)
		for i, n := int32(0), s.slots(); i < n; i++ {
			if k := s.kid(i); k.item != nil {
				order = append(order, kid{i, k.seq})
			}
		}
		slices.SortFunc(order, func(a, b kid) int { return cmp.Compare(b.seq, a.seq) })
		for _, k := range order {
			s.freeSlot(k.slot, k.seq)
		}
	}
	s.kids, s.more, s.freeSlots = nil, nil, nil
}

// freeSlot frees the child in slot if it is still the one created as seq
// (freeing an earlier child may have freed it already).
func (s *Scope) freeSlot(slot int32, seq uint64) {
	p := s.kid(slot)
	k := *p
	if k.item == nil || k.seq != seq {
		return
	}
	*p = kidSlot{}
	s.live--
	k.item.ownerLink().owner = nil
	k.item.freeOwned()
}

func (s *Scope) freeOwned() { s.freeTree() }

// ownerLink implementations: each owned item's link to its scope.

func (s *Scope) ownerLink() *ownLink        { return &s.link }
func (f *FD) ownerLink() *ownLink           { return &f.link }
func (t *Timer) ownerLink() *ownLink        { return &t.link }
func (im *Immediate) ownerLink() *ownLink   { return &im.link }
func (se *Signal) ownerLink() *ownLink      { return &se.link }
func (tp *ThreadProxy) ownerLink() *ownLink { return &tp.link }
func (q *Queue) ownerLink() *ownLink        { return &q.link }
func (b *reqBase) ownerLink() *ownLink      { return &b.link }

// ScopeOf returns the scope an Owner stands for: a *Scope itself, or a
// *Context's root scope. Packages built on tevent (tsocket) take an Owner
// where they create things and use ScopeOf to reach its scope. A nil
// owner panics.
func ScopeOf(o Owner) *Scope { return ownerScope(o, "ScopeOf") }
