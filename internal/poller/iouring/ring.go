//go:build linux

package iouring

// The raw io_uring interface, without cgo: io_uring_setup, the mmap'd
// submission and completion rings, io_uring_enter and the opcode probe.
// Layouts and numbers are the kernel's uapi (include/uapi/linux/io_uring.h).

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Opcodes.
const (
	opNop         = 0
	opAsyncCancel = 14
	opEpollCtl    = 29
	opEpollWait   = 59 // Linux 6.15
)

// io_uring_setup flags.
const (
	setupClamp     = 1 << 4  // clamp the sizes instead of failing
	setupSubmitAll = 1 << 7  // a failing SQE does not stop the rest of a submission
	setupNoSQArray = 1 << 16 // SQEs are taken in ring order, without an index array
)

// Features reported by io_uring_setup.
const (
	featSingleMmap = 1 << 0  // one mapping for both rings
	featNoDrop     = 1 << 1  // completions are never dropped
	featExtArg     = 1 << 8  // io_uring_enter takes a timeout (IORING_ENTER_EXT_ARG)
	featNoIOWait   = 1 << 17 // IORING_ENTER_NO_IOWAIT is honoured
)

// io_uring_enter flags.
const (
	enterGetEvents = 1 << 0
	enterExtArg    = 1 << 3
	enterNoIOWait  = 1 << 7
)

// mmap offsets and io_uring_register opcodes.
const (
	offSQRing = 0
	offSQEs   = 0x10000000

	registerProbe = 8
	probeOpCount  = 256
	opSupported   = 1 << 0 // io_uring_probe_op.flags
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad2        uint64
}

// cqe is struct io_uring_cqe (16 bytes; no IORING_SETUP_CQE32).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// getEventsArg is struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).
type getEventsArg struct {
	sigmask     uint64
	sigmaskSz   uint32
	minWaitUsec uint32
	ts          uint64 // address of a struct __kernel_timespec, 0: no timeout
}

type probeOp struct {
	op, resv uint8
	flags    uint16
	resv2    uint32
}

// probe is struct io_uring_probe with room for every opcode.
type probe struct {
	lastOp, opsLen uint8
	resv           uint16
	resv2          [3]uint32
	ops            [probeOpCount]probeOp
}

// Compile-time checks of the layouts.
var (
	_ [120 - unsafe.Sizeof(params{})]byte
	_ [unsafe.Sizeof(params{}) - 120]byte
	_ [64 - unsafe.Sizeof(sqe{})]byte
	_ [unsafe.Sizeof(sqe{}) - 64]byte
	_ [16 - unsafe.Sizeof(cqe{})]byte
	_ [24 - unsafe.Sizeof(getEventsArg{})]byte
)

// ring is one io_uring instance: its descriptor and its mapped rings.
// Only the goroutine driving the loop touches it. The SQ tail and the CQ
// head are ours; the SQ head and the CQ tail are the kernel's. Shared
// indices are read and written with sync/atomic (Go's atomics are
// sequentially consistent, stronger than the acquire/release pairs the
// kernel's smp_load_acquire/smp_store_release expect).
type ring struct {
	fd       int
	features uint32
	ringMem  []byte // SQ and CQ rings (one mapping: featSingleMmap)
	sqeMem   []byte

	sqHead  *uint32 // the kernel's
	sqTailP *uint32 // ours, published by submit
	sqTail  uint32  // local copy: SQEs written so far
	sqMask  uint32
	sqSize  uint32
	sqes    []sqe

	cqHead *uint32 // ours
	cqTail *uint32 // the kernel's
	cqMask uint32
	cqes   []cqe
}

// sysSetup is io_uring_setup, unless SetFaults simulates a refusal.
func sysSetup(entries uint32, p *params) (int, error) {
	if err := setupFault(); err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// newRing creates a ring with room for entries SQEs (and twice as many
// CQEs) and maps it.
func newRing(entries uint32) (*ring, error) {
	var p params
	p.flags = setupClamp | setupSubmitAll | setupNoSQArray
	fd, err := sysSetup(entries, &p)
	if err != nil {
		return nil, fmt.Errorf("io_uring_setup: %w", err)
	}
	r := &ring{fd: fd, features: p.features}
	unix.CloseOnExec(fd) // the kernel sets O_CLOEXEC; be sure
	const need = featSingleMmap | featNoDrop | featExtArg
	if p.features&need != need {
		r.close()
		return nil, fmt.Errorf("io_uring features %#x lack %#x (single mmap, no drop, timeouts): kernel too old", p.features, need&^p.features)
	}
	ringSize := max(int(p.sqOff.array)+int(p.sqEntries)*4, int(p.cqOff.cqes)+int(p.cqEntries)*int(unsafe.Sizeof(cqe{})))
	r.ringMem, err = unix.Mmap(fd, offSQRing, ringSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("mmap of the io_uring rings: %w", err)
	}
	r.sqeMem, err = unix.Mmap(fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("mmap of the io_uring SQEs: %w", err)
	}
	r.sqHead = r.u32(p.sqOff.head)
	r.sqTailP = r.u32(p.sqOff.tail)
	r.sqTail = atomic.LoadUint32(r.sqTailP)
	r.sqMask = *r.u32(p.sqOff.ringMask)
	r.sqSize = *r.u32(p.sqOff.ringEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = r.u32(p.cqOff.head)
	r.cqTail = r.u32(p.cqOff.tail)
	r.cqMask = *r.u32(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.ringMem[p.cqOff.cqes])), p.cqEntries)
	return r, nil
}

func (r *ring) u32(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.ringMem[off])) }

// supports asks the kernel (IORING_REGISTER_PROBE) whether it runs every
// opcode of ops, and returns an error naming the ones it does not.
func (r *ring) supports(ops map[uint8]string) error {
	pr := new(probe)
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerProbe, uintptr(unsafe.Pointer(pr)), probeOpCount, 0, 0)
	if e != 0 {
		return fmt.Errorf("IORING_REGISTER_PROBE: %w", e)
	}
	var missing []string
	for op, name := range ops {
		if op > pr.lastOp || pr.ops[op].flags&opSupported == 0 || probeHides(op) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the kernel's io_uring lacks %v (IORING_OP_EPOLL_WAIT needs Linux 6.15)", missing)
	}
	return nil
}

// free is how many SQEs can still be written before a submission.
func (r *ring) free() uint32 { return r.sqSize - (r.sqTail - atomic.LoadUint32(r.sqHead)) }

// next returns the next SQE to fill, zeroed. The caller checked free.
func (r *ring) next() *sqe {
	s := &r.sqes[r.sqTail&r.sqMask]
	*s = sqe{}
	r.sqTail++
	return s
}

// unsubmitted is how many written SQEs the kernel has not taken yet.
func (r *ring) unsubmitted() uint32 { return r.sqTail - atomic.LoadUint32(r.sqHead) }

// enter is io_uring_enter: it publishes the SQ tail and submits what
// was written. raw makes it a raw system call, without the scheduler's
// bookkeeping: for calls that do not block (minComplete 0), and for the
// first poller.ShortWait of a blocking wait (see Backend.blockingWait).
func (r *ring) enter(minComplete uint32, flags uintptr, arg *getEventsArg, raw bool) (int, error) {
	atomic.StoreUint32(r.sqTailP, r.sqTail)
	toSubmit := r.unsubmitted()
	var argp, argsz uintptr
	if arg != nil {
		argp, argsz = uintptr(unsafe.Pointer(arg)), unsafe.Sizeof(*arg)
	}
	var n uintptr
	var e unix.Errno
	if raw {
		n, _, e = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), flags, argp, argsz)
	} else {
		n, _, e = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), flags, argp, argsz)
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// cq returns the completions posted and not yet consumed: head..tail.
func (r *ring) cq() (head, tail uint32) {
	return atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail)
}

// at returns the completion at index i.
func (r *ring) at(i uint32) *cqe { return &r.cqes[i&r.cqMask] }

// consume hands the completions up to head back to the kernel.
func (r *ring) consume(head uint32) { atomic.StoreUint32(r.cqHead, head) }

// close unmaps the rings and closes the descriptor.
func (r *ring) close() error {
	var errs []error
	if r.sqeMem != nil {
		errs = append(errs, unix.Munmap(r.sqeMem))
		r.sqeMem, r.sqes = nil, nil
	}
	if r.ringMem != nil {
		errs = append(errs, unix.Munmap(r.ringMem))
		r.ringMem, r.cqes = nil, nil
	}
	errs = append(errs, unix.Close(r.fd))
	return errors.Join(errs...)
}
