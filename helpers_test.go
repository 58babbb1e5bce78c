package tevent

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"golang.org/x/sys/unix"
)

// testTimeout bounds every wait in the suite: a test that needs longer
// than this has found a bug (a lost wake-up, an event that never fires).
const testTimeout = 10 * time.Second

// warmRuntimeFDs makes the Go runtime open the descriptors it opens
// lazily (its own network poller), so that they are not counted as a
// leak by the first test that happens to trigger them.
var warmRuntimeFDs = sync.OnceFunc(func() {
	r, w, err := os.Pipe()
	if err == nil {
		r.SetReadDeadline(time.Now().Add(time.Hour))
		r.Close()
		w.Close()
	}
})

// openFDCount returns how many descriptors the process has open, or -1
// when /proc/self/fd is not available.
func openFDCount(t testing.TB) int {
	t.Helper()
	warmRuntimeFDs()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// withBackend runs fn with a fresh context on the named backend, frees
// the context afterwards, and fails if the test (context, events and the
// descriptors the test opened) leaked a descriptor.
func withBackend(t *testing.T, name string, fn func(t *testing.T, ev *Context), opts ...Option) {
	t.Helper()
	before := openFDCount(t)
	// Registered first, so it runs last: after the context is freed and
	// after every descriptor helper's cleanup has closed its fds.
	t.Cleanup(func() {
		if before < 0 {
			return
		}
		if after := openFDCount(t); after != before {
			t.Errorf("descriptor leak on backend %s: %d open before, %d after", name, before, after)
		}
	})
	ev, err := New(append([]Option{WithBackend(name)}, opts...)...)
	if err != nil {
		t.Fatalf("New(WithBackend(%q)): %v", name, err)
	}
	t.Cleanup(ev.Free)
	if want := backendInUse(ev, name); ev.Backend() != want {
		t.Fatalf("Backend() = %q, want %q", ev.Backend(), want)
	} else if want != name {
		t.Logf("%s unavailable here: this runs on %s, its fallback", name, want)
	}
	fn(t, ev)
	ev.Free()
	if !ev.IsFreed() {
		t.Fatal("IsFreed() false after Free")
	}
}

// backendInUse is the name ev, asked for the backend called asked, must
// report: asked, or "epoll" for an "io_uring" that runs on epoll for want
// of a usable io_uring.
func backendInUse(ev *Context, asked string) string {
	if asked == "io_uring" && ev.loop.poller.Caps()&poller.CapDeferredChanges == 0 {
		return "epoll"
	}
	return asked
}

// forEachBackend runs fn as a subtest on every backend in Backends(),
// each with its own context and descriptor-leak check.
func forEachBackend(t *testing.T, fn func(t *testing.T, ev *Context)) {
	t.Helper()
	forEachBackendOpts(t, nil, fn)
}

// forEachBackendOpts is forEachBackend with extra options for New.
func forEachBackendOpts(t *testing.T, opts []Option, fn func(t *testing.T, ev *Context)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) { withBackend(t, b, fn, opts...) })
	}
}

// sockPair is a non-blocking AF_UNIX stream socketpair whose ends are
// closed at the end of the test unless handed over to tevent with give.
type sockPair struct {
	fd    [2]int
	given [2]bool
}

func newSockPair(t testing.TB) *sockPair {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	p := &sockPair{fd: fds}
	t.Cleanup(func() {
		for i := range p.fd {
			if !p.given[i] {
				unix.Close(p.fd[i])
			}
		}
	})
	return p
}

// give hands end i over to someone else (an auto-close event, a close
// function) who will close it; the cleanup leaves it alone.
func (p *sockPair) give(i int) int {
	p.given[i] = true
	return p.fd[i]
}

// close closes end i now.
func (p *sockPair) close(t testing.TB, i int) {
	t.Helper()
	if p.given[i] {
		t.Fatalf("end %d already handed over", i)
	}
	p.given[i] = true
	if err := unix.Close(p.fd[i]); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// newPipePair returns a non-blocking pipe, with the same ownership rules
// as a sockPair (fd[0] reads, fd[1] writes).
func newPipePair(t testing.TB) *sockPair {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	p := &sockPair{fd: fds}
	t.Cleanup(func() {
		for i := range p.fd {
			if !p.given[i] {
				unix.Close(p.fd[i])
			}
		}
	})
	return p
}

// writeBytes writes b to fd, failing the test on a short write.
func writeBytes(t testing.TB, fd int, b string) {
	t.Helper()
	n, err := unix.Write(fd, []byte(b))
	if err != nil || n != len(b) {
		t.Fatalf("write(%d): n=%d err=%v", fd, n, err)
	}
}

// fdIsOpen reports whether fd names an open descriptor.
func fdIsOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// driveUntil runs ev's loop one LoopOnce at a time until cond holds. A
// guard timer, freed afterwards, bounds the wait: if it fires first the
// test fails.
func driveUntil(t testing.TB, ev *Context, cond func() bool) {
	t.Helper()
	timedOut := false
	guardScope := ev.NewScope()
	guardScope.AddTimer(time.Now().Add(testTimeout), func(*Context, *Timer, time.Time) { timedOut = true })
	defer guardScope.Free()
	for !cond() {
		if timedOut {
			t.Fatalf("condition not met within %v", testTimeout)
		}
		if err := ev.LoopOnce(); err != nil {
			t.Fatalf("LoopOnce: %v", err)
		}
	}
}

// loopOnce runs one LoopOnce and fails the test on an error.
func loopOnce(t testing.TB, ev *Context) {
	t.Helper()
	if err := ev.LoopOnce(); err != nil {
		t.Fatalf("LoopOnce: %v", err)
	}
}

// spinUntil waits (yielding, never sleeping a fixed time) until cond holds
// or testTimeout passes. For conditions set by other goroutines.
func spinUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// waitChan waits for ch to be closed (or to deliver), at most testTimeout.
func waitChan[T any](t testing.TB, what string, ch <-chan T) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// expectNilPanic runs fn, which must panic with a message mentioning nil.
func expectNilPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	misusePanic(t, what, fn, "nil")
}

// expectErr fails unless errors.Is(err, want).
func expectErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// waitSignalPending waits until the signal machinery has recorded an
// arrival of each of sigs for ev, without running the loop, so that a test
// can set up other ready events and check priorities.
func waitSignalPending(t testing.TB, ev *Context, sigs ...syscall.Signal) {
	t.Helper()
	spinUntil(t, "signals to be pending", func() bool {
		if !ev.loop.sigPending.Load() {
			return false
		}
		for _, s := range sigs {
			if ev.loop.sig.counts[s].Load() == 0 {
				return false
			}
		}
		return true
	})
}

// loopWaits returns a channel that gets a value (coalesced: it holds at
// most one) each time the loop of ev is about to wait in the kernel. It
// sets ev's trace callback.
func loopWaits(ev *Context) <-chan struct{} {
	waiting := make(chan struct{}, 1)
	ev.SetTraceCallback(func(p TracePoint) {
		if p == TraceBeforeWait {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}
	})
	return waiting
}

// waitBlocked waits, from a goroutine other than the loop's, until the
// loop of ev is blocked in its kernel wait.
func waitBlocked(t testing.TB, ev *Context) {
	t.Helper()
	spinUntil(t, "the loop to block in its wait", ev.loop.inWait.Load)
}
