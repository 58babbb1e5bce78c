//go:build linux || freebsd

package poll_test

import (
	"slices"
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/poll"
	"golang.org/x/sys/unix"
)

// TestWaitCalls pins the polls a Wait makes (their timeouts, through the
// fault seam): where the system has a raw poll, a blocking wait is its
// first poller.ShortWait milliseconds and then the rest (poller.Block);
// readiness or a wake-up in the first part ends it.
func TestWaitCalls(t *testing.T) {
	var calls []int
	defer poll.SetFaults(func(fds []unix.PollFd, ms int) (int, error) {
		calls = append(calls, ms)
		return unix.Poll(fds, ms)
	})()
	b, err := poll.New(false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := b.Add(fds[0], 1, poller.Readable); err != nil {
		t.Fatal(err)
	}
	evs := make([]poller.Event, 4)
	wait := func(ms, want int, wantCalls ...int) {
		t.Helper()
		calls = calls[:0]
		n, err := b.Wait(evs, ms)
		if err != nil || n != want {
			t.Fatalf("Wait(%d) = %d, %v; want %d, nil", ms, n, err, want)
		}
		if !slices.Equal(calls, wantCalls) {
			t.Fatalf("Wait(%d) made polls with timeouts %v, want %v", ms, calls, wantCalls)
		}
	}
	short := poller.ShortWait
	wait(3, 0, short, 3-short)
	wait(short, 0, short)
	wait(0, 0, 0)
	unix.Write(fds[1], []byte("x"))
	wait(-1, 1, short)
	var buf [4]byte
	unix.Read(fds[0], buf[:])
	b.Wake()
	wait(-1, 0, short)
}
