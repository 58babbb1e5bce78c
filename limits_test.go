//go:build linux

package tevent

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/iouring"
	"golang.org/x/sys/unix"
)

// nofileChildEnv marks the child process of TestLimitNofile.
const nofileChildEnv = "TEVENT_NOFILE_CHILD"

// TestLimitNofile runs TestNofileChild in a child process (the same test
// binary), where RLIMIT_NOFILE is lowered so that descriptors run out.
// Lowering it here would disturb the rest of the suite.
func TestLimitNofile(t *testing.T) {
	if os.Getenv(nofileChildEnv) != "" {
		t.Skip("in the child")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	args := []string{"-test.run=^TestNofileChild$", "-test.v", "-test.count=1", "-test.timeout=60s"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), nofileChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestNofileChild") {
		t.Fatalf("child did not run TestNofileChild:\n%s", out)
	}
	if testing.Verbose() {
		t.Logf("child:\n%s", out)
	}
}

// openFDSet lists the open descriptors below limit without opening one
// (so it works when none is left): F_GETFD on each number.
func openFDSet(limit int) []int {
	var fds []int
	for fd := 0; fd < limit; fd++ {
		if fdIsOpen(fd) {
			fds = append(fds, fd)
		}
	}
	return fds
}

// TestNofileChild is run by TestLimitNofile in a child process with
// TEVENT_NOFILE_CHILD=1. It lowers RLIMIT_NOFILE and checks that running
// out of descriptors gives errors that wrap EMFILE and say what failed,
// that a half-made context frees what it had opened, that existing
// contexts keep working with no descriptor to spare, and that freeing
// everything returns the process to its baseline.
func TestNofileChild(t *testing.T) {
	if os.Getenv(nofileChildEnv) != "1" {
		t.Skip("run by TestLimitNofile in a child process")
	}
	warmRuntimeFDs()
	baseline := openFDCount(t)
	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	start := openFDSet(int(min(orig.Cur, 1<<16)))
	limit := start[len(start)-1] + 160
	lim := unix.Rlimit{Cur: uint64(limit), Max: orig.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &orig)
	probe := func() []int { return openFDSet(limit + 16) }

	// fill opens descriptors until none is left.
	fill := func() []int {
		var d []int
		for {
			fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
			if err != nil {
				if err != unix.EMFILE {
					t.Fatalf("filling the table: %v", err)
				}
				return d
			}
			d = append(d, fd)
		}
	}
	closeAll := func(fds []int) {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}

	t.Run("half made", func(t *testing.T) {
		// With exactly 0, 1, 2 or 3 descriptors free, New either works
		// or fails with EMFILE, naming the backend, and leaves no
		// descriptor behind.
		for _, v := range []faultVariant{
			{"epoll", nil}, {"epoll", []Option{WithRuntimePoller()}},
			{"standard", nil}, {"standard", []Option{WithRuntimePoller()}},
			{"poll", nil}, {"poll_mt", nil}, {"io_uring", nil},
		} {
			need := 2 // an epoll or poll descriptor, and the wake-up eventfd
			if v.backend == "io_uring" {
				if b, err := iouring.New(); err == nil {
					b.Close()
					need = 3 // and the ring (else it runs on epoll)
				}
			}
			for free := 0; free <= 3; free++ {
				dummies := fill()
				closeAll(dummies[len(dummies)-free:])
				dummies = dummies[:len(dummies)-free]
				before := probe()
				ev, err := New(append([]Option{WithBackend(v.backend)}, v.opts...)...)
				if err != nil {
					t.Logf("%s with %d free: %v", v.name(), free, err)
					if !errors.Is(err, unix.EMFILE) {
						t.Errorf("%s with %d free: error %v does not wrap EMFILE", v.name(), free, err)
					}
					if !strings.Contains(err.Error(), "creating "+v.backend+" backend") {
						t.Errorf("%s with %d free: error %q does not say what failed", v.name(), free, err)
					}
					if free >= need {
						t.Errorf("%s failed with %d descriptors free: %v", v.name(), free, err)
					}
				} else {
					if free == 1 && v.backend == "standard" && len(v.opts) == 0 && !usesPoll(ev) {
						t.Errorf("standard with one descriptor free: on %T, want poll", kernelBackend(ev))
					}
					ev.Free()
				}
				if after := probe(); !slices.Equal(before, after) {
					t.Errorf("%s with %d free (err %v): descriptors %v before, %v after", v.name(), free, err, before, after)
				}
				closeAll(dummies)
			}
		}
	})

	t.Run("until it runs out", func(t *testing.T) {
		before := probe()
		backends := Backends()
		// A standard context made first, to make fall back at the limit.
		std, err := New(WithBackend("standard"))
		if err != nil {
			t.Fatal(err)
		}
		sp := newSockPair(t) // so that std waits in epoll_wait
		stdFD, err := std.AddFD(sp.fd[0], FDRead, func(*Context, *FD, FDFlags) {})
		if err != nil {
			t.Fatal(err)
		}
		registered := false
		std.AddTimer(time.Now().Add(time.Millisecond), func(*Context, *Timer, time.Time) { registered = true })
		driveUntil(t, std, func() bool { return registered })
		type made struct {
			ev    *Context
			tp    *ThreadProxy
			peer  int
			reads *int
		}
		var all []made
		var lastErr error
		what := ""
		for i := 0; ; i++ {
			ev, err := New(WithBackend(backends[i%len(backends)]))
			if err != nil {
				lastErr, what = err, "New"
				break
			}
			tp, err := ev.NewThreadProxy()
			if err != nil {
				t.Fatalf("NewThreadProxy at the limit: %v", err)
			}
			m := made{ev: ev, tp: tp, peer: -1, reads: new(int)}
			all = append(all, m)
			sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				lastErr, what = err, "socketpair"
				break
			}
			fde, err := ev.AddFD(sp[0], FDRead, func(_ *Context, fde *FD, _ FDFlags) {
				var b [4]byte
				unix.Read(fde.Fd(), b[:])
				*m.reads++
			})
			if err != nil {
				t.Fatalf("AddFD at the limit: %v", err)
			}
			fde.SetAutoClose()
			all[len(all)-1].peer = sp[1]
		}
		if len(all) < 10 {
			t.Fatalf("only %d contexts before running out", len(all))
		}
		t.Logf("%d contexts made; then %s: %v", len(all), what, lastErr)
		if !errors.Is(lastErr, unix.EMFILE) {
			t.Errorf("%s at the limit: %v, want EMFILE", what, lastErr)
		}
		if what == "New" && !strings.Contains(lastErr.Error(), "tevent: creating") {
			t.Errorf("New at the limit: %q does not say what failed", lastErr)
		}
		// Squeeze out any descriptor left by a failed socketpair.
		squeeze := fill()
		// With none free, every backend fails cleanly, and proxies (which
		// need no descriptor) can still be made.
		full := probe()
		for _, b := range backends {
			if ev, err := New(WithBackend(b)); err == nil {
				ev.Free()
				t.Errorf("New(%s) worked with no descriptor free", b)
			} else if !errors.Is(err, unix.EMFILE) || !strings.Contains(err.Error(), "creating "+b+" backend") {
				t.Errorf("New(%s) with no descriptor free: %v", b, err)
			}
			if tp, err := all[0].ev.NewThreadProxy(); err != nil {
				t.Errorf("NewThreadProxy with no descriptor free: %v", err)
			} else {
				tp.Free()
			}
		}
		if after := probe(); !slices.Equal(full, after) {
			t.Errorf("failed New calls at the limit changed the open descriptors: %v, then %v", full, after)
		}
		// With no descriptor to spare, the contexts still work: fd
		// events, and proxy calls from other goroutines.
		for _, m := range all {
			if m.peer < 0 {
				continue
			}
			writeBytes(t, m.peer, "x")
			ran := atomic.Bool{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				if err := m.tp.Schedule(func(*Context) { ran.Store(true) }); err != nil {
					t.Errorf("Schedule at the limit: %v", err)
				}
			}()
			driveUntil(t, m.ev, func() bool { return *m.reads == 1 && ran.Load() })
			<-done
		}
		// "standard" cannot fall back to poll without a descriptor: the
		// loop call says so and the context stays usable.
		restore := epoll.SetFaults(nil, func(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
			return 0, unix.EINVAL
		})
		std.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
		err = std.LoopOnce()
		restore()
		if err == nil {
			t.Error("standard: epoll failed and poll could not be made, yet LoopOnce returned nil")
		} else {
			t.Logf("standard at the limit: %v", err)
			if !errors.Is(err, unix.EINVAL) {
				t.Errorf("standard at the limit: %v does not wrap the epoll error", err)
			}
			if !errors.Is(err, unix.EMFILE) {
				t.Errorf("standard at the limit: %v does not say why it could not fall back to poll (EMFILE)", err)
			}
		}
		if !usesEpoll(std) {
			t.Error("standard left epoll without a poll poller")
		}
		closeAll(squeeze)
		// The squeeze may have found none free: free the last context
		// too, so that descriptors are back whatever the backends' mix
		// left over.
		last := all[len(all)-1]
		all = all[:len(all)-1]
		last.ev.Free()
		if last.peer >= 0 {
			unix.Close(last.peer)
		}
		// With descriptors back, the fall back works on the next failure.
		restore = epoll.SetFaults(nil, func(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
			return 0, unix.EINVAL
		})
		fired := false
		std.AddTimer(time.Now().Add(time.Millisecond), func(*Context, *Timer, time.Time) { fired = true })
		for !fired {
			if err := std.LoopOnce(); err != nil {
				restore()
				t.Fatalf("standard after descriptors were freed: %v", err)
			}
		}
		restore()
		if !usesPoll(std) {
			t.Error("standard did not fall back once descriptors were free")
		}
		stdFD.Free()
		std.Free()
		sp.close(t, 0)
		sp.close(t, 1)
		for _, m := range all {
			m.ev.Free()
			if m.peer >= 0 {
				unix.Close(m.peer)
			}
			if err := m.tp.Schedule(func(*Context) {}); !errors.Is(err, ErrProxyFreed) {
				t.Errorf("Schedule after Free: %v", err)
			}
		}
		if after := probe(); !slices.Equal(before, after) {
			t.Errorf("descriptors %v before, %v after freeing everything", before, after)
		}
	})
	unix.Setrlimit(unix.RLIMIT_NOFILE, &orig)
	if n := openFDCount(t); n != baseline {
		t.Errorf("%d descriptors open at the end, %d at the start", n, baseline)
	}
}
