package tserver

import (
	"testing"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// The echo path allocates nothing per message once warm: the read goes to
// the loop's buffer, the write is staged in the loop's buffer and flushed
// with one write.
func TestServerZeroAllocsPerMessage(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		ev, err := tevent.New(tevent.WithBackend(backend))
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Free()
		rec := newRecorder()
		s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}, IdleTimeout: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.Listen("tcp", "127.0.0.1:0")
		sa, _ := parseV4(a.String())
		cfd, _ := testSocketTCP()
		defer unix.Close(cfd)
		if err := unix.Connect(cfd, sa); err != nil {
			t.Fatal(err)
		}
		for len(rec.opened) == 0 {
			if err := ev.LoopOnce(); err != nil {
				t.Fatal(err)
			}
		}
		for _, size := range []int{64, 4096} {
			msg := make([]byte, size)
			got := make([]byte, size)
			round := func() {
				if _, err := unix.Write(cfd, msg); err != nil {
					t.Fatal(err)
				}
				n := 0
				for n < size {
					if err := ev.LoopOnce(); err != nil {
						t.Fatal(err)
					}
					// The client socket is blocking: read what came.
					var fds = [1]unix.PollFd{{Fd: int32(cfd), Events: unix.POLLIN}}
					if k, _ := unix.Poll(fds[:], 0); k == 1 {
						m, err := unix.Read(cfd, got[n:])
						if err != nil {
							t.Fatal(err)
						}
						n += m
					}
				}
			}
			round()
			if avg := testing.AllocsPerRun(200, round); avg != 0 {
				t.Errorf("size %d: %.2f allocations per echoed message, want 0", size, avg)
			}
		}
		s.Close()
		for s.left.Load() > 0 {
			if err := ev.LoopOnce(); err != nil {
				t.Fatal(err)
			}
		}
		waitServer(t, s)
	})
}
