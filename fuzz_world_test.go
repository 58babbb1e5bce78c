package tevent

// FuzzLoop's world: the real context and descriptors an input drives, step by step against the model (model_test.go).

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fzWorld is the real side: a context, its events, three socketpairs.
// Slots and ids mirror the model's.
type fzWorld struct {
	t         *testing.T
	ev        *Context
	m         *fzModel
	nextID    int
	scopeSlot [fzScopes]int
	fdSlot    [fzFDs]int
	timerSlot [fzTimers]int
	immSlot   [fzImms]int
	scopes    map[int]*Scope
	fds       map[int]*FD
	timers    map[int]*Timer
	imms      map[int]*Immediate
	acts      map[int]fzAct
	ctxOf     map[int]*Context // the context each event's handler gets
	wraps     map[int]*Context // wrappers by id
	eventID   map[any]int      // *FD, *Timer or *Immediate to its id
	opt       fzOptions
	traceFn   func(TracePoint)
	waiting   chan struct{} // closed at the next TraceBeforeWait
	pairA     [fzPairs]int  // watched ends, never closed during a run
	pairB     [fzPairs]int  // peers, -1 once closed
	pairShut  [fzPairs]bool
	base      time.Time // expired deadlines are base + offset ms
	guard     *Timer
	guarded   bool
	log       []fzEntry
	bad       []string
}

func (w *fzWorld) alloc() int {
	w.nextID++
	return w.nextID
}

func (w *fzWorld) fail(format string, args ...any) {
	w.bad = append(w.bad, fmt.Sprintf(format, args...))
}

func (w *fzWorld) scope(slot int) *Scope {
	if id := w.scopeSlot[slot]; id != 0 {
		return w.scopes[id]
	}
	return &w.ev.Scope
}

func (w *fzWorld) deadline(off int64, far bool) time.Time {
	if far {
		return time.Now().Add(time.Hour)
	}
	return w.base.Add(time.Duration(off) * time.Millisecond)
}

func (w *fzWorld) free(id int) {
	if s := w.scopes[id]; s != nil {
		s.Free()
	} else if f := w.fds[id]; f != nil {
		f.Free()
	} else if t := w.timers[id]; t != nil {
		t.Free()
	} else if im := w.imms[id]; im != nil {
		im.Free()
	}
}

func (w *fzWorld) fdHandler(id int) FDHandler {
	return func(ev *Context, fde *FD, flags FDFlags) {
		if ev != w.ctxOf[id] || fde != w.fds[id] {
			w.fail("fd handler of %d called with the wrong context or event", id)
		}
		w.log = append(w.log, fzEntry{what: 'F', id: id, flags: flags})
		w.act(id, w.acts[id])
	}
}

func (w *fzWorld) timerHandler(id int) TimerHandler {
	return func(ev *Context, te *Timer, _ time.Time) {
		if ev != w.ctxOf[id] || te != w.timers[id] {
			w.fail("timer handler of %d called with the wrong context or timer", id)
		}
		w.log = append(w.log, fzEntry{what: 'T', id: id})
		w.act(id, w.acts[id])
	}
}

func (w *fzWorld) immHandler(id int) ImmediateHandler {
	return func(ev *Context, im *Immediate) {
		if ev != w.ctxOf[id] || im != w.imms[id] {
			w.fail("immediate handler of %d called with the wrong context or immediate", id)
		}
		w.log = append(w.log, fzEntry{what: 'I', id: id})
		w.act(id, w.acts[id])
	}
}

// addFD adds an fd event on pair's watched end, or on a dup of it that
// the event closes when freed (by a close function that logs, or by
// SetAutoClose). It returns the fd used and AddFD's error.
func (w *fzWorld) addFD(scopeSlot, pair int, dup bool, flags FDFlags, closeFn bool, slot int, a fzAct) (int, error) {
	id := w.alloc()
	fd := w.pairA[pair]
	if dup {
		var err error
		if fd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			w.t.Fatalf("dup: %v", err)
		}
	}
	s := w.scope(scopeSlot)
	fde, err := s.AddFD(fd, flags, w.fdHandler(id))
	if err != nil {
		if dup {
			unix.Close(fd)
		}
		return fd, err
	}
	if closeFn {
		fde.SetCloseFn(func(ev *Context, f *FD, cfd int) {
			if f != fde || cfd != fd {
				w.fail("close function of %d called with the wrong event or fd", id)
			}
			w.log = append(w.log, fzEntry{what: 'C', id: id})
			if dup {
				unix.Close(cfd)
			}
		})
	} else if dup {
		fde.SetAutoClose()
	}
	w.fds[id] = fde
	w.acts[id] = a
	w.ctxOf[id] = s.Context()
	w.eventID[fde] = id
	w.fdSlot[slot] = id
	return fd, nil
}

func (w *fzWorld) addTimer(scopeSlot int, off int64, far bool, slot int, a fzAct) {
	id := w.alloc()
	s := w.scope(scopeSlot)
	w.timers[id] = s.AddTimer(w.deadline(off, far), w.timerHandler(id))
	w.acts[id] = a
	w.ctxOf[id] = s.Context()
	w.eventID[w.timers[id]] = id
	w.timerSlot[slot] = id
}

func (w *fzWorld) schedule(id int) {
	if im := w.imms[id]; im != nil {
		im.Schedule(w.immHandler(id))
	}
}

func (w *fzWorld) write(p int) {
	if w.pairB[p] < 0 || w.pairShut[p] {
		return
	}
	if n, err := unix.Write(w.pairB[p], []byte{'x'}); n != 1 || err != nil {
		w.t.Fatalf("write to pair %d: n=%d err=%v", p, n, err)
	}
}

// drain reads fd until it would block or reports EOF.
func (w *fzWorld) drain(fd int) {
	var buf [512]byte
	for {
		n, err := unix.Read(fd, buf[:])
		if n <= 0 || err != nil {
			return
		}
	}
}

// act performs a handler's action; it mirrors fzModel.act.
func (w *fzWorld) act(self int, a fzAct) {
	arg := int(a.arg)
	switch a.kind() {
	case actFreeSelf:
		w.free(self)
	case actFreeFD:
		w.free(w.fdSlot[arg%fzFDs])
	case actFreeTimer:
		w.free(w.timerSlot[arg%fzTimers])
	case actFreeImm:
		w.free(w.immSlot[arg%fzImms])
	case actFreeScope:
		w.free(w.scopeSlot[1+arg%(fzScopes-1)])
	case actSchedImm:
		w.schedule(w.immSlot[arg%fzImms])
	case actCancelImm:
		if im := w.imms[w.immSlot[arg%fzImms]]; im != nil {
			im.Schedule(nil)
		}
	case actAddTimer:
		w.addTimer(0, int64(arg>>3&7), false, arg%fzTimers, fzAct{})
	case actSetFlags:
		if f := w.fds[w.fdSlot[(arg&7)%fzFDs]]; f != nil {
			f.SetFlags(FDFlags(arg >> 3 & 7))
		}
	case actDrain:
		if f := w.fds[self]; f != nil {
			w.drain(f.Fd())
		} else {
			w.drain(w.pairA[arg%fzPairs])
		}
	case actUpdateTimer:
		id := w.timerSlot[arg%fzTimers]
		if arg&0x80 != 0 && w.timers[self] != nil {
			id = self
		}
		if tm := w.timers[id]; tm != nil {
			tm.Update(w.deadline(int64(arg>>3&7), false))
		}
	case actWrite:
		w.write(arg % fzPairs)
	case actAddFD:
		p := (arg & 3) % fzPairs
		if _, err := w.addFD(0, p, false, FDFlags(arg>>2&7), false, (arg>>5)%fzFDs, fzAct{}); err != nil {
			w.fail("AddFD inside a handler: %v", err)
		}
	case actFreeCtx:
		w.ev.Free()
	}
}

// fzRun runs ops on a fresh context on one backend, checking each step
// against a fresh model, then frees everything. The caller checks that no
// descriptor leaked.
func fzRun(t *testing.T, backend string, opt fzOptions, ops []fzOp) {
	w := &fzWorld{t: t, scopes: map[int]*Scope{}, fds: map[int]*FD{}, timers: map[int]*Timer{},
		imms: map[int]*Immediate{}, acts: map[int]fzAct{}, ctxOf: map[int]*Context{},
		wraps: map[int]*Context{}, eventID: map[any]int{}, opt: opt,
		base: time.Now().Add(-time.Hour)}
	for i := range w.pairA {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socketpair: %v", err)
		}
		w.pairA[i], w.pairB[i] = fds[0], fds[1]
	}
	closePairs := func() {
		for i := range w.pairA {
			if w.pairA[i] >= 0 {
				unix.Close(w.pairA[i])
				w.pairA[i] = -1
			}
			if w.pairB[i] >= 0 {
				unix.Close(w.pairB[i])
				w.pairB[i] = -1
			}
		}
	}
	opts := []Option{WithBackend(backend)}
	if opt.strict {
		opts = append(opts, WithOneEventPerWait())
	}
	if opt.runtimePoller {
		opts = append(opts, WithRuntimePoller())
	}
	if opt.logger {
		opts = append(opts, WithLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.Level(-100)}))))
	}
	ev, err := New(opts...)
	if err != nil {
		closePairs()
		t.Fatalf("New(%s): %v", backend, err)
	}
	w.ev = ev
	defer func() {
		ev.Free()
		closePairs()
	}()
	m := newFzModel(w.pairA)
	m.strict = opt.strict
	w.m = m
	w.nextID = m.root
	w.scopes[m.root] = &ev.Scope
	w.scopeSlot[0] = m.root
	w.guard = ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { w.guarded = true })
	w.traceFn = func(p TracePoint) {
		switch {
		case p == TraceAfterWait:
			m.onWait()
		case p == TraceBeforeWait && w.waiting != nil:
			close(w.waiting)
			w.waiting = nil
		}
	}
	ev.SetTraceCallback(w.traceFn)

	done, freeing := 0, false // progress, for the report
	fatal := func(format string, args ...any) {
		t.Helper()
		history := make([]string, 0, done+1)
		for _, op := range ops[:done] {
			history = append(history, op.String())
		}
		if freeing {
			history = append(history, "(free the context)")
		}
		t.Fatalf("backend %s %+v, after ops:\n  %s\n%s",
			backend, opt, strings.Join(history, "\n  "), fmt.Sprintf(format, args...))
	}
	verbose := os.Getenv("TEVENT_FUZZ_TRACE") != ""
	for _, op := range ops {
		done++
		w.log, m.log = w.log[:0], m.log[:0]
		if msg := fzStep(w, m, op); msg != "" {
			fatal("%s", msg)
		}
		if len(w.bad) > 0 || len(m.bad) > 0 {
			fatal("%s: %s", op, strings.Join(append(w.bad, m.bad...), "\n"))
		}
		if !fzSameLog(w.log, m.log) {
			fatal("%s: ran %v, model expects %v", op, w.log, m.log)
		}
		if msg := fzCompareState(w, m); msg != "" {
			fatal("%s: %s", op, msg)
		}
		if verbose {
			t.Logf("%s %-22s ran %v harvest %s", backend, op, w.log, m.harvestString())
		}
	}
	freeing = true
	w.log, m.log = w.log[:0], m.log[:0]
	ev.Free()
	m.freeContext()
	if !fzSameLog(w.log, m.log) {
		fatal("freeing the context ran %v, model expects %v", w.log, m.log)
	}
	if err := ev.LoopOnce(); !errors.Is(err, ErrFreed) {
		fatal("LoopOnce after Free: %v, want ErrFreed", err)
	}
	closePairs()
}

// fzStep applies one operation to the context and the model. It returns
// what went wrong, or "". Logs are compared by the caller.
func fzStep(w *fzWorld, m *fzModel, op fzOp) string {
	a := op.a
	switch op.kind {
	case opLoop:
		return fzLoopOnce(w, m)
	case opLoopUntil:
		return fzLoopUntil(w, m, 1+int(a[0]%8))
	case opLoopVia:
		return fzLoopVia(w, m, int(a[0])%fzScopes)
	case opLoopAsync:
		return fzLoopAsync(w, m, int(a[0])%fzPairs)
	case opNewWrapper:
		slot, parent, refuse := 1+int(a[0]&3)%(fzScopes-1), int(a[0]>>2&3), a[0]&0x10 != 0
		id := w.alloc()
		wc, err := w.scope(parent).Context().NewWrapper(w.hooks(id, refuse))
		wantErr := m.newWrapper(slot, parent, refuse)
		if wantErr != errors.Is(err, ErrFreed) || (!wantErr && err != nil) {
			return fmt.Sprintf("NewWrapper: error %v, model expects ErrFreed=%v", err, wantErr)
		}
		if err == nil {
			w.wraps[id] = wc
			w.scopes[id] = &wc.Scope
			w.scopeSlot[slot] = id
		}
	case opAddFD, opAddDup:
		dup := op.kind == opAddDup
		if dup && m.openDups >= fzMaxDups {
			return ""
		}
		pair := int(a[0]&3) % fzPairs
		flags := FDFlags(a[0] >> 2 & 7)
		closeFn := a[0]&0x20 != 0
		scope := int(a[0] >> 6)
		slot := int(a[1]) % fzFDs
		act := fzAct{a[2], a[3]}
		fd, err := w.addFD(scope, pair, dup, flags, closeFn, slot, act)
		wantErr := m.addFD(scope, pair, fd, dup, flags, closeFn, slot, act)
		if wantErr != errors.Is(err, ErrFreed) || (!wantErr && err != nil) {
			return fmt.Sprintf("AddFD: error %v, model expects ErrFreed=%v", err, wantErr)
		}
	case opSetFlags:
		slot, flags := int(a[0]&7)%fzFDs, FDFlags(a[0]>>3&7)
		if f := w.fds[w.fdSlot[slot]]; f != nil {
			f.SetFlags(flags)
		}
		m.setFlags(m.fdSlot[slot], flags)
	case opFreeFD:
		slot := int(a[0]) % fzFDs
		w.free(w.fdSlot[slot])
		m.free(m.fdSlot[slot])
	case opAddTimer:
		off, far, scope := int64(a[0]&7), a[0]&8 != 0, int(a[0]>>4&3)
		slot, act := int(a[1])%fzTimers, fzAct{a[2], a[3]}
		w.addTimer(scope, off, far, slot, act)
		m.addTimer(scope, off, far, slot, act)
	case opUpdateTimer:
		slot, off, far := int(a[0]&7)%fzTimers, int64(a[0]>>3&7), a[0]&0x40 != 0
		if tm := w.timers[w.timerSlot[slot]]; tm != nil {
			tm.Update(w.deadline(off, far))
		}
		m.update(m.timerSlot[slot], off, far)
	case opFreeTimer:
		slot := int(a[0]) % fzTimers
		w.free(w.timerSlot[slot])
		m.free(m.timerSlot[slot])
	case opNewImm:
		slot, scope, act := int(a[0]&3), int(a[0]>>2&3), fzAct{a[1], a[2]}
		id := w.alloc()
		w.imms[id] = w.scope(scope).NewImmediate()
		w.acts[id] = act
		w.ctxOf[id] = w.scope(scope).Context()
		w.eventID[w.imms[id]] = id
		w.immSlot[slot] = id
		m.newImmediate(scope, slot, act)
	case opSchedule:
		slot := int(a[0]) % fzImms
		w.schedule(w.immSlot[slot])
		m.schedule(m.immSlot[slot])
	case opCancel:
		slot := int(a[0]) % fzImms
		if im := w.imms[w.immSlot[slot]]; im != nil {
			im.Schedule(nil)
		}
		m.cancel(m.immSlot[slot])
	case opFreeImm:
		slot := int(a[0]) % fzImms
		w.free(w.immSlot[slot])
		m.free(m.immSlot[slot])
	case opWrite:
		p := int(a[0]) % fzPairs
		w.write(p)
		m.write(p)
	case opDrain:
		p := int(a[0]) % fzPairs
		w.drain(w.pairA[p])
		m.drain(p)
	case opShutdown:
		p := int(a[0]) % fzPairs
		if w.pairB[p] >= 0 && !w.pairShut[p] {
			if err := unix.Shutdown(w.pairB[p], unix.SHUT_WR); err != nil {
				return fmt.Sprintf("shutdown: %v", err)
			}
			w.pairShut[p] = true
		}
		m.shutdownPeer(p)
	case opClosePeer:
		p := int(a[0]) % fzPairs
		if w.pairB[p] >= 0 {
			unix.Close(w.pairB[p])
			w.pairB[p] = -1
		}
		m.closePeer(p)
	case opNewScope:
		slot, parent := 1+int(a[0]&3)%(fzScopes-1), int(a[0]>>2&3)
		id := w.alloc()
		w.scopes[id] = w.scope(parent).NewScope()
		w.scopeSlot[slot] = id
		m.newScope(slot, parent)
	case opFreeScope:
		slot := 1 + int(a[0])%(fzScopes-1)
		w.free(w.scopeSlot[slot])
		m.free(m.scopeSlot[slot])
	case opOnFree:
		slot := int(a[0]) % fzScopes
		id := w.alloc()
		w.scope(slot).OnFree(func() { w.log = append(w.log, fzEntry{what: 'D', id: id}) })
		m.onFree(slot)
	case opFreeCtx:
		w.ev.Free()
		m.freeContext()
	}
	return ""
}

// fzLoopOnce runs LoopOnce when the model says it cannot block, and checks
// that exactly the predicted handler (or, for fds, an allowed one) ran.
func fzLoopOnce(w *fzWorld, m *fzModel) string {
	if m.ctxFreed {
		if err := w.ev.LoopOnce(); !errors.Is(err, ErrFreed) {
			return fmt.Sprintf("LoopOnce on a freed context: %v, want ErrFreed", err)
		}
		return ""
	}
	kind, id := m.next()
	if kind == 0 {
		return "" // nothing is ready: LoopOnce would (rightly) block
	}
	w.prepareTurn(kind)
	err := w.ev.LoopOnce()
	if err != nil && !w.guarded {
		return fmt.Sprintf("LoopOnce: %v", err)
	}
	return fzCheckTurn(w, m, kind, id, w.log, 0)
}

// fzLoopAsync makes LoopOnce block in the kernel: when nothing is ready
// and a write to pair p would make an event ready, another goroutine
// writes once the loop announces its wait. (If the loop serves readiness
// harvested earlier instead of waiting, the write comes after; the model
// allows either.)
func fzLoopAsync(w *fzWorld, m *fzModel, p int) string {
	if kind, _ := m.next(); kind != 0 || m.pairs[p].peer != fzPeerOpen {
		return ""
	}
	m.write(p)
	kind, id := m.next()
	if kind == 0 {
		w.write(p) // nothing would wake up: just write
		return ""
	}
	waiting, wrote := make(chan struct{}), make(chan error, 1)
	w.waiting = waiting
	fd := w.pairB[p]
	go func() {
		<-waiting
		_, err := unix.Write(fd, []byte{'x'})
		wrote <- err
	}()
	w.prepareTurn(kind)
	err := w.ev.LoopOnce()
	if w.waiting != nil {
		close(w.waiting)
		w.waiting = nil
	}
	if werr := <-wrote; werr != nil {
		return fmt.Sprintf("write from another goroutine: %v", werr)
	}
	if err != nil && !w.guarded {
		return fmt.Sprintf("LoopOnce: %v", err)
	}
	return fzCheckTurn(w, m, kind, id, w.log, 0)
}

// fzLoopVia runs LoopOnce through the context of the scope in slot: a
// wrapper calls its use hooks around the turn, or refuses.
func fzLoopVia(w *fzWorld, m *fzModel, slot int) string {
	x := m.context(m.scope(slot))
	if x.id == m.root {
		return fzLoopOnce(w, m)
	}
	wc := w.wraps[x.id]
	if x.freed || m.ctxFreed {
		if err := wc.LoopOnce(); !errors.Is(err, ErrFreed) {
			return fmt.Sprintf("LoopOnce through freed wrapper %d: %v, want ErrFreed", x.id, err)
		}
		return ""
	}
	kind, id := m.next()
	if kind == 0 {
		return ""
	}
	w.prepareTurn(kind)
	err := wc.LoopOnce()
	m.log = append(m.log, fzEntry{what: 'U', id: x.id})
	if x.refuse {
		if err == nil || errors.Is(err, ErrFreed) {
			return fmt.Sprintf("LoopOnce through wrapper %d whose BeforeUse refuses: %v, want an error", x.id, err)
		}
		return ""
	}
	if err != nil && !w.guarded {
		return fmt.Sprintf("LoopOnce through wrapper %d: %v", x.id, err)
	}
	if len(w.log) == 0 || w.log[0] != m.log[0] {
		return fmt.Sprintf("LoopOnce through wrapper %d ran %v; the model expects BeforeUse first", x.id, w.log)
	}
	got := w.log[1:]
	if n := len(got); n > 0 && got[n-1] == (fzEntry{what: 'u', id: x.id}) {
		got = got[:n-1] // AfterUse, checked with the whole log
	}
	if msg := fzCheckTurn(w, m, kind, id, got, 1); msg != "" {
		return msg
	}
	if !x.freed {
		m.log = append(m.log, fzEntry{what: 'u', id: x.id})
	}
	return ""
}

// prepareTurn arms the guard before a loop turn the model says cannot
// block and, with lazyTrace, sets the trace callback only for fd turns
// (the only ones that wait), so that loop paths taken without a trace
// callback run too.
func (w *fzWorld) prepareTurn(kind byte) {
	w.guard.Update(time.Now().Add(fzGuardFor))
	if w.opt.lazyTrace {
		if kind == 'F' {
			w.ev.SetTraceCallback(w.traceFn)
		} else {
			w.ev.SetTraceCallback(nil)
		}
	}
}

// hooks returns the hooks of wrapper id: they log, and check that they
// are called with the wrapper and around its own events.
func (w *fzWorld) hooks(id int, refuse bool) WrapperHooks {
	around := func(what byte, wrap *Context, ev any) {
		eid := w.eventID[ev]
		if wrap != w.wraps[id] || w.ctxOf[eid] != wrap {
			w.fail("hook %c of wrapper %d called with the wrong wrapper, for event %d", what, id, eid)
		}
		w.log = append(w.log, fzEntry{what: what, id: eid})
	}
	use := func(what byte, wrap *Context) {
		if wrap != w.wraps[id] {
			w.fail("use hook of wrapper %d called with the wrong wrapper", id)
		}
		w.log = append(w.log, fzEntry{what: what, id: id})
	}
	return WrapperHooks{
		Name:                   fmt.Sprintf("fuzz-%d", id),
		BeforeUse:              func(wrap *Context) bool { use('U', wrap); return !refuse },
		AfterUse:               func(wrap *Context) { use('u', wrap) },
		BeforeFDHandler:        func(wrap *Context, f *FD, _ FDFlags) { around('B', wrap, f) },
		AfterFDHandler:         func(wrap *Context, f *FD, _ FDFlags) { around('A', wrap, f) },
		BeforeTimerHandler:     func(wrap *Context, t *Timer, _ time.Time) { around('B', wrap, t) },
		AfterTimerHandler:      func(wrap *Context, t *Timer, _ time.Time) { around('A', wrap, t) },
		BeforeImmediateHandler: func(wrap *Context, im *Immediate) { around('B', wrap, im) },
		AfterImmediateHandler:  func(wrap *Context, im *Immediate) { around('A', wrap, im) },
	}
}

// fzLoopUntil runs LoopUntil for at most max turns, stopping it before a
// turn the model says could block; finished checks each turn as it ends.
func fzLoopUntil(w *fzWorld, m *fzModel, max int) string {
	if m.ctxFreed {
		if err := w.ev.LoopUntil(func() bool { return false }); !errors.Is(err, ErrFreed) {
			return fmt.Sprintf("LoopUntil on a freed context: %v, want ErrFreed", err)
		}
		return ""
	}
	var msg string
	var kind byte
	var id, start, mstart, turns int
	pending := false
	err := w.ev.LoopUntil(func() bool {
		if pending {
			pending = false
			if msg = fzCheckTurn(w, m, kind, id, w.log[start:], mstart); msg != "" {
				return true
			}
		}
		if turns == max {
			return true
		}
		if kind, id = m.next(); kind == 0 {
			return true
		}
		w.prepareTurn(kind)
		start, mstart = len(w.log), len(m.log)
		turns++
		pending = true
		return false
	})
	if pending && msg == "" {
		// The last turn freed the context: finished was not asked again.
		msg = fzCheckTurn(w, m, kind, id, w.log[start:], mstart)
	}
	if msg == "" && err != nil {
		msg = fmt.Sprintf("LoopUntil: %v", err)
	}
	return msg
}

// fzCheckTurn checks one loop turn that the model predicted as kind/id
// ('F': some fd handler), which logged got, and applies it to the model,
// whose entries for the turn start at mstart.
func fzCheckTurn(w *fzWorld, m *fzModel, kind byte, id int, got []fzEntry, mstart int) string {
	if w.guarded {
		return fmt.Sprintf("the loop blocked for %v although the model expects %c%d to be ready (harvest %s)", fzGuardFor, kind, id, m.harvestString())
	}
	if len(got) == 0 {
		return fmt.Sprintf("the loop turn ran no handler; the model expects %c%d", kind, id)
	}
	first := got[0]
	if first.what == 'B' && len(got) > 1 {
		first = got[1] // the handler inside its wrapper's hooks
	}
	switch kind {
	case 'I', 'T':
		if first.what != kind || first.id != id {
			return fmt.Sprintf("the loop turn ran %v first; the model expects %c%d", first, kind, id)
		}
		if kind == 'I' {
			m.runImmediate()
		} else {
			m.runTimer()
		}
	case 'F':
		if first.what != 'F' {
			return fmt.Sprintf("the loop turn ran %v; the model expects an fd handler", first)
		}
		if msg := m.runFD(first.id, first.flags); msg != "" {
			return msg
		}
	}
	if !fzSameLog(got, m.log[mstart:]) {
		return fmt.Sprintf("the loop turn ran %v, model expects %v", got, m.log[mstart:])
	}
	return ""
}

func fzSameLog(a, b []fzEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fzCompareState checks what the API lets one observe directly.
func fzCompareState(w *fzWorld, m *fzModel) string {
	if w.ev.IsFreed() != m.ctxFreed {
		return fmt.Sprintf("IsFreed() = %v, model says %v", w.ev.IsFreed(), m.ctxFreed)
	}
	for slot, id := range m.fdSlot {
		if id == 0 {
			continue
		}
		if w.fdSlot[slot] != id {
			return fmt.Sprintf("fd slot %d holds %d, model says %d", slot, w.fdSlot[slot], id)
		}
		if got, want := w.fds[id].Flags(), m.objs[id].flags; got != want {
			return fmt.Sprintf("fd event %d: Flags() = %s, model says %s", id, fzFlagString(got), fzFlagString(want))
		}
	}
	if w.immSlot != m.immSlot || w.scopeSlot != m.scopeSlot || w.timerSlot != m.timerSlot {
		return fmt.Sprintf("slots differ: immediates %v/%v scopes %v/%v timers %v/%v",
			w.immSlot, m.immSlot, w.scopeSlot, m.scopeSlot, w.timerSlot, m.timerSlot)
	}
	for _, id := range m.immSlot {
		if id != 0 && w.imms[id].Scheduled() != m.objs[id].sched {
			return fmt.Sprintf("immediate %d: Scheduled() = %v, model says %v", id, w.imms[id].Scheduled(), m.objs[id].sched)
		}
	}
	for _, id := range m.scopeSlot {
		if id != 0 && w.scopes[id].Freed() != m.objs[id].freed {
			return fmt.Sprintf("scope %d: Freed() = %v, model says %v", id, w.scopes[id].Freed(), m.objs[id].freed)
		}
	}
	if w.nextID != m.nextID {
		return fmt.Sprintf("%d ids allocated, model allocated %d", w.nextID, m.nextID)
	}
	return ""
}
