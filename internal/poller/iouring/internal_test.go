//go:build linux

package iouring

import (
	"errors"
	"strings"
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/pollertest"
	"golang.org/x/sys/unix"
)

// open opens a backend, or skips the test on a system without io_uring.
func open(t *testing.T) *Backend {
	t.Helper()
	b, err := New()
	if err != nil {
		t.Skipf("io_uring unavailable here, nothing to test: %v", err)
	}
	return b
}

// TestConformanceWorkerChanges runs the suite with every change handed
// to a kernel worker (IOSQE_ASYNC), as happens when epoll_ctl would have
// to wait for a lock: changes complete after the io_uring_enter that
// submitted them, and must still take effect in order.
func TestConformanceWorkerChanges(t *testing.T) {
	open(t).Close()
	ctlFlags = sqeAsync
	defer func() { ctlFlags = 0 }()
	pollertest.Run(t, func(t *testing.T) poller.Backend { return open(t) })
}

// TestCloseCancelsArmedWait: a wait left armed by a Wait that found
// nothing is cancelled, and seen complete, before Close unmaps its
// buffer.
func TestCloseCancelsArmedWait(t *testing.T) {
	b := open(t)
	p := pair(t)
	if err := b.Add(p[0], 1, poller.Readable); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Wait(make([]poller.Event, 8), 0); n != 0 || err != nil {
		t.Fatalf("Wait(0) = %d, %v; want nothing", n, err)
	}
	if !b.armed {
		t.Fatal("no wait armed after a Wait that found nothing")
	}
	if !b.disarm() {
		t.Fatal("the armed wait did not complete after its cancel")
	}
	if err := b.closeAll(true); err != nil {
		t.Fatal(err)
	}
}

// TestTurnAllocs: a turn that changes a registration and harvests does
// not allocate.
func TestTurnAllocs(t *testing.T) {
	b := open(t)
	defer b.Close()
	p := pair(t)
	if _, err := unix.Write(p[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(p[0], 1, poller.Readable); err != nil {
		t.Fatal(err)
	}
	evs := make([]poller.Event, 8)
	tok := poller.Token(1)
	allocs := testing.AllocsPerRun(200, func() {
		tok++
		if err := b.Modify(p[0], tok, poller.Readable); err != nil {
			t.Fatal(err)
		}
		if n, err := b.Wait(evs, -1); n != 1 || err != nil || evs[0].Token != tok {
			t.Fatalf("Wait = %d, %v (%v); want token %#x", n, err, evs[:n], tok)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per turn, want 0", allocs)
	}
}

// TestUnavailableSaysWhy: refusals New answers with ErrUnavailable, and
// a reason a person can act on.
func TestUnavailableSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		f     Faults
		errno error
		says  string
	}{
		{"seccomp", Faults{Setup: unix.EPERM}, unix.EPERM, "io_uring_disabled"},
		{"no io_uring", Faults{Setup: unix.ENOSYS}, unix.ENOSYS, "io_uring_setup"},
		{"kernel before 6.15", Faults{NoEpollWait: true}, nil, "IORING_OP_EPOLL_WAIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.errno == nil {
				open(t).Close() // the probe runs on a real ring
			}
			restore := SetFaults(tc.f)
			defer restore()
			b, err := New()
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, ErrUnavailable) || (tc.errno != nil && !errors.Is(err, tc.errno)) {
				t.Errorf("New: %v; want ErrUnavailable and %v", err, tc.errno)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("New: %q does not say %q", err, tc.says)
			}
		})
	}
	// Out of descriptors is not a missing io_uring: no fallback hides it.
	restore := SetFaults(Faults{Setup: unix.EMFILE})
	defer restore()
	if _, err := New(); !errors.Is(err, unix.EMFILE) || errors.Is(err, ErrUnavailable) {
		t.Errorf("New with io_uring_setup failing EMFILE: %v; want EMFILE, not ErrUnavailable", err)
	}
}

func pair(t *testing.T) [2]int {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return [2]int{p[0], p[1]}
}
