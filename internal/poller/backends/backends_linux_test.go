package backends

import (
	"errors"
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/iouring"
	"github.com/gotevent/tevent/internal/poller/pollertest"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// told records what OnUnavailable is told.
type told struct {
	calls         int
	name, instead string
	cause         error
}

func (w *told) on(name, instead string, cause error) {
	w.calls++
	w.name, w.instead, w.cause = name, instead, cause
}

// TestIOUringFallsBackToEpoll simulates systems without a usable
// io_uring: "io_uring" then opens epoll, and says so once, with why.
func TestIOUringFallsBackToEpoll(t *testing.T) {
	for _, tc := range []struct {
		name  string
		f     iouring.Faults
		errno error
	}{
		{"EPERM", iouring.Faults{Setup: unix.EPERM}, unix.EPERM},
		{"ENOSYS", iouring.Faults{Setup: unix.ENOSYS}, unix.ENOSYS},
		{"no EPOLL_WAIT", iouring.Faults{NoEpollWait: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.errno == nil {
				if b, err := iouring.New(); err != nil {
					t.Skipf("io_uring unavailable here, so its opcode probe cannot be faked: %v", err)
				} else {
					b.Close()
				}
			}
			defer iouring.SetFaults(tc.f)()
			var w told
			b, err := Open("io_uring", Options{OnUnavailable: w.on})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if _, ok := b.(*epoll.Backend); !ok {
				t.Fatalf("opened %T, want *epoll.Backend", b)
			}
			if w.calls != 1 || w.name != "io_uring" || w.instead != "epoll" || !errors.Is(w.cause, iouring.ErrUnavailable) ||
				(tc.errno != nil && !errors.Is(w.cause, tc.errno)) {
				t.Fatalf("OnUnavailable told %d times: %q, %q, %v", w.calls, w.name, w.instead, w.cause)
			}
		})
	}
}

// TestIOUringRefusalNotHidden: a failure that is not a missing io_uring
// (out of descriptors) is returned, not answered with epoll.
func TestIOUringRefusalNotHidden(t *testing.T) {
	defer iouring.SetFaults(iouring.Faults{Setup: unix.EMFILE})()
	var w told
	b, err := Open("io_uring", Options{OnUnavailable: w.on})
	if err == nil {
		b.Close()
		t.Fatal("Open succeeded")
	}
	if !errors.Is(err, unix.EMFILE) || w.calls != 0 {
		t.Fatalf("Open: %v (OnUnavailable told %d times); want EMFILE and no fallback", err, w.calls)
	}
}

// TestIOUringInUse: where io_uring works, "io_uring" is io_uring.
func TestIOUringInUse(t *testing.T) {
	if b, err := iouring.New(); err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	} else {
		b.Close()
	}
	var w told
	b, err := Open("io_uring", Options{OnUnavailable: w.on})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.(*iouring.Backend); !ok || w.calls != 0 {
		t.Fatalf("opened %T (OnUnavailable told %d times), want *iouring.Backend", b, w.calls)
	}
}

// TestConformanceFallenBack runs the backend suite on what "io_uring"
// opens without io_uring: epoll, in both of its modes.
func TestConformanceFallenBack(t *testing.T) {
	defer iouring.SetFaults(iouring.Faults{Setup: unix.EPERM})()
	for _, runtime := range []bool{false, true} {
		name := "blocking"
		if runtime {
			name = "runtime"
		}
		t.Run(name, func(t *testing.T) {
			pollertest.Run(t, func(t *testing.T) poller.Backend {
				b, err := Open("io_uring", Options{Runtime: runtime})
				if err != nil {
					t.Fatal(err)
				}
				return b
			})
		})
	}
}
