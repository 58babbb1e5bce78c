package tevent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzLoop decodes its input into a sequence of operations on one context
// (add and free fd, timer and immediate events, scopes and wrappers; change
// flags, update timers, schedule and cancel immediates; write to, drain,
// shut down and close the fds; run LoopOnce, LoopUntil, LoopOnce through a
// wrapper, or LoopOnce blocked until another goroutine writes; handlers
// free, add, change and reschedule things too) and checks every step
// against the reference model in model_test.go: which handler runs, with
// which flags, in which order, what freeing runs, and that nothing the
// model calls ready is left waiting. Each input runs on every backend, and
// must leave no descriptor open.
//
// Input format: the first byte selects options (see fzOptions); then each
// operation is an opcode byte followed by a fixed number of argument bytes
// (see fzOpTable and fzOpArgs). Missing bytes read as zero; at most
// fzMaxOps operations are run. TEVENT_FUZZ_TRACE=1 logs every step.
//
// Signals are not part of it: their arrival is asynchronous, and
// signal_test.go covers them.
func FuzzLoop(f *testing.F) {
	for _, s := range fzSeeds() {
		if s.inline {
			f.Add(s.data)
		}
	}
	fzShortMinimize()
	f.Fuzz(func(t *testing.T, data []byte) {
		opt, ops := fzDecode(data)
		before := openFDCount(t)
		for _, b := range Backends() {
			fzRun(t, b, opt, ops)
		}
		if after := openFDCount(t); before >= 0 && after != before {
			// Find the backend that leaked, for the report.
			for _, b := range Backends() {
				n := openFDCount(t)
				fzRun(t, b, opt, ops)
				if m := openFDCount(t); m != n {
					t.Fatalf("backend %s %+v: descriptor leak: %d open before, %d after", b, opt, n, m)
				}
			}
			// No backend leaks on its own: something else in the process
			// (a finalizer, another test's goroutine) opened or closed
			// a descriptor meanwhile.
			t.Logf("descriptor count moved from %d to %d, but no backend leaks when run alone", before, after)
		}
	})
}

// fzShortMinimize makes the fuzzer spend at most fzMinimizeTime, instead of
// the default minute, minimizing each new input, unless -fuzzminimizetime
// was given. Minimizing runs an input up to n² times for n bytes, and one
// run costs about a millisecond (sockets and contexts on four backends):
// with the default, both workers of a short CI run spend most of it
// minimizing rather than trying new inputs.
func fzShortMinimize() {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.fuzzminimizetime" })
	if !given {
		flag.Set("test.fuzzminimizetime", fzMinimizeTime.String())
	}
}

const (
	fzMinimizeTime = 5 * time.Second
	fzPairs        = 3
	fzScopes       = 4 // slot 0 is the context itself
	fzFDs          = 6
	fzTimers       = 6
	fzImms         = 4
	fzMaxOps       = 200
	fzMaxDups      = 4
	fzGuardFor     = 5 * time.Second // a LoopOnce the model says cannot block
)

type fzOpKind uint8

const (
	opLoop fzOpKind = iota
	opAddFD
	opAddDup
	opSetFlags
	opFreeFD
	opAddTimer
	opUpdateTimer
	opFreeTimer
	opNewImm
	opSchedule
	opCancel
	opFreeImm
	opWrite
	opDrain
	opShutdown
	opClosePeer
	opNewScope
	opFreeScope
	opOnFree
	opFreeCtx
	opLoopUntil
	opNewWrapper
	opLoopVia
	opLoopAsync
	fzNumOps
)

var fzOpNames = [fzNumOps]string{"loop", "addfd", "adddup", "setflags", "freefd", "addtimer",
	"update", "freetimer", "newimm", "schedule", "cancel", "freeimm", "write", "drain",
	"shutdown", "closepeer", "newscope", "freescope", "onfree", "freectx", "loopuntil", "newwrapper", "loopvia", "loopasync"}

// fzOpTable maps an opcode byte (mod its length) to an operation; LoopOnce
// is the most frequent.
var fzOpTable = [32]fzOpKind{
	opLoop, opLoop, opLoop, opLoop, opLoopAsync, opNewWrapper, opLoopVia,
	opAddFD, opAddFD, opAddDup, opSetFlags, opSetFlags, opFreeFD,
	opAddTimer, opAddTimer, opUpdateTimer, opFreeTimer,
	opNewImm, opSchedule, opSchedule, opCancel, opFreeImm,
	opWrite, opWrite, opDrain, opShutdown, opClosePeer,
	opNewScope, opFreeScope, opOnFree, opLoopUntil, opFreeCtx,
}

// fzOpArgs is how many argument bytes each operation reads.
//
//	addfd, adddup: a0 = pair(0-1) flags(2-4) closefn(5) scope(6-7); a1 = slot; a2, a3 = action
//	setflags:      a0 = slot(0-2) flags(3-5)
//	addtimer:      a0 = offset(0-2) far(3) scope(4-5); a1 = slot; a2, a3 = action
//	update:        a0 = slot(0-2) offset(3-5) far(6)
//	newimm:        a0 = slot(0-1) scope(2-3); a1, a2 = action
//	newscope:      a0 = slot(0-1) parent(2-3)
//	freectx:       a0 must have its low 3 bits set, else it is a loop
//	loopuntil:     a0 = at most 1 + a0%8 turns
//	newwrapper:    a0 = slot(0-1) parent(2-3) refuse(4): a wrapper of the
//	               context of scope slot parent, into scope slot 1 + slot%3
//	loopvia:       a0 = scope slot: LoopOnce through that scope's context
//	loopasync:     a0 = pair: when nothing is ready, LoopOnce while another
//	               goroutine writes to the pair once the loop waits
//	others:        a0 = the slot, pair or scope
var fzOpArgs = [fzNumOps]int{
	opLoop: 0, opAddFD: 4, opAddDup: 4, opSetFlags: 1, opFreeFD: 1, opAddTimer: 4,
	opUpdateTimer: 1, opFreeTimer: 1, opNewImm: 3, opSchedule: 1, opCancel: 1, opFreeImm: 1,
	opWrite: 1, opDrain: 1, opShutdown: 1, opClosePeer: 1, opNewScope: 1, opFreeScope: 1,
	opOnFree: 1, opFreeCtx: 1, opLoopUntil: 1, opNewWrapper: 1, opLoopVia: 1, opLoopAsync: 1,
}

type fzOp struct {
	kind fzOpKind
	a    [4]byte
}

func (op fzOp) String() string {
	return fmt.Sprintf("%s%v", fzOpNames[op.kind], op.a[:fzOpArgs[op.kind]])
}

// fzAct is what a handler does each time it runs: k selects the action
// (mod 24, see fzActTable), arg its target.
type fzAct struct{ k, arg byte }

type fzActKind uint8

const (
	actNone fzActKind = iota
	actFreeSelf
	actFreeFD      // fd slot arg%6
	actFreeTimer   // timer slot arg%6
	actFreeImm     // immediate slot arg%4
	actFreeScope   // scope slot 1+arg%3
	actSchedImm    // immediate slot arg%4
	actCancelImm   // immediate slot arg%4
	actAddTimer    // into timer slot arg%6, expired, offset arg>>3&7, on the context
	actSetFlags    // fd slot (arg&7)%6 gets flags arg>>3&7
	actDrain       // an fd handler drains its own fd, others pair arg%3
	actUpdateTimer // timer slot arg%6 (or itself if arg&0x80) to offset arg>>3&7
	actWrite       // a byte to pair arg%3
	actAddFD       // on pair (arg&3)%3, flags arg>>2&7, into fd slot (arg>>5)%6, on the context
	actFreeCtx     // only when arg&7 == 7
)

var fzActNames = []string{"none", "freeself", "freefd", "freetimer", "freeimm", "freescope",
	"schedimm", "cancelimm", "addtimer", "setflags", "drain", "update", "write", "addfd", "freectx"}

var fzActTable = [24]fzActKind{
	actNone, actNone, actNone, actNone, actNone, actFreeSelf, actFreeSelf, actFreeFD,
	actFreeTimer, actFreeImm, actFreeScope, actSchedImm, actSchedImm, actCancelImm,
	actAddTimer, actSetFlags, actSetFlags, actDrain, actDrain, actUpdateTimer, actWrite,
	actAddFD, actFreeCtx, actNone,
}

func (a fzAct) kind() fzActKind {
	k := fzActTable[a.k%24]
	if k == actFreeCtx && a.arg&7 != 7 {
		return actNone
	}
	return k
}

func (a fzAct) String() string { return fmt.Sprintf("%s/%d", fzActNames[a.kind()], a.arg) }

// fzOptions are the context's options, from the input's first byte.
type fzOptions struct {
	strict        bool // bit 0: WithOneEventPerWait
	runtimePoller bool // bit 1: WithRuntimePoller
	lazyTrace     bool // bit 2: set the trace callback only for fd turns
	logger        bool // bit 3: WithLogger, at every level, to io.Discard
}

// fzDecode turns the fuzz input into options and operations.
func fzDecode(data []byte) (opt fzOptions, ops []fzOp) {
	if len(data) == 0 {
		return opt, nil
	}
	opt = fzOptions{strict: data[0]&1 != 0, runtimePoller: data[0]&2 != 0,
		lazyTrace: data[0]&4 != 0, logger: data[0]&8 != 0}
	data = data[1:]
	for len(data) > 0 && len(ops) < fzMaxOps {
		op := fzOp{kind: fzOpTable[data[0]%byte(len(fzOpTable))]}
		data = data[1:]
		for i := 0; i < fzOpArgs[op.kind]; i++ {
			if len(data) > 0 {
				op.a[i] = data[0]
				data = data[1:]
			}
		}
		if op.kind == opFreeCtx && op.a[0]&7 != 7 {
			op.kind = opLoop
		}
		ops = append(ops, op)
	}
	return opt, ops
}

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

// fzSeedBuilder writes inputs for FuzzLoop by operation name.
type fzSeedBuilder struct{ b []byte }

func fzSeed(options byte) *fzSeedBuilder { return &fzSeedBuilder{b: []byte{options}} }

func (s *fzSeedBuilder) op(k fzOpKind, args ...byte) *fzSeedBuilder {
	for code, kind := range fzOpTable {
		if kind == k {
			s.b = append(s.b, byte(code))
			break
		}
	}
	if len(args) != fzOpArgs[k] {
		panic(fmt.Sprintf("fzSeed: %s takes %d arguments, got %d", fzOpNames[k], fzOpArgs[k], len(args)))
	}
	s.b = append(s.b, args...)
	return s
}

func (s *fzSeedBuilder) loop(n int) *fzSeedBuilder {
	for range n {
		s.op(opLoop)
	}
	return s
}

// Argument encoders for the seed builder.
func fzFDArg(pair int, flags FDFlags, closeFn bool, scope int) byte {
	b := byte(pair) | byte(flags)<<2 | byte(scope)<<6
	if closeFn {
		b |= 0x20
	}
	return b
}

func fzTimerArg(off int, far bool, scope int) byte {
	b := byte(off) | byte(scope)<<4
	if far {
		b |= 8
	}
	return b
}

// fzA builds an action byte pair from its kind.
func fzA(k fzActKind, arg byte) (byte, byte) {
	for code, kind := range fzActTable {
		if kind == k {
			return byte(code), arg
		}
	}
	panic("fzA: unknown action")
}

type fzNamedSeed struct {
	name   string
	data   []byte
	inline bool // also added with f.Add
}

// fzSeeds are the hand-written seeds; testdata/fuzz/FuzzLoop holds them
// (written by TestFuzzLoopWriteCorpus) and the regressions found since.
func fzSeeds() []fzNamedSeed {
	var seeds []fzNamedSeed
	add := func(name string, inline bool, s *fzSeedBuilder) {
		seeds = append(seeds, fzNamedSeed{name, s.b, inline})
	}
	none0, none1 := fzA(actNone, 0)
	add("empty", true, fzSeed(0))

	// Immediates: FIFO, rescheduling moves to the tail, cancel, a handler
	// rescheduling another and itself.
	k, arg := fzA(actSchedImm, 2)
	k2, arg2 := fzA(actSchedImm, 0)
	add("immediates", true, fzSeed(4).
		op(opNewImm, 0, none0, none1).op(opNewImm, 1, k, arg).op(opNewImm, 2, k2, arg2).op(opNewImm, 3, none0, none1).
		op(opSchedule, 0).op(opSchedule, 1).op(opSchedule, 3).op(opSchedule, 0).op(opCancel, 3).
		loop(6).op(opSchedule, 3).op(opFreeImm, 3).loop(2))

	// Timers: equal deadlines in order added, Update moves one behind its
	// equals, a far one never fires, one re-arms itself once.
	ku, argu := fzA(actUpdateTimer, 0x80|3<<3)
	kf, argf := fzA(actFreeTimer, 4)
	add("timers", true, fzSeed(0).
		op(opAddTimer, fzTimerArg(2, false, 0), 0, none0, none1).
		op(opAddTimer, fzTimerArg(2, false, 0), 1, none0, none1).
		op(opAddTimer, fzTimerArg(1, false, 0), 2, ku, argu).
		op(opAddTimer, fzTimerArg(0, true, 0), 3, none0, none1).
		op(opAddTimer, fzTimerArg(2, false, 0), 4, none0, none1).
		op(opAddTimer, fzTimerArg(0, false, 0), 5, kf, argf).
		op(opUpdateTimer, 0|2<<3).
		loop(8).op(opFreeTimer, 3).op(opUpdateTimer, 1|4<<3).loop(2))

	// Read, write and drain: data makes an fd readable until a handler
	// drains it; write events are always ready.
	kd, argd := fzA(actDrain, 0)
	add("fd-read-write", true, fzSeed(0).
		op(opAddFD, fzFDArg(0, FDRead, true, 0), 0, kd, argd).
		op(opAddFD, fzFDArg(1, FDRead, false, 0), 1, none0, none1).
		loop(1).op(opWrite, 0).loop(2).op(opWrite, 1).op(opDrain, 1).loop(1).
		op(opAddFD, fzFDArg(2, FDWrite, true, 0), 2, none0, none1).loop(2).
		op(opSetFlags, 2|0<<3).loop(1).op(opFreeFD, 0).op(opWrite, 0).loop(1))

	// Hang-ups: EOF after shutdown is FDRead and FDError, a closed peer an
	// error for every kind of event.
	add("fd-hangup", false, fzSeed(0).
		op(opAddFD, fzFDArg(0, FDError, true, 0), 0, kd, argd).
		op(opAddFD, fzFDArg(0, FDRead, true, 0), 1, kd, argd).
		op(opAddFD, fzFDArg(1, FDRead|FDError, true, 0), 2, none0, none1).
		op(opAddFD, fzFDArg(2, FDWrite|FDError, true, 0), 3, none0, none1).
		op(opShutdown, 0).loop(3).op(opWrite, 1).loop(1).op(opClosePeer, 1).loop(2).
		op(opSetFlags, 2|byte(FDRead)<<3).loop(1).op(opClosePeer, 2).loop(2).
		op(opFreeFD, 2).op(opFreeFD, 3).op(opFreeFD, 0).op(opClosePeer, 0).loop(2))

	// Several events on one fd take turns with their own flags.
	add("fd-shared", false, fzSeed(0).
		op(opAddFD, fzFDArg(0, FDRead, true, 0), 0, none0, none1).
		op(opAddFD, fzFDArg(0, FDRead|FDWrite, true, 0), 1, none0, none1).
		op(opAddFD, fzFDArg(0, FDWrite, true, 0), 2, none0, none1).
		op(opAddFD, fzFDArg(0, FDError, true, 0), 3, none0, none1).
		op(opWrite, 0).loop(6).op(opDrain, 0).loop(3).op(opSetFlags, 1|byte(FDRead)<<3).loop(2))

	// Scopes: freeing one frees its events newest first, nested scopes
	// first, then its destructors last added first; things added to a
	// freed scope are dead; OnFree on a freed scope runs at once.
	add("scopes", false, fzSeed(0).
		op(opNewScope, 0|0<<2).op(opNewScope, 1|1<<2).op(opOnFree, 1).op(opOnFree, 2).
		op(opAddFD, fzFDArg(0, FDWrite, true, 1), 0, none0, none1).
		op(opAddFD, fzFDArg(1, FDWrite, true, 2), 1, none0, none1).
		op(opAddTimer, fzTimerArg(3, false, 2), 0, none0, none1).
		op(opNewImm, 0|2<<2, none0, none1).op(opSchedule, 0).
		op(opAddFD, fzFDArg(2, FDRead, true, 1), 2, none0, none1).op(opOnFree, 1).
		op(opFreeScope, 0).op(opOnFree, 2).op(opOnFree, 1).
		op(opAddFD, fzFDArg(0, FDWrite, true, 2), 3, none0, none1).
		op(opAddTimer, fzTimerArg(1, false, 1), 1, none0, none1).
		op(opNewScope, 2|2<<2).op(opOnFree, 3).
		loop(3).op(opOnFree, 0))

	// Freeing from inside handlers: a timer frees a ready fd event, an fd
	// handler frees the scope holding itself and others, an immediate
	// frees a timer due next.
	kfs, argfs := fzA(actFreeScope, 0)
	kff, argff := fzA(actFreeFD, 1)
	kft, argft := fzA(actFreeTimer, 1)
	kfself, argfself := fzA(actFreeSelf, 0)
	add("free-in-handlers", false, fzSeed(0).
		op(opNewScope, 0|0<<2).op(opOnFree, 1).
		op(opAddFD, fzFDArg(0, FDWrite, true, 1), 0, kfs, argfs).
		op(opAddFD, fzFDArg(1, FDWrite, true, 0), 1, none0, none1).
		op(opAddTimer, fzTimerArg(0, false, 0), 0, kff, argff).
		op(opAddTimer, fzTimerArg(1, false, 1), 1, none0, none1).
		op(opAddTimer, fzTimerArg(2, false, 0), 2, kfself, argfself).
		op(opNewImm, 0, kft, argft).op(opSchedule, 0).
		loop(8))

	// Stale harvest: two fds ready at one wait; the first handler drains
	// the other's data, which may still be reported (documented) but only
	// to an event that is still registered and wants it.
	kdr, argdr := fzA(actDrain, 1)
	add("harvest-stale", false, fzSeed(0).
		op(opAddFD, fzFDArg(0, FDRead, true, 0), 0, none0, none1).
		op(opAddFD, fzFDArg(1, FDRead, true, 0), 1, none0, none1).
		op(opNewImm, 0, kdr, argdr).
		op(opWrite, 0).op(opWrite, 1).loop(1).op(opDrain, 0).op(opDrain, 1).op(opWrite, 0).op(opWrite, 1).
		op(opSchedule, 0).loop(3).op(opFreeFD, 1).loop(1))

	// Flags changed between harvest and dispatch on a hung-up fd: the
	// event must still be served by the next wait.
	add("harvest-setflags-hangup", false, fzSeed(0).
		op(opAddFD, fzFDArg(0, FDRead, true, 0), 0, kd, argd).
		op(opAddFD, fzFDArg(1, FDRead, true, 0), 1, kd, argd).
		op(opClosePeer, 0).op(opClosePeer, 1).loop(1).
		op(opSetFlags, 0|byte(FDWrite)<<3).op(opSetFlags, 1|byte(FDWrite)<<3).loop(4))

	// Descriptor numbers reused between a harvest and its dispatch: dup'd
	// fds closed by their events and dup'd again.
	add("fd-reuse", false, fzSeed(1).
		op(opAddDup, fzFDArg(0, FDRead|FDError, false, 0), 0, none0, none1).
		op(opAddDup, fzFDArg(1, FDWrite, true, 0), 1, none0, none1).
		op(opAddFD, fzFDArg(2, FDWrite, true, 0), 2, none0, none1).
		op(opWrite, 0).op(opClosePeer, 0).loop(1).op(opFreeFD, 0).op(opFreeFD, 1).
		op(opAddDup, fzFDArg(2, FDWrite, true, 0), 0, none0, none1).
		op(opAddDup, fzFDArg(1, FDRead, false, 0), 1, none0, none1).op(opWrite, 1).loop(4))

	// Priorities: immediates before timers before fds, each on its own
	// turn; an immediate scheduled by a handler runs on a later turn.
	kw, argw := fzA(actWrite, 0)
	ks, args := fzA(actSchedImm, 1)
	add("priorities", false, fzSeed(0).
		op(opAddFD, fzFDArg(0, FDRead|FDWrite, true, 0), 0, ks, args).
		op(opAddTimer, fzTimerArg(0, false, 0), 0, kw, argw).
		op(opNewImm, 0, none0, none1).op(opNewImm, 1, none0, none1).
		op(opSchedule, 0).loop(6))

	// Adding events from handlers: an fd event added by a handler is
	// served only by a later wait; a timer added by a handler fires later.
	kaf, argaf := fzA(actAddFD, 1|byte(FDRead|FDWrite)<<2|5<<5)
	kat, argat := fzA(actAddTimer, 4|2<<3)
	add("add-in-handlers", false, fzSeed(2).
		op(opAddFD, fzFDArg(0, FDWrite, true, 0), 0, kaf, argaf).
		op(opAddFD, fzFDArg(1, FDRead, true, 0), 1, kat, argat).
		op(opWrite, 1).loop(6))

	// The context freed from inside an fd handler: LoopOnce returns nil,
	// everything is freed in order, later calls see a freed context.
	kfc, argfc := fzA(actFreeCtx, 7)
	add("free-context-in-handler", false, fzSeed(0).
		op(opNewScope, 0).op(opOnFree, 0).op(opOnFree, 1).
		op(opAddFD, fzFDArg(0, FDWrite, true, 1), 0, kfc, argfc).
		op(opAddFD, fzFDArg(1, FDRead, true, 0), 1, none0, none1).
		loop(2).op(opOnFree, 1).op(opAddTimer, fzTimerArg(0, false, 0), 0, none0, none1).
		op(opAddFD, fzFDArg(1, FDRead, true, 0), 2, none0, none1).loop(1))

	// Timer handlers changing fd flags and immediates cancelling timers.
	ksf, argsf := fzA(actSetFlags, 0|byte(FDWrite)<<3)
	kc, argc := fzA(actCancelImm, 1)
	add("handlers-change-things", false, fzSeed(3).
		op(opAddFD, fzFDArg(0, 0, true, 0), 0, none0, none1).
		op(opAddTimer, fzTimerArg(0, false, 0), 0, ksf, argsf).
		op(opNewImm, 0, kc, argc).op(opNewImm, 1, none0, none1).
		op(opSchedule, 0).op(opSchedule, 1).loop(4).op(opFreeCtx, 7).loop(1))
	// Timer churn: enough re-armed and freed timers for the heap to drop
	// and compact stale entries, with live ones still firing in order.
	churn := fzSeed(0).op(opNewScope, 0)
	for i := range 70 {
		churn.op(opAddTimer, fzTimerArg(i%8, i%3 == 0, 1), byte(i), none0, none1)
	}
	churn.op(opAddTimer, fzTimerArg(5, false, 0), 0, none0, none1).
		op(opAddTimer, fzTimerArg(5, false, 0), 1, none0, none1).
		op(opAddTimer, fzTimerArg(2, false, 0), 2, ku, argu).
		op(opFreeScope, 0).loop(2)
	for i := range 70 {
		churn.op(opUpdateTimer, byte(i%3)|byte(7-i%8)<<3)
	}
	churn.loop(6)
	add("timer-churn", false, churn)

	// LoopUntil runs several turns; finished is asked before each.
	add("loop-until", false, fzSeed(0).
		op(opAddFD, fzFDArg(0, FDRead, true, 0), 0, kd, argd).
		op(opAddTimer, fzTimerArg(1, false, 0), 0, kw, argw).
		op(opAddTimer, fzTimerArg(0, false, 0), 1, none0, none1).
		op(opNewImm, 0, ks, args).op(opNewImm, 1, none0, none1).op(opNewImm, 2, kfc, argfc).
		op(opSchedule, 0).op(opLoopUntil, 7).op(opWrite, 0).op(opLoopUntil, 2).
		op(opSchedule, 2).op(opWrite, 0).op(opLoopUntil, 5).op(opLoopUntil, 1))
	// Wrappers: events added through a wrapper (or a wrapper of it) run
	// inside its hooks and get it as their context; a loop call made
	// through it runs inside its use hooks, or fails if BeforeUse
	// refuses; freeing it frees its events and the wrappers made from it.
	// Options: trace callback only for fd turns, debug logging.
	kfw, argfw := fzA(actFreeScope, 0)
	add("wrappers", false, fzSeed(4|8).
		op(opNewWrapper, 0).op(opNewWrapper, 1|1<<2).op(opNewWrapper, 2|0x10).
		op(opAddFD, fzFDArg(0, FDWrite, true, 1), 0, none0, none1).
		op(opAddTimer, fzTimerArg(0, false, 2), 0, none0, none1).
		op(opNewImm, 0|1<<2, ks, args).op(opNewImm, 1|2<<2, none0, none1).
		op(opOnFree, 1).op(opOnFree, 2).op(opSchedule, 0).
		op(opLoopVia, 1).op(opLoopVia, 3).op(opLoopVia, 2).op(opLoop).op(opLoopVia, 0).
		op(opAddTimer, fzTimerArg(1, false, 2), 1, kfw, argfw).op(opLoop).
		op(opLoopVia, 2).op(opLoopVia, 1).op(opLoop).op(opNewWrapper, 0|1<<2))
	// Blocking waits: nothing is ready until another goroutine writes
	// while the loop waits in the kernel (or parks in the runtime).
	for _, o := range []byte{0, 2 | 4} {
		add(fmt.Sprintf("blocking-waits-%d", o), false, fzSeed(o).
			op(opAddFD, fzFDArg(0, FDRead, true, 0), 0, kd, argd).
			op(opAddFD, fzFDArg(1, FDRead|FDError, true, 1), 1, kd, argd).
			op(opLoopAsync, 0).op(opLoopAsync, 1).op(opLoopAsync, 0).
			op(opAddTimer, fzTimerArg(0, true, 0), 0, none0, none1).op(opLoopAsync, 1).
			op(opWrite, 2).op(opLoopAsync, 2).op(opShutdown, 0).op(opLoop).op(opLoop))
	}
	return seeds
}

// TestFuzzLoopWriteCorpus regenerates testdata/fuzz/FuzzLoop/seed-* from
// fzSeeds when TEVENT_WRITE_FUZZ_CORPUS is set.
func TestFuzzLoopWriteCorpus(t *testing.T) {
	if os.Getenv("TEVENT_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set TEVENT_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
