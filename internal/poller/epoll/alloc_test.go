//go:build linux

package epoll_test

import (
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"golang.org/x/sys/unix"
)

// TestCtlAllocations pins that registering, changing and dropping a
// descriptor (epoll_ctl ADD, MOD, DEL) allocates nothing: the event is
// handed to the kernel from the stack.
func TestCtlAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	b, err := epoll.New(false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sv[0])
	defer unix.Close(sv[1])
	fd := sv[0]
	if n := testing.AllocsPerRun(1000, func() {
		if err := b.Add(fd, 7, poller.Readable); err != nil {
			t.Fatal(err)
		}
		if err := b.Modify(fd, 7, poller.Readable|poller.Writable); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(fd); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Add, Modify and Delete: %v allocations, want 0", n)
	}
}
