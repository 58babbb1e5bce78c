package tevent

// FuzzLoop's seeds: a builder for inputs and the named seed corpus.

import "fmt"

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
