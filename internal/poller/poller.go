// Package poller is the seam between the portable event loop and the
// kernel's readiness APIs. A Backend talks to one kernel API and nothing
// else; Poller wraps a Backend with what every backend would otherwise
// repeat: counting registrations, parking on a channel when nothing is
// registered, rounding timeouts, and coalescing wake-ups. The loop (the
// root package) holds a *Poller and never a Backend.
//
// # The backend contract
//
// Goroutines. Add, Modify, Delete, Wait and Close are called only by the
// goroutine driving the loop, never concurrently with each other. Wake may
// be called from any goroutine at any time before Close, concurrently with
// everything else.
//
// Registrations. A registration is a descriptor number, a Token and an
// Interest. Add registers a number that is not registered; Modify replaces
// the token and interest of a registered one; Delete removes it. The core
// adds a number only when, as far as it knows, it is not registered (never
// added, deleted, or reported gone by Modify); a backend whose kernel still
// holds a registration for that number (closed and reused behind the
// loop's back) takes it over. The core never registers an empty Interest
// (it deletes instead), and after a Modify that fails with ErrBadFD it
// still calls Delete. Tokens are opaque to backends: a harvest reports the
// token of the registration current when the kernel reported readiness,
// exactly as given to the last Add or Modify, never an older one. The core
// makes a new token whenever a number may name a new file (a new event on
// a number, a re-registration after a close), so stale readiness of a
// reused number is dropped by comparing tokens.
//
// Trigger mode. Level: as long as a registered descriptor is ready for
// its interest, every Wait reports it again. A backend built on one-shot
// kernel notifications (io_uring poll requests, kqueue EV_ONESHOT) re-arms
// them itself, before the readiness it reported could be missed; the core
// never re-registers to re-arm.
//
// Harvests. The core never passes an empty evs. Wait fills at most
// len(evs) entries, each for a distinct
// registration: a descriptor appears at most once per harvest, with all
// its ready bits in one Event. When more descriptors are ready than fit,
// the ones left out must come first in a later harvest: epoll's kernel
// ready list rotates by itself; a backend that scans (poll) rotates its
// scan start. Ready may hold bits the interest did not ask for
// (ReadyError, ReadyInvalid, and ReadyRead on a hang-up); the core filters.
// A backend never reports its own descriptors (its wake-up fd): it drains
// them and leaves them out.
//
// Waiting. Wait(evs, ms) blocks at most ms milliseconds (ms < 0: until
// readiness or a wake-up; ms == 0: not at all). It returns early, with
// n == 0, after a Wake. EINTR and other spurious returns are (0, nil): the
// loop re-checks its signals and timers and waits again. Timeouts reach
// backends already rounded up to whole milliseconds (Poller does it).
// A backend that blocks its thread in the kernel (a Wait with ms != 0)
// blocks through Block, which makes the first ShortWait milliseconds of
// the wait a raw system call and yields the processor before the rest:
// Block says why. Poller yields before a wait now and then (see Yield);
// a backend does not yield on its own.
//
// Wake-ups. Wake makes the current Wait return, or the next one if none is
// in progress. Backends need not coalesce: Poller calls Wake at most once
// per wait, and never while the loop is not waiting (see the state machine
// on Poller).
//
// Errors. Add and Modify return an error wrapping ErrBadFD when the number
// is not open (EBADF), ErrRefused when the kernel will not watch that kind
// of file (epoll and regular files: EPERM), ErrNotRegistered when Modify
// finds the registration gone (the file was closed behind the loop's back:
// ENOENT), and an error wrapping ErrFatal when the backend itself is
// broken and can be used for nothing but Close. Delete of a registration
// the kernel already forgot (closed behind our back) returns nil: the
// registration is gone either way. Wait returns only ErrFatal errors. The
// errno is wrapped as well, so errors.Is(err, unix.EPERM) works.
//
// Deferred changes. A backend that declares CapDeferredChanges (io_uring)
// may queue Add and Modify and return nil: the change reaches the kernel
// with the next Wait (or sooner, when its queue is full), in the same
// system call as the wait. The errors such a change meets in the kernel
// come back later: the backend retries what the contract lets it handle
// itself (a registration that is already there is taken over), and
// reports the rest in a later harvest as an Event with the token of the
// registration and ReadyFailed alone, once; the registration is then gone.
// Failure gives the error, wrapping ErrBadFD, ErrRefused, ErrNotRegistered
// (a Modify that found the registration gone: never made anew, the number
// may name another file) or ErrFatal, and the errno. What must stay synchronous stays so: Add and Modify of a
// negative number return ErrBadFD, Modify of a number the backend does not
// hold returns ErrNotRegistered, a Modify that changes nothing (the core's
// audit) goes to the kernel at once and returns its error, and Delete is
// never deferred: the core deletes before a descriptor is closed, while
// the number still names the file.
//
// Capabilities. Caps declares what a backend can do beyond the minimum;
// the core asks for capabilities, never for backend names. Caps is read
// once, when the Poller is made: a backend declares what holds for its
// whole life.
//
// Known limit. A registered descriptor closed while another descriptor for
// the same open file (a dup, a child's copy) stays open is still watched
// by epoll under its old registration, which Delete of the number can no
// longer reach: the core's rule for users is to free fd events before
// closing their descriptor.
package poller

import (
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// Interest is what a registration waits for.
type Interest uint8

const (
	// Readable: data to read, a pending connection, or end of file.
	Readable Interest = 1 << iota
	// Writable: room to write.
	Writable
	// ReadHangup: the peer shut down its writing side (EPOLLRDHUP,
	// POLLRDHUP where the kernel has it), reported as ReadyError.
	ReadHangup
)

// Ready is what a harvest reports for one registration.
type Ready uint8

const (
	// ReadyRead: readable (POLLIN, POLLPRI).
	ReadyRead Ready = 1 << iota
	// ReadyWrite: writable (POLLOUT).
	ReadyWrite
	// ReadyError: an error or hang-up (POLLERR, POLLHUP, POLLRDHUP),
	// reported whatever the interest.
	ReadyError
	// ReadyInvalid: the number is not an open descriptor (POLLNVAL): it
	// was closed behind the loop's back.
	ReadyInvalid
	// ReadyFailed: a change queued by Add or Modify was refused by the
	// kernel (backends with CapDeferredChanges only); the registration
	// is gone, and Failure says why. Reported alone, once.
	ReadyFailed
)

// Token identifies one registration. It is opaque to backends.
type Token uint64

// Event is one ready registration harvested by Wait.
type Event struct {
	Token Token
	Ready Ready
}

// Caps are the capabilities a backend declares.
type Caps uint8

const (
	// CapRegularFiles: the backend watches regular files and directories
	// (they are always ready). epoll refuses them.
	CapRegularFiles Caps = 1 << iota
	// CapReportsClosed: the backend reports a registered number that was
	// closed behind the loop's back, as ReadyInvalid (poll's POLLNVAL).
	// Without it the core audits its registrations with Modify when the
	// loop has been idle for a while.
	CapReportsClosed
	// CapSharedChanges: the loop's events may be changed by another
	// goroutine while the loop waits, under a lock the trace callback
	// releases around the wait (tevent's poll_mt). The core then wakes
	// the wait on every change; backend calls still happen only on the
	// loop goroutine, so the backend itself needs no locking.
	CapSharedChanges
	// CapDeferredChanges: Add and Modify may be queued and reach the
	// kernel with the next Wait; a refusal is reported later, as
	// ReadyFailed (see "Deferred changes" in the package documentation).
	// Such a backend implements Failer.
	CapDeferredChanges
)

// Backend is one kernel readiness API. Its contract is this package's
// documentation.
type Backend interface {
	Add(fd int, tok Token, in Interest) error
	Modify(fd int, tok Token, in Interest) error
	Delete(fd int) error
	Wait(evs []Event, ms int) (n int, err error)
	Wake() error
	Close() error
	Caps() Caps
}

// Failer is implemented by backends with CapDeferredChanges.
type Failer interface {
	// Failure returns why the change reported with tok and ReadyFailed
	// in the last harvest was refused; nil for a token not so reported.
	Failure(tok Token) error
}

// Errors a Backend returns, wrapped together with the errno.
var (
	// ErrFatal: the backend cannot be used again (the "standard" backend
	// then falls back to poll).
	ErrFatal = errors.New("poller failed")
	// ErrBadFD: the number is not an open descriptor.
	ErrBadFD = errors.New("not an open descriptor")
	// ErrRefused: the kernel will not watch this kind of file.
	ErrRefused = errors.New("kind of file refused by the backend")
	// ErrNotRegistered: the registration is gone; the file was closed
	// behind the loop's back.
	ErrNotRegistered = errors.New("registration gone: descriptor closed behind the loop's back")
)

// Wait states of a Poller (its state field). Only the loop goroutine moves
// a Poller out of idle; only Wake moves it to woken.
//
//	idle ──BeginWait──▶ parked  (nothing registered: Wait parks on a channel)
//	idle ──BeginWait──▶ kernel  (Wait blocks in the backend)
//	parked ◀──Wait──▶ kernel    (registrations came or went since BeginWait)
//	parked ──Wake──▶ woken      (Wake sends on the channel)
//	kernel ──Wake──▶ woken      (Wake calls Backend.Wake)
//	any ──end of Wait──▶ idle
//
// Wake in idle or woken does nothing: the loop is running handlers and
// will look at its queues before it waits again, or a wake-up is already
// on its way. A producer publishes its work (an atomic store) before it
// calls Wake; the loop calls BeginWait (an atomic store) before it looks
// at its queues for the last time. Either the loop sees the work and does
// not block, or Wake sees the wait state and ends the wait: no wake-up is
// lost. A wake-up that arrives after Wait already returned leaves a token
// in the channel or the backend's wake fd readable: the next wait returns
// early once, harmlessly.
const (
	stateIdle int32 = iota
	stateParked
	stateKernel
	stateWoken
)

// Poller is a Backend plus what every backend shares. Its methods follow
// the Backend's goroutine rules.
type Poller struct {
	b      Backend
	failer Failer // b, if it defers changes
	caps   Caps
	regs   int         // registrations the backend holds
	isReg  Table[bool] // isReg[fd]: fd is counted in regs
	ch     chan struct{}
	timer  *time.Timer
	// Yielding before waits (see Yield): waits since the last yield,
	// and whether the next wait yields whatever that count.
	unyielded  int
	yieldFirst bool
	// state is written by Wake on other goroutines: on a line of its own,
	// so that they do not steal the line of the fields above.
	_     [128]byte
	state atomic.Int32
	_     [124]byte
}

// New wraps b.
func New(b Backend) *Poller {
	t := time.NewTimer(time.Hour)
	t.Stop()
	p := &Poller{b: b, caps: b.Caps(), ch: make(chan struct{}, 1), timer: t}
	if f, ok := b.(Failer); ok && p.caps&CapDeferredChanges != 0 {
		p.failer = f
	}
	return p
}

// Failure returns why the change reported with tok and ReadyFailed in
// the last harvest was refused (see Failer); nil if none was.
func (p *Poller) Failure(tok Token) error {
	if p.failer == nil {
		return nil
	}
	return p.failer.Failure(tok)
}

// Backend returns the wrapped backend.
func (p *Poller) Backend() Backend { return p.b }

// Caps returns the backend's capabilities.
func (p *Poller) Caps() Caps { return p.caps }

// Add registers fd; see Backend.
func (p *Poller) Add(fd int, tok Token, in Interest) error {
	err := p.b.Add(fd, tok, in)
	if err == nil && fd >= 0 {
		if r := p.isReg.Slot(fd); !*r {
			*r = true
			p.regs++
		}
	}
	return err
}

// uncount stops counting fd.
func (p *Poller) uncount(fd int) {
	if p.isReg.At(fd) {
		p.isReg.Set(fd, false)
		p.regs--
	}
}

// Modify changes fd's registration; see Backend. When the registration is
// gone (ErrNotRegistered) it is no longer counted, and a Delete that
// follows does not count it off again.
func (p *Poller) Modify(fd int, tok Token, in Interest) error {
	err := p.b.Modify(fd, tok, in)
	if err != nil && errors.Is(err, ErrNotRegistered) {
		p.uncount(fd)
	}
	return err
}

// Delete removes fd's registration; see Backend.
func (p *Poller) Delete(fd int) error {
	p.uncount(fd)
	return p.b.Delete(fd)
}

// Registered returns how many registrations the backend holds.
func (p *Poller) Registered() int { return p.regs }

// BeginWait announces that the loop is about to wait. After it, the loop
// looks at its queues one last time and passes a zero timeout to Wait if
// it found work; a Wake from here on ends the wait.
func (p *Poller) BeginWait() {
	if p.regs <= 0 {
		p.state.Store(stateParked)
	} else {
		p.state.Store(stateKernel)
	}
}

// Wait harvests ready registrations into evs, waiting at most timeout
// (negative: no limit; zero: not at all), and returns early after a Wake.
// Call BeginWait first: Wake ends only a wait that was announced.
// With nothing registered it parks the goroutine on a channel: the Go
// scheduler hands that over without a system call or a thread.
func (p *Poller) Wait(evs []Event, timeout time.Duration) (int, error) {
	want := stateKernel
	if p.regs <= 0 {
		want = stateParked
	}
	if s := p.state.Load(); (s == stateParked || s == stateKernel) && s != want {
		// Registrations came or went since BeginWait: a Wake must go
		// where this wait waits. If the swap fails a Wake came already.
		p.state.CompareAndSwap(s, want)
	}
	if timeout != 0 && p.regs > 0 {
		p.maybeYield()
	}
	if timeout != 0 && p.state.Load() == stateWoken {
		timeout = 0
	}
	var n int
	var err error
	switch {
	case p.regs <= 0 && timeout == 0:
		select { // nothing to harvest; take a Wake's token, if any
		case <-p.ch:
		default:
		}
	case p.regs <= 0:
		p.park(timeout)
	default:
		n, err = p.b.Wait(evs, Millis(timeout))
	}
	p.state.Store(stateIdle)
	return n, err
}

func (p *Poller) park(timeout time.Duration) {
	if timeout < 0 {
		<-p.ch
		return
	}
	p.timer.Reset(timeout)
	select {
	case <-p.ch:
		p.timer.Stop()
	case <-p.timer.C:
	}
}

// Wake ends the loop's current wait, if it is waiting or about to. Safe
// from any goroutine; a burst of calls costs one wake-up.
func (p *Poller) Wake() error {
	for {
		switch s := p.state.Load(); s {
		case stateParked:
			if p.state.CompareAndSwap(s, stateWoken) {
				select {
				case p.ch <- struct{}{}:
				default:
				}
				return nil
			}
		case stateKernel:
			if p.state.CompareAndSwap(s, stateWoken) {
				return p.b.Wake()
			}
		default:
			return nil
		}
	}
}

// Close closes the backend.
func (p *Poller) Close() error { return p.b.Close() }

// YieldEvery is how many waits in a row may go without a yield (see
// Yield): a goroutine the loop readied waits at most that many of them,
// each at most ShortWait, plus the handlers in between.
const YieldEvery = 8

// Yield makes the next wait that may block yield the processor first
// (runtime.Gosched), whatever the count: the loop calls it when it has
// just readied a goroutine that needs the processor (a job for its
// goroutine pool), so that the job runs before the loop blocks rather
// than after its first ShortWait.
func (p *Poller) Yield() { p.yieldFirst = true }

// maybeYield yields before a wait that may block, on every YieldEvery-th
// wait and when Yield asked for it. Why not on every one: a yield is a
// trip through the Go scheduler (about 1,100 instructions, 0.3-0.5 us on
// a VM), as much again as the rest of a loop turn that echoes a message;
// a loop trading one message at a time with a peer waits once per
// message, and almost always with no other goroutine to run. Why at all:
// with every P busy (GOMAXPROCS 1, or one loop per P), a goroutine the
// loop readied (a channel send in a handler, a pool job) can run only
// when the loop's goroutine passes through the scheduler, and the wait's
// first ShortWait keeps the P (see Block); and a goroutine that never
// passes through the scheduler is preempted every 10 ms, with a signal,
// as one that runs too long. Block yields again before the rest of a
// wait longer than ShortWait.
//
// A backend with CapSharedChanges (poll_mt) yields before every wait:
// there the loop hands its events to other goroutines around each wait
// (the trace callback releases their lock), and they are to run then.
func (p *Poller) maybeYield() {
	if p.yieldFirst || p.unyielded >= YieldEvery-1 || p.caps&CapSharedChanges != 0 {
		p.yieldFirst, p.unyielded = false, 0
		gosched()
		return
	}
	p.unyielded++
}

// ShortWait is how long, in milliseconds, a backend's blocking wait keeps
// the goroutine's P (see Block).
const ShortWait = 1

// Block makes a backend's blocking wait of ms milliseconds (ms != 0;
// negative: no limit) with wait, the backend's kernel wait: its first
// ShortWait milliseconds as a raw system call (wait with raw true), and,
// if that returned nothing (n == 0, no error), a yield
// (runtime.Gosched) and then the rest as an ordinary system call (raw
// false). wait returns how many things happened (its kernel's count,
// wake-up descriptor included): a wake-up ends the wait, as readiness
// does. A backend that cannot wait with a raw system call on some system
// (darwin's poll goes through libc) makes its wait there with raw false
// throughout: Block is then one wait, after a yield.
//
// Why raw: a wait made as an ordinary system call (entersyscall) leaves
// the P to the runtime's monitor, sysmon, which takes it from any wait
// it sees on two of its ticks when no other P is idle (always, with
// GOMAXPROCS 1), and which ticks every 20 us again after each P it takes.
// Every P taken starts a spare thread, and the loop's next wake-up wakes
// sysmon, which takes the next P: with one connection doing ping-pong on
// a pinned core that was 2.4 context switches, 0.3 futex calls and 1
// sysmon sleep per message against 1, 0 and 0 for a bare C epoll loop,
// and the Go runtime cannot be told otherwise. A raw system call keeps
// the goroutine running in sysmon's eyes: nothing to take. Past
// ShortWait the wait releases the P as every blocking call does: a loop
// that sleeps longer does not hold a P it does not use, and the yield
// before lets goroutines readied meanwhile run first.
func Block(ms int, wait func(ms int, raw bool) (int, error)) (int, error) {
	short := ms
	if short < 0 || short > ShortWait {
		short = ShortWait
	}
	n, err := wait(short, true)
	if err == syscall.EINTR {
		// A signal: often the runtime's own, asking a goroutine that
		// has not passed through the scheduler for 10 ms to do so. The
		// yield below serves it; the wait goes on.
		n, err = 0, nil
	}
	if n != 0 || err != nil || short == ms {
		return n, err
	}
	if ms > 0 {
		ms -= short
	}
	gosched()
	return wait(ms, false)
}

// gosched is runtime.Gosched; tests count the yields through it.
var gosched = runtime.Gosched

// Millis rounds a timeout up to whole milliseconds, as kernel waits take
// them (a C int): a negative timeout stays -1, and a positive one never
// rounds down to a busy zero.
func Millis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	if d > math.MaxInt32*time.Millisecond {
		return math.MaxInt32 // and d+time.Millisecond-1 could overflow
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}
