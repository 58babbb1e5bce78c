//go:build linux

package epoll_test

import (
	"slices"
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"golang.org/x/sys/unix"
)

// TestWaitCalls pins the system calls a Wait makes (their timeouts, through
// the fault seam, which sees every epoll_wait): a blocking wait is its first
// poller.ShortWait milliseconds and then the rest; the non-blocking try
// before it is skipped while the loop is quiet (the last try found nothing
// and the wait after it brought at most one descriptor) and made again once
// a wait brings more.
func TestWaitCalls(t *testing.T) {
	var calls []int
	defer epoll.SetFaults(nil, func(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
		calls = append(calls, ms)
		return unix.EpollWait(epfd, evs, ms)
	})()
	b, err := epoll.New(false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pairs := make([][2]int, 2)
	for i := range pairs {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		pairs[i] = [2]int{fds[0], fds[1]}
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

	wait(3, 0, 0, short, 3-short) // nothing ready: try, short, rest
	wait(3, 0, short, 3-short)    // quiet: no try
	wait(short, 0, short)         // no rest to wait
	unix.Write(pairs[0][1], []byte("x"))
	wait(-1, 1, short) // quiet; one descriptor: still quiet
	unix.Write(pairs[1][1], []byte("x"))
	wait(-1, 2, short) // two: no longer quiet
	wait(-1, 2, 0)     // the try finds them
	wait(0, 2, 0)      // a zero timeout is the try alone
}
