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
// poller.ShortWait milliseconds and then the rest (poller.Block), with no
// non-blocking try before it; a zero timeout is one non-blocking call.
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
	var readers, writers [2]int
	for i := range writers {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		readers[i], writers[i] = fds[0], fds[1]
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

	wait(3, 0, short, 3-short) // nothing ready: the short part, then the rest
	wait(short, 0, short)      // no rest to wait
	wait(0, 0, 0)              // a zero timeout: one call that does not block
	unix.Write(writers[0], []byte("x"))
	wait(-1, 1, short) // ready at once: the short part finds it
	unix.Write(writers[1], []byte("x"))
	wait(3, 2, short)
	wait(0, 2, 0)
	var buf [8]byte
	for _, fd := range readers {
		unix.Read(fd, buf[:])
	}
	b.Wake()
	wait(-1, 0, short) // a wake-up ends the wait as readiness does
}
