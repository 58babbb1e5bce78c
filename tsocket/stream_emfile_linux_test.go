package tsocket

import (
	"errors"
	"syscall"
	"testing"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// TestAcceptEMFILE runs out of descriptors with a connection waiting:
// Accept fails with EMFILE once, then backs off instead of spinning, and
// takes the connection once descriptors are free again.
func TestAcceptEMFILE(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		la, _ := InetAddress("ipv4", "127.0.0.1", 0)
		l, err := Listen(s, la, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Free()
		c := must(t, ev, Connect(s, Address{}, l.Addr()))
		defer c.Free()
		var old unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &old)
		var filler []int
		lim := old
		lim.Cur = uint64(openFDCount() + 4)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Skip("cannot lower RLIMIT_NOFILE:", err)
		}
		for {
			fd, err := unix.Dup(0)
			if err != nil {
				break
			}
			filler = append(filler, fd)
		}
		acc := l.Accept(s)
		_, err = wait(t, ev, acc)
		// A second Accept waits for the back-off rather than asking again at once.
		turns := 0
		acc2 := l.Accept(s)
		inProgress := acc2.IsInProgress()
		for _, fd := range filler {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
		if !errors.Is(err, syscall.EMFILE) {
			t.Errorf("accept out of descriptors: %v, want EMFILE", err)
		}
		if !inProgress {
			t.Errorf("Accept right after EMFILE did not back off")
		}
		ev.SetTraceCallback(func(p tevent.TracePoint) {
			if p == tevent.TraceBeforeLoopOnce {
				turns++
			}
		})
		srv := must(t, ev, acc2)
		ev.SetTraceCallback(nil)
		if turns > 10 {
			t.Errorf("%d loop turns to wait out the back-off: the loop spun", turns)
		}
		srv.Free()
	})
}
