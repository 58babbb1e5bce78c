//go:build linux

package epoll

import (
	"slices"
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"golang.org/x/sys/unix"
)

// TestWaitCalls pins the epoll_waits a Wait makes (their timeouts, through
// the fault seam, which sees every one): a blocking wait is its first
// poller.ShortWait milliseconds and then the rest; the non-blocking try
// before it is skipped while the loop is quiet (a try found nothing and
// the wait after it brought at most one descriptor), made again every
// quietWaits-th wait, and made every time again once a wait brings more
// than one.
func TestWaitCalls(t *testing.T) {
	var calls []int
	defer SetFaults(nil, func(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
		calls = append(calls, ms)
		return unix.EpollWait(epfd, evs, ms)
	})()
	b, err := New(false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var writers [2]int
	for i := range writers {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		writers[i] = fds[1]
		if err := b.Add(fds[0], poller.Token(i+1), poller.Readable); err != nil {
			t.Fatal(err)
		}
	}
	evs := make([]poller.Event, 8)
	wait := func(ms, want int, wantCalls ...int) {
		t.Helper()
		calls = calls[:0]
		n, err := b.Wait(evs, ms)
		if err != nil || n != want {
			t.Fatalf("Wait(%d) = %d, %v; want %d, nil", ms, n, err, want)
		}
		if !slices.Equal(calls, wantCalls) {
			t.Fatalf("Wait(%d) made epoll_waits with timeouts %v, want %v", ms, calls, wantCalls)
		}
	}
	short := poller.ShortWait

	wait(3, 0, 0, short, 3-short) // nothing ready: the try, the short part, the rest
	for range quietWaits - 1 {
		wait(3, 0, short, 3-short) // quiet: no try
	}
	wait(short, 0, short)    // quiet, and no rest to wait
	wait(short, 0, 0, short) // the try again, and quiet again
	unix.Write(writers[0], []byte("x"))
	wait(-1, 1, short) // quiet: one descriptor, made at once
	unix.Write(writers[1], []byte("x"))
	wait(-1, 2, short) // two: no longer quiet
	wait(-1, 2, 0)     // the try finds them
	wait(0, 2, 0)      // a zero timeout is the try alone
}
