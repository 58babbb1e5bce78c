package tevent

import (
	"fmt"
	"sort"
	"strings"
)

// This file is the reference model FuzzLoop checks the real context
// against: a direct, slow transcription of the documented rules (doc.go,
// the README's "The model in one page") for one context with fd, timer and
// immediate events and scopes, written without looking at how the loop
// implements them. It knows nothing of kernels beyond what a socketpair
// end reports (see fzModel.report).
//
// The rules it encodes:
//
//   - A LoopOnce handles exactly one thing: the first scheduled immediate,
//     else the expired timer with the smallest (deadline, order of adding
//     or last Update), else one fd event. Nothing else runs in that call
//     except what the handler itself does.
//   - Immediates run in the order scheduled; Schedule moves one already
//     scheduled to the tail; Schedule(nil) cancels; running unschedules.
//   - A timer fires once and is then gone (Free and Update are no-ops),
//     unless its own handler re-arms it with Update.
//   - An fd event fires only while registered and only with flags it asked
//     for: FDRead when the fd is readable or hung up, FDWrite when
//     writable, FDError when hung up (peer closed, or shut down its
//     writing side, i.e. an EOF is pending). At a LoopOnce with no
//     immediate and no expired timer, exactly one fd handler runs if some
//     registered event's flags meet its fd's current readiness. Which one
//     is not predicted (fairness order is the loop's business), but it
//     must be justified by the readiness harvested at the most recent
//     kernel wait (observed through the trace callback): the event existed
//     before that wait, still wants some of the harvested flags, and is
//     given exactly (harvested ∩ wanted). Once one handler of an fd has
//     run, that fd's harvested readiness is used up.
//   - Fairness, as far as it is observable: before the loop waits again,
//     every fd the last wait found ready for some event has been served,
//     unless its events were added, freed or changed meanwhile; and
//     events sharing an fd take turns, so an event passed over n times in
//     a row (n: events on the fd) while eligible is starved.
//   - Free is idempotent, works from any handler, and a freed event never
//     fires. Freeing a scope frees its children newest first (fd close
//     functions run then), then runs its destructors last added first.
//     Things created in a freed scope are born dead; OnFree on a freed
//     scope runs at once. Freeing the context frees the root scope; later
//     LoopOnce calls return ErrFreed.
//   - Wrappers (an extra of this port, as tevent_context_wrapper_create):
//     a wrapper is owned by the context it was made from and frees like
//     a scope; events added through it (or its scopes) run inside its
//     Before and After hooks, and a loop call made through it runs inside
//     BeforeUse and (unless the wrapper was freed meanwhile) AfterUse; a
//     refusing BeforeUse fails the call.

// Model readiness bits: what the kernel reports for an fd.
const (
	fzIn  uint8 = 1
	fzOut uint8 = 2
	fzErr uint8 = 4
)

// Peer end states of a socketpair.
const (
	fzPeerOpen   = 0
	fzPeerShut   = 1 // shutdown(SHUT_WR): the watched end sees EOF
	fzPeerClosed = 2 // closed: the watched end is hung up
)

// fzPairState is what the model knows of one socketpair.
type fzPairState struct {
	data bool // bytes are waiting on the watched end
	peer int  // fzPeerOpen, fzPeerShut or fzPeerClosed
}

// fzEntry is one observable thing: a handler run ('F' fd, 'T' timer, 'I'
// immediate), a close function ('C'), a scope destructor ('D'), a
// wrapper's hook before or after a handler ('B', 'A', with the event's
// id) or around a use ('U', 'u', with the wrapper's id).
type fzEntry struct {
	what  byte
	id    int
	flags FDFlags
}

func (e fzEntry) String() string {
	if e.what == 'F' {
		return fmt.Sprintf("F%d(%s)", e.id, fzFlagString(e.flags))
	}
	return fmt.Sprintf("%c%d", e.what, e.id)
}

func fzFlagString(f FDFlags) string {
	var b strings.Builder
	for _, x := range []struct {
		f FDFlags
		c byte
	}{{FDRead, 'r'}, {FDWrite, 'w'}, {FDError, 'e'}} {
		if f&x.f != 0 {
			b.WriteByte(x.c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// fzObj is the model of one scope, event or destructor.
type fzObj struct {
	id    int
	kind  byte // 'S' scope, 'F' fd, 'T' timer, 'I' immediate
	owner int  // id of the owning scope; 0 when not owned
	freed bool
	act   fzAct
	ctx   int // the wrapper it belongs to (its id), or 0: the main context

	// wrappers (scopes with wrapper set)
	wrapper bool
	refuse  bool // its BeforeUse hook refuses

	// scopes
	children    []int // oldest first
	destructors []int

	// fd events
	fdnum    int
	pair     int
	flags    FDFlags
	closeFn  bool
	dup      bool
	bornWait int // waits seen when it was added
	missed   int // turns of its fd given to others while it was eligible

	// timers
	when   int64 // offset; far timers never expire during a run
	far    bool
	seq    uint64
	armed  bool
	firing bool

	// immediates
	sched bool
}

// fzHarvest is the readiness a kernel wait reported for one fd.
type fzHarvest struct {
	rep  uint8
	wait int
	// touched: events on the fd were added, freed or changed their flags
	// since the wait, so the loop may rightly have skipped the entry.
	touched bool
}

// fzModel is the reference model of one context.
type fzModel struct {
	objs      map[int]*fzObj
	nextID    int
	root      int
	scopeSlot [fzScopes]int
	fdSlot    [fzFDs]int
	timerSlot [fzTimers]int
	immSlot   [fzImms]int
	pairFD    [fzPairs]int
	pairs     [fzPairs]fzPairState
	immQ      []int
	seq       uint64
	waits     int
	harvest   map[int]fzHarvest
	ctxFreed  bool
	openDups  int
	log       []fzEntry

	// strict: WithOneEventPerWait, where a wait harvests one fd only, so
	// the model's harvest is a superset and the per-wait check is off.
	strict bool
	served bool     // an fd handler ran since the last wait
	bad    []string // violations seen inside the trace callback
}

func newFzModel(pairFD [fzPairs]int) *fzModel {
	m := &fzModel{objs: map[int]*fzObj{}, pairFD: pairFD, harvest: map[int]fzHarvest{}}
	m.root = m.alloc()
	m.objs[m.root] = &fzObj{id: m.root, kind: 'S'}
	m.scopeSlot[0] = m.root
	return m
}

func (m *fzModel) alloc() int {
	m.nextID++
	return m.nextID
}

// scope resolves a scope slot; an empty slot means the root scope.
func (m *fzModel) scope(slot int) *fzObj {
	if id := m.scopeSlot[slot]; id != 0 {
		return m.objs[id]
	}
	return m.objs[m.root]
}

func (m *fzModel) adopt(s, o *fzObj) {
	o.owner = s.id
	s.children = append(s.children, o.id)
}

func (m *fzModel) disown(o *fzObj) {
	if o.owner == 0 {
		return
	}
	s := m.objs[o.owner]
	for i, c := range s.children {
		if c == o.id {
			s.children = append(s.children[:i], s.children[i+1:]...)
			break
		}
	}
	o.owner = 0
}

// free is Free() called on the object with that id (0: nothing).
func (m *fzModel) free(id int) {
	o := m.objs[id]
	if o == nil || o.freed {
		return
	}
	if o.id == m.root {
		m.freeContext()
		return
	}
	m.disown(o)
	m.freeOwned(o)
}

func (m *fzModel) freeOwned(o *fzObj) {
	switch o.kind {
	case 'S':
		o.freed = true
		for len(o.children) > 0 {
			c := m.objs[o.children[len(o.children)-1]]
			o.children = o.children[:len(o.children)-1]
			c.owner = 0
			m.freeOwned(c)
		}
		for i := len(o.destructors) - 1; i >= 0; i-- {
			m.log = append(m.log, fzEntry{what: 'D', id: o.destructors[i]})
		}
		o.destructors = nil
	case 'F':
		o.freed = true
		if o.closeFn {
			m.log = append(m.log, fzEntry{what: 'C', id: o.id})
		}
		if o.dup {
			m.openDups--
		}
		m.touch(o.fdnum)
	case 'T':
		o.freed = true
		o.armed = false
		o.firing = false
	case 'I':
		o.freed = true
		m.unschedule(o)
	}
}

func (m *fzModel) freeContext() {
	if m.ctxFreed {
		return
	}
	m.ctxFreed = true
	m.freeOwned(m.objs[m.root])
	m.immQ = nil
}

func (m *fzModel) newScope(slot, parentSlot int) {
	p := m.scope(parentSlot)
	o := &fzObj{id: m.alloc(), kind: 'S', ctx: p.ctx}
	m.objs[o.id] = o
	if p.freed {
		o.freed = true
	} else {
		m.adopt(p, o)
	}
	m.scopeSlot[slot] = o.id
}

// context returns the context a scope belongs to: the main context's
// root scope, or a wrapper.
func (m *fzModel) context(s *fzObj) *fzObj {
	if s.ctx != 0 {
		return m.objs[s.ctx]
	}
	return m.objs[m.root]
}

// newWrapper models NewWrapper called on the context of the scope in
// parentSlot; it reports whether it must fail with ErrFreed.
func (m *fzModel) newWrapper(slot, parentSlot int, refuse bool) (freedErr bool) {
	c := m.context(m.scope(parentSlot))
	id := m.alloc()
	if c.freed || m.ctxFreed {
		return true
	}
	o := &fzObj{id: id, kind: 'S', wrapper: true, refuse: refuse, ctx: id}
	m.objs[id] = o
	m.adopt(c, o)
	m.scopeSlot[slot] = id
	return false
}

func (m *fzModel) onFree(slot int) {
	s := m.scope(slot)
	id := m.alloc()
	if s.freed {
		m.log = append(m.log, fzEntry{what: 'D', id: id})
		return
	}
	s.destructors = append(s.destructors, id)
}

// addFD models AddFD; it reports whether the add must fail with ErrFreed.
func (m *fzModel) addFD(scopeSlot, pair, fdnum int, dup bool, flags FDFlags, closeFn bool, slot int, a fzAct) (freedErr bool) {
	id := m.alloc()
	s := m.scope(scopeSlot)
	if s.freed || m.ctxFreed {
		return true
	}
	o := &fzObj{id: id, kind: 'F', fdnum: fdnum, pair: pair, flags: flags & fdAllFlags,
		closeFn: closeFn, dup: dup, bornWait: m.waits, act: a, ctx: s.ctx}
	m.objs[id] = o
	m.adopt(s, o)
	if dup {
		m.openDups++
	}
	m.touch(fdnum)
	m.fdSlot[slot] = id
	return false
}

func (m *fzModel) setFlags(id int, flags FDFlags) {
	if o := m.objs[id]; o != nil && !o.freed && o.flags != flags&fdAllFlags {
		o.flags = flags & fdAllFlags
		m.touch(o.fdnum)
	}
}

func (m *fzModel) addTimer(scopeSlot int, when int64, far bool, slot int, a fzAct) {
	s := m.scope(scopeSlot)
	o := &fzObj{id: m.alloc(), kind: 'T', when: when, far: far, act: a, ctx: s.ctx}
	m.objs[o.id] = o
	if s.freed || m.ctxFreed {
		o.freed = true
	} else {
		m.seq++
		o.seq = m.seq
		o.armed = true
		m.adopt(s, o)
	}
	m.timerSlot[slot] = o.id
}

func (m *fzModel) update(id int, when int64, far bool) {
	o := m.objs[id]
	if o == nil || o.freed || (!o.armed && !o.firing) {
		return
	}
	o.when, o.far = when, far
	m.seq++
	o.seq = m.seq
	o.firing = false
	o.armed = true
}

func (m *fzModel) newImmediate(scopeSlot, slot int, a fzAct) {
	s := m.scope(scopeSlot)
	o := &fzObj{id: m.alloc(), kind: 'I', act: a, ctx: s.ctx}
	m.objs[o.id] = o
	if s.freed || m.ctxFreed {
		o.freed = true
	} else {
		m.adopt(s, o)
	}
	m.immSlot[slot] = o.id
}

func (m *fzModel) schedule(id int) {
	o := m.objs[id]
	if o == nil || o.freed {
		return
	}
	m.unschedule(o)
	o.sched = true
	m.immQ = append(m.immQ, id)
}

func (m *fzModel) cancel(id int) {
	if o := m.objs[id]; o != nil && !o.freed {
		m.unschedule(o)
	}
}

func (m *fzModel) unschedule(o *fzObj) {
	if !o.sched {
		return
	}
	o.sched = false
	for i, x := range m.immQ {
		if x == o.id {
			m.immQ = append(m.immQ[:i:i], m.immQ[i+1:]...)
			return
		}
	}
}

func (m *fzModel) write(pair int) {
	if m.pairs[pair].peer == fzPeerOpen {
		m.pairs[pair].data = true
	}
}

func (m *fzModel) drain(pair int) { m.pairs[pair].data = false }

func (m *fzModel) shutdownPeer(pair int) {
	if m.pairs[pair].peer == fzPeerOpen {
		m.pairs[pair].peer = fzPeerShut
	}
}

func (m *fzModel) closePeer(pair int) { m.pairs[pair].peer = fzPeerClosed }

// report is what a kernel wait reports for an fd of pair p whose events
// together ask for interest: readable when data or an EOF is pending,
// always writable (nothing is ever written to the watched end, so its
// buffer never fills), an error once the peer is closed, or, for an event
// that asks for FDError, once the peer shut down its writing side.
func (m *fzModel) report(p int, interest FDFlags) uint8 {
	if interest == 0 {
		return 0 // not registered with the kernel at all
	}
	ps := m.pairs[p]
	var rep uint8
	if interest&FDRead != 0 && (ps.data || ps.peer != fzPeerOpen) {
		rep |= fzIn
	}
	if interest&FDWrite != 0 {
		rep |= fzOut
	}
	if ps.peer == fzPeerClosed || (interest&FDError != 0 && ps.peer != fzPeerOpen) {
		rep |= fzErr
	}
	return rep
}

// fzReadyFlags maps reported readiness to the flags a handler may see:
// an error or hang-up is FDError, and FDRead for one that reads.
func fzReadyFlags(rep uint8) FDFlags {
	var f FDFlags
	if rep&fzIn != 0 {
		f |= FDRead
	}
	if rep&fzOut != 0 {
		f |= FDWrite
	}
	if rep&fzErr != 0 {
		f |= FDRead | FDError
	}
	return f
}

// liveFDs returns the live fd events grouped by descriptor, and the
// interest of each descriptor.
func (m *fzModel) liveFDs() (map[int][]*fzObj, map[int]FDFlags) {
	byFD := map[int][]*fzObj{}
	interest := map[int]FDFlags{}
	for _, o := range m.objs {
		if o.kind == 'F' && !o.freed {
			byFD[o.fdnum] = append(byFD[o.fdnum], o)
			interest[o.fdnum] |= o.flags
		}
	}
	return byFD, interest
}

// touch notes that the events of fd changed: the loop may skip its
// harvested readiness, and the turns of its events start over.
func (m *fzModel) touch(fd int) {
	if h, ok := m.harvest[fd]; ok {
		h.touched = true
		m.harvest[fd] = h
	}
	for _, o := range m.objs {
		if o.kind == 'F' && o.fdnum == fd {
			o.missed = 0
		}
	}
}

// eligible reports whether fd event o may run on harvested readiness h.
func (o *fzObj) eligible(h fzHarvest) bool {
	return !o.freed && o.bornWait < h.wait && fzReadyFlags(h.rep)&o.flags != 0
}

// onWait records what a kernel wait harvests; it is called from the trace
// callback, before any handler of the LoopOnce has run. It first checks
// that the previous harvest was served (a wait that served nothing, such
// as one cut short by a signal, is followed by another at once).
func (m *fzModel) onWait() {
	byFD, interest := m.liveFDs()
	if m.served && !m.strict {
		for fd, h := range m.harvest {
			if h.touched {
				continue
			}
			for _, o := range byFD[fd] {
				if o.eligible(h) {
					m.bad = append(m.bad, fmt.Sprintf("the loop waited again without serving fd %d, which the last wait found ready for event %d (flags %s, harvested %s)",
						fd, o.id, fzFlagString(o.flags), fzFlagString(fzReadyFlags(h.rep))))
					break
				}
			}
		}
	}
	m.served = false
	m.waits++
	clear(m.harvest)
	for fd, evs := range byFD {
		if rep := m.report(evs[0].pair, interest[fd]); rep != 0 {
			m.harvest[fd] = fzHarvest{rep: rep, wait: m.waits}
		}
	}
}

// fdReady reports whether some registered fd event wants some of its
// fd's current readiness: then a LoopOnce with nothing else to do must
// run exactly one fd handler, without blocking.
func (m *fzModel) fdReady() bool {
	byFD, interest := m.liveFDs()
	for fd, evs := range byFD {
		rf := fzReadyFlags(m.report(evs[0].pair, interest[fd]))
		for _, o := range evs {
			if o.flags&rf != 0 {
				return true
			}
		}
	}
	return false
}

// next says what the next LoopOnce must do: 'I' or 'T' with the id of
// the immediate or timer that must run, 'F' when one fd handler must
// run, 0 when nothing is ready (LoopOnce would block).
func (m *fzModel) next() (byte, int) {
	if m.ctxFreed {
		return 0, 0
	}
	if len(m.immQ) > 0 {
		return 'I', m.immQ[0]
	}
	if t := m.firstTimer(); t != nil {
		return 'T', t.id
	}
	if m.fdReady() {
		return 'F', 0
	}
	return 0, 0
}

func (m *fzModel) firstTimer() *fzObj {
	var best *fzObj
	for _, o := range m.objs {
		if o.kind != 'T' || !o.armed || o.far {
			continue
		}
		if best == nil || o.when < best.when || (o.when == best.when && o.seq < best.seq) {
			best = o
		}
	}
	return best
}

func (m *fzModel) runImmediate() {
	id := m.immQ[0]
	m.immQ = m.immQ[1:]
	o := m.objs[id]
	o.sched = false
	m.handler(o, fzEntry{what: 'I', id: id})
}

// handler logs a handler run, inside its wrapper's hooks if it has one,
// and applies its action.
func (m *fzModel) handler(o *fzObj, e fzEntry) {
	if o.ctx != 0 {
		m.log = append(m.log, fzEntry{what: 'B', id: o.id})
	}
	m.log = append(m.log, e)
	m.act(o, o.act)
	if o.ctx != 0 {
		m.log = append(m.log, fzEntry{what: 'A', id: o.id})
	}
}

func (m *fzModel) runTimer() {
	o := m.firstTimer()
	o.armed = false
	o.firing = true
	m.handler(o, fzEntry{what: 'T', id: o.id})
	if o.firing {
		o.firing = false
		o.freed = true
		m.disown(o)
	}
}

// runFD checks that the fd handler the loop ran (id, given flags) was
// allowed to run, then applies it. It returns what was wrong, or "".
func (m *fzModel) runFD(id int, flags FDFlags) string {
	o := m.objs[id]
	if o == nil || o.kind != 'F' {
		return fmt.Sprintf("fd handler ran for unknown event %d", id)
	}
	if o.freed {
		return fmt.Sprintf("fd event %d ran after it was freed", id)
	}
	h, ok := m.harvest[o.fdnum]
	if !ok {
		return fmt.Sprintf("fd event %d (fd %d) ran but no kernel wait since its fd was last served reported the fd ready (harvest: %s)", id, o.fdnum, m.harvestString())
	}
	if o.bornWait >= h.wait {
		return fmt.Sprintf("fd event %d was added after the wait that harvested fd %d but ran on that readiness", id, o.fdnum)
	}
	want := fzReadyFlags(h.rep) & o.flags
	if want == 0 {
		return fmt.Sprintf("fd event %d (flags %s) ran but fd %d's harvested readiness gives it nothing (harvest: %s)", id, fzFlagString(o.flags), o.fdnum, m.harvestString())
	}
	if flags != want {
		return fmt.Sprintf("fd event %d (flags %s) got %s, want %s (harvest: %s)", id, fzFlagString(o.flags), fzFlagString(flags), fzFlagString(want), m.harvestString())
	}
	// Turns: the others that could have run on this readiness missed one.
	var same []*fzObj
	for _, x := range m.objs {
		if x.kind == 'F' && !x.freed && x.fdnum == o.fdnum {
			same = append(same, x)
		}
	}
	for _, x := range same {
		switch {
		case x == o || !x.eligible(h):
			x.missed = 0
		default:
			x.missed++
			if x.missed >= len(same) {
				return fmt.Sprintf("fd event %d (flags %s) was passed over %d times in a row on fd %d, which has %d events (last by event %d; harvested %s)",
					x.id, fzFlagString(x.flags), x.missed, o.fdnum, len(same), id, fzFlagString(fzReadyFlags(h.rep)))
			}
		}
	}
	m.served = true
	delete(m.harvest, o.fdnum)
	m.handler(o, fzEntry{what: 'F', id: id, flags: flags})
	return ""
}

func (m *fzModel) harvestString() string {
	var parts []string
	for fd, h := range m.harvest {
		parts = append(parts, fmt.Sprintf("fd%d=%s@w%d", fd, fzFlagString(fzReadyFlags(h.rep)), h.wait))
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, " ") + "]"
}

// act applies a handler's action; it mirrors fzWorld.act.
func (m *fzModel) act(self *fzObj, a fzAct) {
	arg := int(a.arg)
	switch a.kind() {
	case actFreeSelf:
		m.free(self.id)
	case actFreeFD:
		m.free(m.fdSlot[arg%fzFDs])
	case actFreeTimer:
		m.free(m.timerSlot[arg%fzTimers])
	case actFreeImm:
		m.free(m.immSlot[arg%fzImms])
	case actFreeScope:
		m.free(m.scopeSlot[1+arg%(fzScopes-1)])
	case actSchedImm:
		m.schedule(m.immSlot[arg%fzImms])
	case actCancelImm:
		m.cancel(m.immSlot[arg%fzImms])
	case actAddTimer:
		m.addTimer(0, int64(arg>>3&7), false, arg%fzTimers, fzAct{})
	case actSetFlags:
		m.setFlags(m.fdSlot[(arg&7)%fzFDs], FDFlags(arg>>3&7))
	case actDrain:
		p := arg % fzPairs
		if self.kind == 'F' {
			p = self.pair
		}
		m.drain(p)
	case actUpdateTimer:
		id := m.timerSlot[arg%fzTimers]
		if arg&0x80 != 0 && self.kind == 'T' {
			id = self.id
		}
		m.update(id, int64(arg>>3&7), false)
	case actWrite:
		m.write(arg % fzPairs)
	case actAddFD:
		p := (arg & 3) % fzPairs
		m.addFD(0, p, m.pairFD[p], false, FDFlags(arg>>2&7), false, (arg>>5)%fzFDs, fzAct{})
	case actFreeCtx:
		m.freeContext()
	}
}
