package tevent

// owned is anything a Scope can own: events, child scopes, requests,
// queues, proxies. freeOwned is called after the item has been unlinked
// from its owner.
type owned interface {
	freeOwned()
}

// ownLink is the intrusive list node that ties an owned item to its
// Scope, so that linking and unlinking cost O(1) and no allocation.
type ownLink struct {
	prev, next *ownLink
	owner      *Scope
	item       owned
}

// Scope is a node of the ownership tree, the role talloc parents play in C
// tevent. Events, requests, queues, proxies and child scopes are created
// from a Scope and are freed with it, newest first. The Context embeds its
// root Scope.
//
// A Scope belongs to one Context and, like everything else of that
// context, is used only from the goroutine that drives it.
type Scope struct {
	ev          *Context
	link        ownLink // in the parent scope
	children    ownLink // sentinel of a circular list, newest at prev
	destructors []func()
	freed       bool
	req         *reqBase // the request whose own scope this is, if any
}

func (s *Scope) init(ev *Context) {
	s.ev = ev
	s.children.next = &s.children
	s.children.prev = &s.children
}

// adopt links item (whose link is l) as the newest child of s. On a freed
// scope the item is left unowned; the caller must then treat it as dead.
func (s *Scope) adopt(l *ownLink, item owned) {
	l.item = item
	l.owner = s
	tail := s.children.prev
	l.prev = tail
	l.next = &s.children
	tail.next = l
	s.children.prev = l
}

// disown unlinks l from its owner, if it has one.
func disown(l *ownLink) {
	if l.owner == nil {
		return
	}
	l.prev.next = l.next
	l.next.prev = l.prev
	l.prev, l.next, l.owner = nil, nil, nil
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
	for s.children.prev != &s.children {
		l := s.children.prev
		item := l.item
		disown(l)
		item.freeOwned()
	}
}

func (s *Scope) freeOwned() { s.freeTree() }
