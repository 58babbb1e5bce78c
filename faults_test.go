//go:build linux

package tevent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/poll"
	"github.com/gotevent/tevent/internal/poller/standard"
	"golang.org/x/sys/unix"
)

// Fault injection through the pollers' internal seams (epoll.SetFaults,
// poll.SetFaults). The seams are process-wide; no test here runs in
// parallel with another, and each restores the real calls before it
// returns.

// faultLog is a slog.Handler that keeps what a context logs at warning
// level and above, so a test can check that a fault was reported.
type faultLog struct {
	mu   sync.Mutex
	recs []faultRec
}

type faultRec struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

func newFaultLog() (*faultLog, Option) {
	l := &faultLog{}
	return l, WithLogger(slog.New(l))
}

func (l *faultLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l *faultLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *faultLog) WithGroup(string) slog.Handler                 { return l }

func (l *faultLog) Handle(_ context.Context, r slog.Record) error {
	rec := faultRec{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Any()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	l.mu.Unlock()
	return nil
}

// find returns the first record at level lv whose message contains msg.
func (l *faultLog) find(lv slog.Level, msg string) (faultRec, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.level == lv && strings.Contains(r.msg, msg) {
			return r, true
		}
	}
	return faultRec{}, false
}

func (l *faultLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.recs {
		fmt.Fprintf(&b, "[%v %q %v] ", r.level, r.msg, r.attrs)
	}
	return b.String()
}

// errAttr checks that rec carries an "error" attribute matching want.
func errAttr(t *testing.T, rec faultRec, want error) {
	t.Helper()
	e, ok := rec.attrs["error"].(error)
	if !ok {
		t.Errorf("log record %q has no error attribute: %v", rec.msg, rec.attrs)
		return
	}
	if !errors.Is(e, want) {
		t.Errorf("log record %q: error %v, want %v", rec.msg, e, want)
	}
}

// kernelBackend is the backend ev waits in: for "standard", the one it
// uses now.
func kernelBackend(ev *Context) poller.Backend {
	b := ev.loop.poller.Backend()
	if s, ok := b.(*standard.Backend); ok {
		return s.Current()
	}
	return b
}

func usesPoll(ev *Context) bool {
	_, ok := kernelBackend(ev).(*poll.Backend)
	return ok
}

func usesEpoll(ev *Context) bool {
	_, ok := kernelBackend(ev).(*epoll.Backend)
	return ok
}

type faultVariant struct {
	backend string
	opts    []Option
}

func (v faultVariant) name() string {
	if len(v.opts) > 0 {
		return v.backend + "+runtimepoller"
	}
	return v.backend
}

// TestFaultEINTRStorm interrupts three kernel waits out of four, for the
// whole test, on every backend: the loop retries each interrupted wait,
// never returns an error, and every fd, timer, immediate and proxy event
// is delivered exactly once, in order.
func TestFaultEINTRStorm(t *testing.T) {
	variants := []faultVariant{
		{"epoll", nil}, {"standard", nil}, {"poll", nil}, {"poll_mt", nil},
		{"epoll", []Option{WithRuntimePoller()}},
		{"standard", []Option{WithRuntimePoller()}},
	}
	for _, v := range variants {
		t.Run(v.name(), func(t *testing.T) {
			var calls, injected atomic.Int64
			storm := func() bool {
				if calls.Add(1)%4 != 0 {
					injected.Add(1)
					return true
				}
				return false
			}
			defer epoll.SetFaults(nil, func(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
				if storm() {
					return 0, unix.EINTR
				}
				return unix.EpollWait(epfd, evs, ms)
			})()
			defer poll.SetFaults(func(fds []unix.PollFd, ms int) (int, error) {
				if storm() {
					return 0, unix.EINTR
				}
				return unix.Poll(fds, ms)
			})()
			withBackend(t, v.backend, func(t *testing.T, ev *Context) {
				const rounds, sends, steps = 200, 100, 50
				// fd: a ping that re-arms itself from its own handler.
				p := newSockPair(t)
				pings := 0
				fde, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
					var b [16]byte
					n, err := unix.Read(fde.Fd(), b[:])
					if err != nil || n != 1 {
						t.Errorf("ping read: n=%d err=%v (a wait reported stale or doubled readiness)", n, err)
						return
					}
					pings++
					if pings < rounds {
						writeBytes(t, p.fd[1], "p")
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				writeBytes(t, p.fd[1], "p")
				// timer
				timerCalls := 0
				ev.AddTimer(time.Now().Add(5*time.Millisecond), func(*Context, *Timer, time.Time) { timerCalls++ })
				// immediates
				im := ev.NewImmediate()
				imSteps := 0
				var step ImmediateHandler
				step = func(ev *Context, im *Immediate) {
					imSteps++
					if imSteps < steps {
						im.Schedule(step)
					}
				}
				im.Schedule(step)
				// proxy calls from another goroutine, while the loop waits
				tp, err := ev.NewThreadProxy()
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				sent := make(chan struct{})
				go func() {
					defer close(sent)
					for i := range sends {
						if err := tp.Schedule(func(*Context) { got = append(got, i) }); err != nil {
							t.Errorf("Schedule: %v", err)
							return
						}
					}
				}()
				driveUntil(t, ev, func() bool {
					return pings == rounds && timerCalls == 1 && imSteps == steps && len(got) == sends
				})
				waitChan(t, "sender", sent)
				for i, g := range got {
					if g != i {
						t.Fatalf("proxy calls out of order under EINTR: %v", got)
					}
				}
				if timerCalls != 1 || imSteps != steps || pings != rounds {
					t.Errorf("timer %d, immediates %d, pings %d", timerCalls, imSteps, pings)
				}
				if injected.Load() < rounds {
					t.Errorf("only %d EINTRs injected over %d waits: the storm did not happen", injected.Load(), calls.Load())
				}
				tp.Free()
				fde.Free()
			}, v.opts...)
		})
	}
}

// TestFaultEpollCtlFails makes epoll_ctl refuse one descriptor (on ADD of
// a new event, or on MOD when its flags change) with EBADF, EPERM or
// ENOMEM, while another descriptor on the same context stays healthy.
//
// On "epoll", and on "standard" for EBADF, the events of that descriptor
// are disabled and an error naming the fd and the errno is logged; the
// loop goes on serving the other fd, and changing the flags later
// registers it again. On "standard" any other errno makes the context fall
// back to poll, where the refused descriptor's events are delivered.
func TestFaultEpollCtlFails(t *testing.T) {
	for _, backend := range []string{"epoll", "standard"} {
		for _, errno := range []unix.Errno{unix.EBADF, unix.EPERM, unix.ENOMEM} {
			for _, op := range []string{"add", "mod"} {
				name := fmt.Sprintf("%s/%s/%s", backend, op, unix.ErrnoName(errno))
				t.Run(name, func(t *testing.T) { testCtlFault(t, backend, errno, op) })
			}
		}
	}
}

func testCtlFault(t *testing.T, backend string, errno unix.Errno, op string) {
	failOp := unix.EPOLL_CTL_ADD
	if op == "mod" {
		failOp = unix.EPOLL_CTL_MOD
	}
	var target atomic.Int64
	target.Store(-1)
	var injected atomic.Int64
	failedAt := uint64(0) // ev.loop.waits when the fault hit; loop goroutine only
	var evp *Context
	defer epoll.SetFaults(func(epfd, o, fd int, e *unix.EpollEvent) error {
		if int64(fd) == target.Load() && o == failOp {
			injected.Add(1)
			failedAt = evp.loop.waits
			return errno
		}
		return unix.EpollCtl(epfd, o, fd, e)
	}, nil)()
	log, logOpt := newFaultLog()
	withBackend(t, backend, func(t *testing.T, ev *Context) {
		evp = ev
		a, b := newSockPair(t), newSockPair(t)
		writeBytes(t, a.fd[1], "a")
		writeBytes(t, b.fd[1], "b")
		// Neither handler reads: both fds stay readable, so every kernel
		// wait reports each fd that is registered.
		aCalls, aLate, bCalls := 0, 0, 0
		if op == "add" {
			target.Store(int64(a.fd[0]))
		}
		var aFlags FDFlags
		fa, err := ev.AddFD(a.fd[0], FDRead, func(ev *Context, _ *FD, fl FDFlags) {
			aCalls++
			if injected.Load() > 0 && ev.loop.waits >= failedAt {
				aLate++ // reported in or after the turn of the refusal
				aFlags = fl
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		fb, err := ev.AddFD(b.fd[0], FDRead, func(*Context, *FD, FDFlags) { bCalls++ })
		if err != nil {
			t.Fatal(err)
		}
		if op == "mod" {
			driveUntil(t, ev, func() bool { return aCalls > 0 && bCalls > 0 })
			target.Store(int64(a.fd[0]))
			fa.SetFlags(FDRead | FDWrite)
		}
		fallback := backend == "standard" && errno != unix.EBADF
		driveUntil(t, ev, func() bool { return injected.Load() > 0 })
		start := ev.loop.waits
		driveUntil(t, ev, func() bool { return ev.loop.waits >= start+5 && (!fallback || aLate > 0) })
		if injected.Load() != 1 {
			t.Errorf("epoll_ctl refused %d times, want 1 (retried without a flag change?)", injected.Load())
		}
		if bCalls == 0 {
			t.Error("the healthy fd was not served after another fd was refused")
		}
		if fallback {
			if !usesPoll(ev) {
				t.Fatalf("standard context did not fall back to poll after epoll_ctl %v", errno)
			}
			if _, ok := log.find(slog.LevelWarn, "falling back to poll"); !ok {
				t.Errorf("fallback not logged: %v", log)
			}
			if _, ok := log.find(slog.LevelError, "refused"); ok {
				t.Errorf("fd reported as refused although the fallback serves it: %v", log)
			}
		} else {
			if !usesEpoll(ev) {
				t.Fatalf("context left epoll after epoll_ctl %v", errno)
			}
			// Reported once, as an error its read will see, then
			// disabled.
			if aLate != 1 {
				t.Errorf("refused fd's event ran %d times after the refusal, want 1 error report", aLate)
			}
			if aFlags != FDRead {
				t.Errorf("refused fd's event given %v, want FDRead", aFlags)
			}
			rec, ok := log.find(slog.LevelError, "refused")
			if !ok {
				t.Fatalf("refusal not logged at error level: %v", log)
			}
			if fd, _ := rec.attrs["fd"].(int64); fd != int64(a.fd[0]) {
				t.Errorf("log names fd %v, want %d", rec.attrs["fd"], a.fd[0])
			}
			errAttr(t, rec, errno)
			// The fault is gone; changing the flags tries again.
			target.Store(-1)
			fa.SetFlags(0)
			fa.SetFlags(FDRead)
			driveUntil(t, ev, func() bool { return aLate > 1 })
		}
		fa.Free()
		fb.Free()
	}, logOpt)
}

// TestFaultEpollWaitFails makes epoll_wait fail once with an error other
// than EINTR, after events of every kind were registered and some fds were
// already served. "standard" falls back to poll for good without
// returning an error and loses no event: every fd registered before is
// registered again (including one disabled with SetFlags(0), which is
// enabled afterwards), timers and immediates still run, and a proxy call
// made after the switch wakes the loop. "epoll" returns the error, wrapped
// with the errno, from the loop call, and keeps working once the kernel
// recovers.
func TestFaultEpollWaitFails(t *testing.T) {
	var variants []faultVariant
	for _, b := range []string{"standard", "epoll"} {
		variants = append(variants, faultVariant{b, nil}, faultVariant{b, []Option{WithRuntimePoller()}})
	}
	for _, v := range variants {
		for _, errno := range []unix.Errno{unix.EBADF, unix.EINVAL, unix.ENOMEM} {
			t.Run(v.name()+"/"+unix.ErrnoName(errno), func(t *testing.T) {
				var calls atomic.Int64
				failOn := int64(-1)
				var failures atomic.Int64
				defer epoll.SetFaults(nil, func(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
					if calls.Add(1) == failOn {
						failures.Add(1)
						return 0, errno
					}
					return unix.EpollWait(epfd, evs, ms)
				})()
				log, logOpt := newFaultLog()
				withBackend(t, v.backend, func(t *testing.T, ev *Context) {
					testWaitFault(t, ev, v.backend == "standard", errno, log, &calls, &failOn, &failures)
				}, append([]Option{logOpt}, v.opts...)...)
			})
		}
	}
}

func testWaitFault(t *testing.T, ev *Context, standard bool, errno unix.Errno, log *faultLog, calls *atomic.Int64, failOn *int64, failures *atomic.Int64) {
	const k = 8
	reads := make([]int, k)
	pairs := make([]*sockPair, k)
	for i := range k {
		p := newSockPair(t)
		pairs[i] = p
		fde, err := ev.AddFD(p.give(0), FDRead, func(ev *Context, fde *FD, _ FDFlags) {
			var b [4]byte
			if n, err := unix.Read(fde.Fd(), b[:]); n != 1 || err != nil {
				t.Errorf("fd %d: read n=%d err=%v", i, n, err)
			}
			reads[i]++
			fde.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		fde.SetAutoClose()
	}
	w := newSockPair(t)
	writes := 0
	fw, err := ev.AddFD(w.fd[0], FDWrite, func(_ *Context, fde *FD, _ FDFlags) { writes++; fde.Free() })
	if err != nil {
		t.Fatal(err)
	}
	d := newSockPair(t)
	writeBytes(t, d.fd[1], "d")
	disabled := 0
	fd0, err := ev.AddFD(d.fd[0], FDRead, func(_ *Context, fde *FD, _ FDFlags) { disabled++; fde.Free() })
	if err != nil {
		t.Fatal(err)
	}
	fd0.SetFlags(0)
	served := func(from, to int) bool {
		for _, r := range reads[from:to] {
			if r != 1 {
				return false
			}
		}
		return true
	}
	// Kernel waits register everything and serve the first quarter.
	writeBytes(t, pairs[0].fd[1], "x")
	writeBytes(t, pairs[1].fd[1], "x")
	driveUntil(t, ev, func() bool { return served(0, 2) && writes == 1 })
	// Two more are ready but not harvested when the next wait fails.
	writeBytes(t, pairs[2].fd[1], "x")
	writeBytes(t, pairs[3].fd[1], "x")
	timerCalls, imCalls := 0, 0
	ev.AddTimer(time.Now().Add(2*time.Millisecond), func(*Context, *Timer, time.Time) { timerCalls++ })
	ev.NewImmediate().Schedule(func(*Context, *Immediate) { imCalls++ })
	*failOn = calls.Load() + 1
	var loopErr error
	deadline := time.Now().Add(testTimeout)
	for loopErr == nil && failures.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the failing wait never came")
		}
		loopErr = ev.LoopOnce()
	}
	if failures.Load() != 1 {
		t.Fatalf("fault not hit: loop error %v", loopErr)
	}
	if standard {
		if loopErr != nil {
			t.Fatalf("standard: LoopOnce returned %v; want a silent fall back to poll", loopErr)
		}
		if !usesPoll(ev) {
			t.Fatal("standard: still on epoll after epoll_wait failed")
		}
		if ev.Backend() != "standard" {
			t.Errorf("Backend() = %q after the fallback", ev.Backend())
		}
		rec, ok := log.find(slog.LevelWarn, "falling back to poll")
		if !ok {
			t.Fatalf("fallback not logged: %v", log)
		}
		errAttr(t, rec, errno)
	} else {
		if loopErr == nil {
			t.Fatal("epoll: LoopOnce hid a fatal epoll_wait error")
		}
		if !errors.Is(loopErr, errno) || !strings.Contains(loopErr.Error(), "epoll_wait") {
			t.Errorf("epoll: error %q does not wrap %v or name epoll_wait", loopErr, errno)
		}
		if !usesEpoll(ev) {
			t.Error("epoll: context changed backend")
		}
	}
	// Nothing registered before the fault is lost: fds ready before it,
	// fds that become ready after it, timers and immediates.
	driveUntil(t, ev, func() bool { return served(0, 4) && timerCalls == 1 && imCalls == 1 })
	for i := 4; i < k; i++ {
		writeBytes(t, pairs[i].fd[1], "x")
	}
	driveUntil(t, ev, func() bool { return served(0, k) })
	for i, r := range reads {
		if r != 1 {
			t.Errorf("fd %d served %d times, want 1", i, r)
		}
	}
	if disabled != 0 {
		t.Error("disabled event fired")
	}
	fd0.SetFlags(FDRead)
	driveUntil(t, ev, func() bool { return disabled == 1 })
	// A proxy call made while the loop waits (on the new poller) wakes it.
	tp, err := ev.NewThreadProxy()
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	var once sync.Once
	ev.SetTraceCallback(func(p TracePoint) {
		if p == TraceBeforeWait {
			once.Do(func() { close(waiting) })
		}
	})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		<-waiting
		tp.Schedule(func(*Context) { imCalls++ })
	}()
	keep := newSockPair(t) // something to wait for in the kernel
	fk, err := ev.AddFD(keep.fd[0], FDRead, func(*Context, *FD, FDFlags) {})
	if err != nil {
		t.Fatal(err)
	}
	driveUntil(t, ev, func() bool { return imCalls == 2 })
	waitChan(t, "proxy sender", sent)
	ev.SetTraceCallback(nil)
	fk.Free()
	fw.Free()
	tp.Free()
	if failures.Load() != 1 {
		t.Errorf("epoll_wait failed %d times", failures.Load())
	}
}

// TestFaultPollFails makes poll(2) fail (EINVAL, ENOMEM): the poll
// backends, and "standard" once it fell back to poll, return the error
// from the loop call, and the context keeps working afterwards.
func TestFaultPollFails(t *testing.T) {
	for _, b := range []string{"poll", "poll_mt", "standard"} {
		for _, errno := range []unix.Errno{unix.EINVAL, unix.ENOMEM} {
			t.Run(b+"/"+unix.ErrnoName(errno), func(t *testing.T) {
				var fail atomic.Bool
				var failures atomic.Int64
				defer poll.SetFaults(func(fds []unix.PollFd, ms int) (int, error) {
					if fail.Swap(false) {
						failures.Add(1)
						return 0, errno
					}
					return unix.Poll(fds, ms)
				})()
				var epollFail atomic.Bool
				defer epoll.SetFaults(nil, func(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
					if epollFail.Swap(false) {
						return 0, unix.EINVAL
					}
					return unix.EpollWait(epfd, evs, ms)
				})()
				withBackend(t, b, func(t *testing.T, ev *Context) {
					p := newSockPair(t)
					reads := 0
					fde, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, fde *FD, _ FDFlags) {
						var buf [4]byte
						unix.Read(fde.Fd(), buf[:])
						reads++
					})
					if err != nil {
						t.Fatal(err)
					}
					if b == "standard" {
						// Make it fall back first.
						epollFail.Store(true)
						writeBytes(t, p.fd[1], "1")
						driveUntil(t, ev, func() bool { return reads == 1 })
						if !usesPoll(ev) {
							t.Fatal("no fallback")
						}
					}
					fail.Store(true)
					var err2 error
					for err2 == nil && failures.Load() == 0 {
						err2 = ev.LoopOnce()
					}
					if !errors.Is(err2, errno) || !strings.Contains(err2.Error(), "wait") {
						t.Errorf("LoopOnce error %v, want one wrapping %v", err2, errno)
					}
					before := reads
					writeBytes(t, p.fd[1], "2")
					driveUntil(t, ev, func() bool { return reads == before+1 })
					fde.Free()
				})
			})
		}
	}
}

// TestFaultFDClosedBehindBack closes a registered descriptor behind the
// context's back, lets its number be reused by a new file, and checks that
// an event on the new file works, the stale event never fires for it once
// freed, and the loop goes on.
func TestFaultFDClosedBehindBack(t *testing.T) {
	// reuse makes a new socketpair whose first end has the number num.
	reuse := func(t *testing.T, num int) *sockPair {
		t.Helper()
		fresh := newSockPair(t)
		if fresh.fd[1] == num {
			fresh.fd[0], fresh.fd[1] = fresh.fd[1], fresh.fd[0]
		}
		if fresh.fd[0] != num {
			if err := unix.Dup3(fresh.fd[0], num, unix.O_CLOEXEC); err != nil {
				t.Fatalf("dup3: %v", err)
			}
			unix.Close(fresh.fd[0])
			fresh.fd[0] = num
		}
		return fresh
	}
	// register makes an event on a fresh pair and waits until the kernel
	// reported it once, so that it is registered for real.
	register := func(t *testing.T, ev *Context) (*sockPair, *FD, *int) {
		t.Helper()
		p := newSockPair(t)
		calls := new(int)
		fde, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, fde *FD, _ FDFlags) {
			*calls++
			var b [8]byte
			unix.Read(fde.Fd(), b[:])
		})
		if err != nil {
			t.Fatal(err)
		}
		writeBytes(t, p.fd[1], "r")
		driveUntil(t, ev, func() bool { return *calls == 1 })
		return p, fde, calls
	}

	t.Run("new event before the stale one is freed", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			old, stale, staleCalls := register(t, ev)
			num := old.fd[0]
			old.close(t, 0) // behind the context's back
			fresh := reuse(t, num)
			got := ""
			fe, err := ev.AddFD(num, FDRead, func(_ *Context, fde *FD, _ FDFlags) {
				var b [8]byte
				n, err := unix.Read(fde.Fd(), b[:])
				if err != nil {
					t.Errorf("read on the new file: %v", err)
					return
				}
				got += string(b[:n])
			})
			if err != nil {
				t.Fatalf("AddFD on the reused number: %v", err)
			}
			stale.Free()
			writeBytes(t, fresh.fd[1], "new")
			driveUntil(t, ev, func() bool { return got == "new" })
			if *staleCalls != 1 {
				t.Errorf("stale event called %d times", *staleCalls)
			}
			fe.Free()
		})
	})
	t.Run("stale event freed, then new event", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			old, stale, staleCalls := register(t, ev)
			num := old.fd[0]
			old.close(t, 0)
			fresh := reuse(t, num)
			stale.Free() // must not disturb the new file
			got := 0
			fe, err := ev.AddFD(num, FDRead, func(_ *Context, fde *FD, _ FDFlags) {
				var b [8]byte
				unix.Read(fde.Fd(), b[:])
				got++
			})
			if err != nil {
				t.Fatal(err)
			}
			writeBytes(t, fresh.fd[1], "n")
			driveUntil(t, ev, func() bool { return got == 1 })
			if *staleCalls != 1 {
				t.Errorf("stale event called %d times", *staleCalls)
			}
			fe.Free()
		})
	})
	t.Run("closed and left registered", func(t *testing.T) {
		// The stale event is either dropped (epoll forgets a closed file)
		// or reported (poll sees an invalid descriptor); a handler that
		// frees it ends it, and the other events carry on.
		forEachBackend(t, func(t *testing.T, ev *Context) {
			// The other pair first, so that it cannot take the number.
			other := newSockPair(t)
			old, stale, staleCalls := register(t, ev)
			stale.handlerOverride(func(_ *Context, fde *FD, fl FDFlags) {
				*staleCalls++
				if fl&FDRead == 0 {
					t.Errorf("stale event given %v", fl)
				}
				var b [8]byte
				if _, err := unix.Read(fde.Fd(), b[:]); err == nil {
					t.Error("read on a closed descriptor succeeded")
				}
				fde.Free()
			})
			old.close(t, 0)
			otherCalls := 0
			fo, err := ev.AddFD(other.fd[0], FDRead, func(_ *Context, fde *FD, _ FDFlags) {
				var b [8]byte
				unix.Read(fde.Fd(), b[:])
				otherCalls++
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 20; i++ {
				writeBytes(t, other.fd[1], "o")
				driveUntil(t, ev, func() bool { return otherCalls == i })
			}
			if *staleCalls > 2 {
				t.Errorf("closed fd's event called %d times after it freed itself", *staleCalls)
			}
			stale.Free()
			fo.Free()
		})
	})
	t.Run("closed, then flags changed", func(t *testing.T) {
		// Changing the flags of an event whose fd was closed: epoll
		// refuses it (EBADF); the event is disabled, the error logged,
		// and the loop goes on.
		for _, b := range Backends() {
			log, logOpt := newFaultLog()
			t.Run(b, func(t *testing.T) {
				withBackend(t, b, func(t *testing.T, ev *Context) {
					old, stale, _ := register(t, ev)
					num := old.fd[0]
					old.close(t, 0)
					stale.SetFlags(FDRead | FDWrite)
					timer := false
					ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { timer = true })
					driveUntil(t, ev, func() bool { return timer })
					tick := 0
					ev.AddTimer(time.Now().Add(time.Millisecond), func(*Context, *Timer, time.Time) { tick++ })
					driveUntil(t, ev, func() bool { return tick == 1 })
					if usesEpoll(ev) {
						rec, ok := log.find(slog.LevelError, "refused")
						if !ok {
							t.Fatalf("EBADF not logged: %v", log)
						}
						if fd, _ := rec.attrs["fd"].(int64); fd != int64(num) {
							t.Errorf("log names fd %v, want %d", rec.attrs["fd"], num)
						}
						errAttr(t, rec, unix.EBADF)
					}
					stale.Free()
				}, logOpt)
			})
		}
	})
}

// handlerOverride replaces an event's handler (test only).
func (f *FD) handlerOverride(h FDHandler) { f.handler = h }
