package tevent

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"golang.org/x/sys/unix"
)

// Descriptors the kernel refuses or that are closed behind the loop's back
// (issue 12, items 2 and 3), and fd events that can never fire (item 4):
// one error report per event, then the events are disabled (Flags 0), and
// a loop left with nothing that can fire says so instead of waiting.

// fastAudit makes the epoll audit of registrations run soon after the
// loop goes idle, so that tests of closed descriptors take milliseconds.
func fastAudit(ev *Context) { ev.loop.auditStart = 10 * time.Millisecond }

// boundedLoop runs one loop call on another goroutine, bounded by
// testTimeout, so that a loop that would wait forever fails the test.
func boundedLoop(t *testing.T, what string, loop func() error) error {
	t.Helper()
	return loopResult(t, what, goLoop(loop))
}

// regularFile opens a temporary regular file for reading.
func regularFile(t *testing.T) int {
	t.Helper()
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// expectNothingCanFire runs the loop until reported holds, then checks
// that LoopOnce says that nothing can fire and that LoopWait returns nil,
// as when nothing is left (tevent 0.17.2), where nothing else could change
// that: not on poll_mt, whose events other goroutines may change while it
// waits.
func expectNothingCanFire(t *testing.T, ev *Context, reported func() bool) {
	t.Helper()
	if err := boundedLoop(t, "LoopUntil the reports", func() error { return ev.LoopUntil(reported) }); err != nil {
		t.Fatalf("LoopUntil the reports: %v", err)
	}
	if ev.loop.sharedChanges {
		return
	}
	if err := boundedLoop(t, "LoopOnce", ev.LoopOnce); !errors.Is(err, ErrNoEvents) {
		t.Fatalf("LoopOnce: %v, want ErrNoEvents", err)
	}
	if err := boundedLoop(t, "LoopWait", ev.LoopWait); err != nil {
		t.Fatalf("LoopWait: %v, want nil (only fd events with flags 0 are left)", err)
	}
}

// TestFDRegularFileWatched: a backend that can watch regular files (poll,
// and standard, which falls back to poll) reports one as always ready and
// keeps its flags.
func TestFDRegularFileWatched(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		if !ev.loop.regularFiles {
			t.Skip("the backend refuses regular files")
		}
		calls := 0
		f, err := ev.AddFD(regularFile(t), FDRead, func(*Context, *FD, FDFlags) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		driveUntil(t, ev, func() bool { return calls == 3 })
		if f.Flags() != FDRead {
			t.Fatalf("Flags() = %v, want FDRead", f.Flags())
		}
		f.Free()
	})
}

// TestFDRefusedByKernel: a regular file on a backend that cannot watch
// one (epoll): AddFD succeeds, the handler gets one error report, the
// event is disabled with Flags 0, and the next LoopOnce returns
// ErrNoEvents instead of blocking; LoopWait returns nil. Also
// through a wrapper, whose hooks run around the report.
func TestFDRefusedByKernel(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		name := "main"
		if wrapped {
			name = "wrapper"
		}
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				if ev.loop.regularFiles {
					t.Skip("the backend watches regular files")
				}
				on, hooks := ev, 0
				if wrapped {
					w, err := ev.NewWrapper(WrapperHooks{Name: "w",
						BeforeFDHandler: func(*Context, *FD, FDFlags) { hooks++ },
						AfterFDHandler:  func(*Context, *FD, FDFlags) { hooks++ }})
					if err != nil {
						t.Fatal(err)
					}
					on = w
				}
				fd := regularFile(t)
				calls := 0
				var got FDFlags
				f, err := on.AddFD(fd, FDRead|FDWrite, func(_ *Context, _ *FD, fl FDFlags) { calls++; got = fl })
				if err != nil {
					t.Fatalf("AddFD of a regular file: %v", err)
				}
				if err := boundedLoop(t, "LoopOnce with a refused fd", ev.LoopOnce); err != nil {
					t.Fatalf("first LoopOnce: %v", err)
				}
				if calls != 1 || got&FDRead == 0 {
					t.Fatalf("handler ran %d times with %v, want once with FDRead", calls, got)
				}
				if f.Flags() != 0 {
					t.Fatalf("Flags() = %v after the report, want 0", f.Flags())
				}
				if wrapped && hooks != 2 {
					t.Fatalf("wrapper hooks ran %d times, want 2", hooks)
				}
				if err := boundedLoop(t, "second LoopOnce", ev.LoopOnce); !errors.Is(err, ErrNoEvents) {
					t.Fatalf("second LoopOnce: %v, want ErrNoEvents", err)
				}
				if err := boundedLoop(t, "LoopWait", ev.LoopWait); err != nil {
					t.Fatalf("LoopWait: %v, want nil (only fd events with flags 0 are left)", err)
				}
				if calls != 1 {
					t.Fatalf("handler ran %d times, want once", calls)
				}
				f.Free()
				if err := boundedLoop(t, "LoopWait after Free", ev.LoopWait); err != nil {
					t.Fatalf("LoopWait with nothing left: %v", err)
				}
			})
		})
	}
}

// TestFDClosedBehindLoop: an fd closed while its events are registered
// gets one error report per event, then they are disabled (Flags 0),
// LoopOnce returns ErrNoEvents and LoopWait nil, on every backend alike
// (poll used to spin, epoll to wait forever). Two events on the number,
// one of them write-only, one through a wrapper.
func TestFDClosedBehindLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		fastAudit(ev)
		w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
		if err != nil {
			t.Fatal(err)
		}
		p := newSockPair(t)
		// Fill p.fd[0]'s send buffer, so that a write event on it is
		// registered but does not fire.
		for {
			if _, err := unix.Write(p.fd[0], make([]byte, 65536)); err != nil {
				break
			}
		}
		writeBytes(t, p.fd[1], "x")
		reads, writes := 0, 0
		var readFl, writeFl FDFlags
		fr, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, f *FD, fl FDFlags) {
			reads++
			readFl = fl
			var b [8]byte
			unix.Read(f.Fd(), b[:])
		})
		if err != nil {
			t.Fatal(err)
		}
		fw, err := w.AddFD(p.fd[0], FDWrite, func(_ *Context, _ *FD, fl FDFlags) { writes++; writeFl = fl })
		if err != nil {
			t.Fatal(err)
		}
		driveUntil(t, ev, func() bool { return reads == 1 }) // both registered now
		if writes != 0 {
			t.Fatalf("the write event fired with a full buffer")
		}
		p.close(t, 0)
		reads = 0
		expectNothingCanFire(t, ev, func() bool { return reads > 0 && writes > 0 })
		if reads != 1 || readFl&FDRead == 0 || writes != 1 || writeFl != FDWrite {
			t.Fatalf("reports: read event %d (%v), write event %d (%v); want one each, FDRead and FDWrite", reads, readFl, writes, writeFl)
		}
		if fr.Flags() != 0 || fw.Flags() != 0 {
			t.Fatalf("flags after the reports: %v, %v; want 0", fr.Flags(), fw.Flags())
		}
		fr.Free()
		fw.Free()
		if err := boundedLoop(t, "LoopWait after Free", ev.LoopWait); err != nil {
			t.Fatalf("LoopWait with nothing left: %v", err)
		}
	})
}

// TestFDClosedBeforeRegistration: an fd closed after AddFD but before the
// loop told the kernel about it is refused at registration (EBADF): the
// same single report and disabling, on every backend.
func TestFDClosedBeforeRegistration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		fastAudit(ev)
		p := newSockPair(t)
		calls := 0
		f, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		p.close(t, 0)
		expectNothingCanFire(t, ev, func() bool { return calls > 0 })
		if calls != 1 || f.Flags() != 0 {
			t.Fatalf("handler ran %d times, Flags %v; want once and 0", calls, f.Flags())
		}
	})
}

// TestFDClosedWhileWaiting: the fd is closed by another goroutine while
// the loop waits for it with a far timer pending (so the loop is not idle
// for good): the loop still finds it, reports it once and goes on with
// the timer.
func TestFDClosedWhileWaiting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		if ev.loop.sharedChanges {
			t.Skip("poll_mt: wakes only for event changes, not for a close")
		}
		fastAudit(ev)
		p := newSockPair(t)
		calls := 0
		if _, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, f *FD, fl FDFlags) {
			calls++
		}); err != nil {
			t.Fatal(err)
		}
		tm := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
		done := goLoop(func() error { return ev.LoopUntil(func() bool { return calls > 0 }) })
		waitInKernel(t, ev)
		p.close(t, 0)
		if ev.loop.auditClosed {
			// epoll: nothing wakes the loop; the audit finds it.
		} else if err := ev.loop.poller.Wake(); err != nil {
			// poll: the next poll sees POLLNVAL; wake it so that it polls.
			t.Fatal(err)
		}
		if err := loopResult(t, "LoopUntil with an fd closed while waiting", done); err != nil {
			t.Fatalf("LoopUntil: %v", err)
		}
		if calls != 1 {
			t.Fatalf("handler ran %d times, want 1", calls)
		}
		tm.Free()
	})
}

// TestFDOnlyDisabledEvents: when the only events left are fd events with
// flags 0, LoopWait returns nil as when nothing is left (tevent 0.17.2's
// tevent_common_have_events ignores them) and LoopOnce and LoopUntil
// return ErrNoEvents, instead of waiting forever; the events stay. Also when
// the last handler disables its own event, when a timer runs first, and
// through a wrapper. (poll_mt waits: another goroutine may change the
// flags under its lock.)
func TestFDOnlyDisabledEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		if ev.loop.sharedChanges {
			t.Skip("poll_mt: other goroutines may enable the event while the loop waits")
		}
		w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
		if err != nil {
			t.Fatal(err)
		}
		p := newSockPair(t)
		f0, err := ev.AddFD(p.fd[0], 0, func(*Context, *FD, FDFlags) { t.Error("flags-0 event ran") })
		if err != nil {
			t.Fatal(err)
		}
		if err := boundedLoop(t, "LoopOnce", ev.LoopOnce); !errors.Is(err, ErrNoEvents) {
			t.Fatalf("LoopOnce: %v, want ErrNoEvents", err)
		}
		if err := boundedLoop(t, "LoopUntil", func() error { return ev.LoopUntil(func() bool { return false }) }); !errors.Is(err, ErrNoEvents) {
			t.Fatalf("LoopUntil: %v, want ErrNoEvents", err)
		}
		if err := boundedLoop(t, "LoopWait", ev.LoopWait); err != nil {
			t.Fatalf("LoopWait: %v, want nil", err)
		}
		if f0.Freed() || f0.Flags() != 0 {
			t.Fatalf("the flags-0 event after LoopWait: freed %v, flags %v; want it kept as it was", f0.Freed(), f0.Flags())
		}
		// A writable event through the wrapper that disables itself, after
		// a timer has run.
		timerRan, calls := false, 0
		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { timerRan = true })
		if _, err := w.AddFD(p.fd[1], FDWrite, func(_ *Context, f *FD, _ FDFlags) { calls++; f.SetFlags(0) }); err != nil {
			t.Fatal(err)
		}
		if err := boundedLoop(t, "LoopWait", w.LoopWait); err != nil {
			t.Fatalf("LoopWait through the wrapper: %v, want nil", err)
		}
		if !timerRan || calls != 1 {
			t.Fatalf("timer ran %v, fd handler %d times", timerRan, calls)
		}
		f0.SetFlags(FDWrite) // enabled again: it fires
		fired := false
		f0.handler = func(_ *Context, f *FD, _ FDFlags) { fired = true; f.Free() }
		if err := boundedLoop(t, "LoopOnce", ev.LoopOnce); err != nil || !fired {
			t.Fatalf("LoopOnce after SetFlags: %v, fired %v", err, fired)
		}
	})
}

// TestFDReopenedBehindLoop: an fd closed behind the loop's back and its
// number taken by another file before its event's flags change. The
// changed registration must not be made anew: it would attach the event
// to a file it never asked for. Instead the event gets its one error
// report and is disabled (Flags 0), and the loop logs that the descriptor
// was closed behind its back, the error matching ENOENT. Where the kernel
// holds registrations by file (epoll, standard, io_uring); poll watches
// numbers, and its events follow the number by design.
func TestFDReopenedBehindLoop(t *testing.T) {
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) {
			log, opt := newFaultLog()
			withBackend(t, b, func(t *testing.T, ev *Context) {
				if ev.loop.poller.Caps()&poller.CapReportsClosed != 0 {
					t.Skip("the backend watches numbers, not files")
				}
				p := newSockPair(t)
				calls := 0
				var got FDFlags
				f, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, f *FD, fl FDFlags) {
					calls++
					got = fl
					var b [16]byte
					unix.Read(f.Fd(), b[:])
				})
				if err != nil {
					t.Fatal(err)
				}
				writeBytes(t, p.fd[1], "x")
				driveUntil(t, ev, func() bool { return calls == 1 }) // registered with the kernel
				calls = 0
				// Close it behind the loop's back; another file takes the
				// number, readable and writable.
				a := p.fd[0]
				p.close(t, 0)
				q := newSockPair(t)
				if q.fd[0] != a { // not the lowest free number, as usual
					if err := unix.Dup2(q.fd[0], a); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { unix.Close(a) })
				}
				writeBytes(t, q.fd[1], "not yours")
				f.SetFlags(FDRead | FDWrite)
				driveUntil(t, ev, func() bool { return calls > 0 })
				if calls != 1 || f.Flags() != 0 {
					t.Fatalf("handler ran %d times (last with %v), Flags %v: want one error report, then Flags 0 (no registration on the new file)", calls, got, f.Flags())
				}
				rec, ok := log.find(slog.LevelError, "closed while its events were registered")
				if !ok {
					t.Fatalf("nothing logged about the closed descriptor: %s", log)
				}
				if cause, _ := rec.attrs["error"].(error); !errors.Is(cause, unix.ENOENT) {
					t.Errorf("logged error %v, want ENOENT", rec.attrs["error"])
				}
				f.Free()
			}, opt)
		})
	}
}
