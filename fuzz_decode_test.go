package tevent

// FuzzLoop's decoder: how fuzz input bytes become operations and handler actions.

import "fmt"

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
