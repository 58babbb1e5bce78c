package tevent

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/iouring"
	"golang.org/x/sys/unix"
)

// TestIOUringUnavailableSaysWhy: a context asked for io_uring on a system
// that refuses it (simulated: io_uring_setup fails with EPERM, as under a
// container's default seccomp profile) runs on epoll, logs why once, and
// works; Backend names epoll, the backend in use.
func TestIOUringUnavailableSaysWhy(t *testing.T) {
	defer iouring.SetFaults(iouring.Faults{Setup: unix.EPERM})()
	log, opt := newFaultLog()
	withBackend(t, "io_uring", func(t *testing.T, ev *Context) {
		if _, ok := ev.loop.poller.Backend().(*epoll.Backend); !ok {
			t.Fatalf("running on %T, want epoll in io_uring's place", ev.loop.poller.Backend())
		}
		if got := ev.Backend(); got != "epoll" {
			t.Errorf("Backend() = %q on epoll in io_uring's place, want \"epoll\"", got)
		}
		rec, ok := log.find(slog.LevelWarn, "backend unavailable")
		if !ok {
			t.Fatalf("nothing logged about the fallback: %s", log)
		}
		cause, _ := rec.attrs["error"].(error)
		if rec.attrs["backend"] != "io_uring" || rec.attrs["instead"] != "epoll" || !errors.Is(cause, unix.EPERM) {
			t.Errorf("logged %v, want backend io_uring, instead epoll, and the EPERM", rec.attrs)
		}
		p := newSockPair(t)
		got := 0
		if _, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { got++; ev.Stop() }); err != nil {
			t.Fatal(err)
		}
		unix.Write(p.fd[1], []byte("x"))
		if err := ev.LoopWait(); err != nil && !errors.Is(err, ErrStopped) {
			t.Fatal(err)
		}
		if got == 0 {
			t.Fatal("fd event never ran")
		}
		if n := len(log.recs); n != 1 {
			t.Errorf("%d records logged, want the one: %s", n, log)
		}
	}, opt)
}

// TestIOUringInUse: where io_uring works, a context asked for it uses it,
// and says nothing.
func TestIOUringInUse(t *testing.T) {
	if b, err := iouring.New(); err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	} else {
		b.Close()
	}
	log, opt := newFaultLog()
	withBackend(t, "io_uring", func(t *testing.T, ev *Context) {
		if _, ok := ev.loop.poller.Backend().(*iouring.Backend); !ok {
			t.Fatalf("running on %T, want io_uring", ev.loop.poller.Backend())
		}
		if len(log.recs) != 0 {
			t.Errorf("logged %s", log)
		}
	}, opt)
}

// TestIOUringDeferredRefusalLogged: with io_uring an fd change the kernel
// refuses (a regular file) reaches the kernel with the wait, and comes
// back as epoll's synchronous refusal does: one error report, the events
// disabled, and a log line with the errno.
func TestIOUringDeferredRefusalLogged(t *testing.T) {
	if b, err := iouring.New(); err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	} else {
		b.Close()
	}
	log, opt := newFaultLog()
	withBackend(t, "io_uring", func(t *testing.T, ev *Context) {
		calls := 0
		f, err := ev.AddFD(regularFile(t), FDRead, func(*Context, *FD, FDFlags) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if err := boundedLoop(t, "LoopOnce", ev.LoopOnce); err != nil {
			t.Fatal(err)
		}
		if calls != 1 || f.Flags() != 0 {
			t.Fatalf("handler ran %d times, Flags() = %v; want once, then 0", calls, f.Flags())
		}
		rec, ok := log.find(slog.LevelError, "kernel refused fd")
		if !ok {
			t.Fatalf("refusal not logged: %s", log)
		}
		if cause, _ := rec.attrs["error"].(error); !errors.Is(cause, unix.EPERM) {
			t.Errorf("logged error %v, want EPERM", rec.attrs["error"])
		}
	}, opt)
}
