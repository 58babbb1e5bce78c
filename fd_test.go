package tevent

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestAddFDBadFD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		h := func(*Context, *FD, FDFlags) { t.Error("handler of a bad fd ran") }
		fde, err := ev.AddFD(-1, FDRead, h)
		expectErr(t, "AddFD(-1)", err, ErrBadFD)
		if fde != nil {
			t.Error("AddFD(-1) returned an event")
		}

		// A descriptor number that is closed.
		p := newPipePair(t)
		closed := p.fd[0]
		p.close(t, 0)
		_, err = ev.AddFD(closed, FDRead, h)
		expectErr(t, "AddFD(closed fd)", err, ErrBadFD)

		// A descriptor that was watched, then freed and closed by its
		// owner. (AddFD checks a known descriptor once per loop turn, so
		// run a turn in between.)
		q := newPipePair(t)
		fde, err = ev.AddFD(q.fd[0], FDRead, h)
		if err != nil {
			t.Fatal(err)
		}
		fde.Free()
		reused := q.fd[0]
		q.close(t, 0)
		ev.AddTimer(time.Now().Add(time.Millisecond), func(*Context, *Timer, time.Time) {})
		loopOnce(t, ev) // a turn that waits in the kernel
		fde, err = ev.AddFD(reused, FDRead, h)
		expectErr(t, "AddFD(fd closed after its event was freed)", err, ErrBadFD)
		if fde != nil {
			fde.Free()
		}

		expectErr(t, "LoopOnce with no events", ev.LoopOnce(), ErrNoEvents)
	})
}

func TestFDReadWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newPipePair(t)
		var got []byte
		var wflags, rflags []FDFlags
		msg := "hello, tevent"
		off := 0
		w, err := ev.AddFD(p.fd[1], FDWrite, func(ev *Context, fde *FD, fl FDFlags) {
			wflags = append(wflags, fl)
			n, err := unix.Write(fde.Fd(), []byte(msg[off:off+1]))
			if err != nil || n != 1 {
				t.Errorf("write: %d %v", n, err)
			}
			off++
			if off == len(msg) {
				fde.Free()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if w.Fd() != p.fd[1] || w.Flags() != FDWrite {
			t.Errorf("Fd()=%d Flags()=%v, want %d %v", w.Fd(), w.Flags(), p.fd[1], FDWrite)
		}
		r, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
			rflags = append(rflags, fl)
			var buf [64]byte
			n, err := unix.Read(fde.Fd(), buf[:])
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			got = append(got, buf[:n]...)
			if len(got) == len(msg) {
				fde.Free()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = r
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Errorf("read %q, want %q", got, msg)
		}
		for _, fl := range wflags {
			if fl != FDWrite {
				t.Errorf("write handler got %v", fl)
			}
		}
		for _, fl := range rflags {
			if fl != FDRead {
				t.Errorf("read handler got %v", fl)
			}
		}
	})
}

// TestFDSharedFD: several events on one descriptor that stays readable
// and writable take turns, and each is given only its own flags.
func TestFDSharedFD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x") // never read: fd[0] stays readable and writable
		type call struct {
			who int
			fl  FDFlags
		}
		var calls []call
		want := []FDFlags{FDRead, FDRead, FDWrite, FDRead | FDWrite, FDRead | FDWrite | FDError}
		for i, fl := range want {
			_, err := ev.AddFD(p.fd[0], fl, func(ev *Context, fde *FD, got FDFlags) {
				calls = append(calls, call{i, got})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		k := len(want)
		turns := 8 * k
		for range turns {
			before := len(calls)
			loopOnce(t, ev)
			if len(calls) != before+1 {
				t.Fatalf("LoopOnce ran %d handlers, want 1", len(calls)-before)
			}
		}
		last := make([]int, k)
		for i := range last {
			last[i] = -1
		}
		for turn, c := range calls {
			wantFl := want[c.who] &^ FDError // no error on a healthy socket
			if c.fl != wantFl {
				t.Errorf("event %d (flags %v) was given %v, want %v", c.who, want[c.who], c.fl, wantFl)
			}
			if gap := turn - last[c.who]; gap > k {
				t.Errorf("event %d waited %d turns (served at %d after %d), want at most %d", c.who, gap, turn, last[c.who], k)
			}
			last[c.who] = turn
		}
		for i, l := range last {
			if turns-1-l >= k {
				t.Errorf("event %d last served at turn %d of %d", i, l, turns)
			}
		}
	})
}

// TestFDSetFlags ports tevent's fd1 test: flags changed from inside the
// fd's handler and from a timer, including disabling with 0 and
// re-enabling, and each call sees exactly the flags asked for.
func TestFDSetFlags(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		var got []FDFlags
		step := 0
		fde, err := ev.AddFD(p.give(0), FDWrite, func(ev *Context, fde *FD, fl FDFlags) {
			got = append(got, fl)
			switch step {
			case 0: // writable: make the fd readable, then ask for reading
				writeBytes(t, p.fd[1], "x")
				fde.SetFlags(FDRead)
				if fde.Flags() != FDRead {
					t.Errorf("Flags() = %v after SetFlags(FDRead)", fde.Flags())
				}
			case 1: // readable (and still writable): disable
				fde.SetFlags(0)
			case 2: // re-enabled by the timer for both
			case 3: // drained: asks for reading only, so nothing more until closed
			}
			step++
		})
		if err != nil {
			t.Fatal(err)
		}
		fde.SetAutoClose()
		// The peer end, watched for nothing, only to be auto-closed.
		peer, err := ev.AddFD(p.give(1), 0, func(*Context, *FD, FDFlags) { t.Error("event with flags 0 fired") })
		if err != nil {
			t.Fatal(err)
		}
		peer.SetAutoClose()

		loopOnce(t, ev)
		loopOnce(t, ev)
		if want := []FDFlags{FDWrite, FDRead}; !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		// Disabled although readable and writable: the timer comes first.
		timer := false
		ev.AddTimer(time.Now().Add(20*time.Millisecond), func(*Context, *Timer, time.Time) {
			timer = true
			fde.SetFlags(FDRead | FDWrite)
		})
		loopOnce(t, ev)
		if !timer || len(got) != 2 {
			t.Fatalf("with flags 0: timer=%v calls=%v", timer, got)
		}
		loopOnce(t, ev)
		if want := []FDFlags{FDWrite, FDRead, FDRead | FDWrite}; !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		// Drain, ask for reading only: nothing is readable, so the next
		// event is the sentinel timer.
		var buf [8]byte
		if n, err := unix.Read(p.fd[0], buf[:]); n != 1 || err != nil {
			t.Fatalf("drain: %d %v", n, err)
		}
		fde.SetFlags(FDRead)
		sentinel := false
		ev.AddTimer(time.Now().Add(20*time.Millisecond), func(*Context, *Timer, time.Time) { sentinel = true })
		loopOnce(t, ev)
		if !sentinel || len(got) != 3 {
			t.Fatalf("drained fd fired: sentinel=%v calls=%v", sentinel, got)
		}
		fde.Free()
		peer.Free()
		if fdIsOpen(p.fd[0]) || fdIsOpen(p.fd[1]) {
			t.Error("auto-close descriptors still open after Free")
		}
		fde.SetFlags(FDRead) // no-op on a freed event
	})
}

// TestFDHangup: when the peer closes, an event asking for FDError is
// given FDError, one asking for FDRead is given FDRead and reads 0, and
// each is given only flags it asked for.
func TestFDHangup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		got := map[string]FDFlags{}
		readN, readErr := -1, error(nil)
		add := func(name string, fl FDFlags, fn func(fde *FD)) {
			_, err := ev.AddFD(p.fd[0], fl, func(ev *Context, fde *FD, flags FDFlags) {
				if prev, ok := got[name]; ok {
					t.Errorf("%s called twice (%v, then %v)", name, prev, flags)
				}
				got[name] = flags
				if fn != nil {
					fn(fde)
				}
				fde.Free()
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		add("error", FDError, nil)
		add("read", FDRead, func(fde *FD) {
			var buf [8]byte
			readN, readErr = unix.Read(fde.Fd(), buf[:])
		})
		add("read|error", FDRead|FDError, nil)
		p.close(t, 1)
		driveUntil(t, ev, func() bool { return len(got) == 3 })
		if got["error"] != FDError {
			t.Errorf("FDError event was given %v, want FDError", got["error"])
		}
		if got["read"] != FDRead {
			t.Errorf("FDRead event was given %v, want FDRead", got["read"])
		}
		if readN != 0 || readErr != nil {
			t.Errorf("read after hang-up = %d, %v; want 0, nil", readN, readErr)
		}
		if fl := got["read|error"]; fl&FDError == 0 || fl&^(FDRead|FDError) != 0 {
			t.Errorf("FDRead|FDError event was given %v", fl)
		}
		expectErr(t, "LoopOnce after all freed", ev.LoopOnce(), ErrNoEvents)
	})
}

// TestFDErrorOnlyIgnoresData: an event that asks only for FDError is not
// called because the fd is readable or writable.
func TestFDErrorOnlyIgnoresData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		called := 0
		fde, err := ev.AddFD(p.fd[0], FDError, func(*Context, *FD, FDFlags) { called++ })
		if err != nil {
			t.Fatal(err)
		}
		sentinel := false
		ev.AddTimer(time.Now().Add(20*time.Millisecond), func(*Context, *Timer, time.Time) { sentinel = true })
		driveUntil(t, ev, func() bool { return sentinel })
		if called != 0 {
			t.Errorf("FDError-only event called %d times on a healthy readable socket", called)
		}
		// Now hang up: it fires.
		p.close(t, 1)
		driveUntil(t, ev, func() bool { return called > 0 })
		fde.Free()
	})
}

func TestFDAutoCloseAndCloseFn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		// Auto-close: closed by Free.
		p := newSockPair(t)
		fde, err := ev.AddFD(p.give(0), FDRead, func(*Context, *FD, FDFlags) {})
		if err != nil {
			t.Fatal(err)
		}
		fde.SetAutoClose()
		if !fdIsOpen(p.fd[0]) {
			t.Fatal("auto-close fd closed before Free")
		}
		fde.Free()
		if fdIsOpen(p.fd[0]) {
			t.Error("auto-close fd still open after Free")
		}
		fde.Free() // idempotent: must not close a reused number

		// Without auto-close the fd stays open.
		q := newSockPair(t)
		fde, err = ev.AddFD(q.fd[0], FDRead, func(*Context, *FD, FDFlags) {})
		if err != nil {
			t.Fatal(err)
		}
		fde.Free()
		if !fdIsOpen(q.fd[0]) {
			t.Error("fd without auto-close was closed by Free")
		}

		// Close function: called once with the fd, which tevent does not
		// close itself.
		var calls []int
		fde, err = ev.AddFD(q.fd[1], FDWrite, func(*Context, *FD, FDFlags) {})
		if err != nil {
			t.Fatal(err)
		}
		fde.SetAutoClose() // the close function takes precedence
		fde.SetCloseFn(func(cev *Context, cfde *FD, fd int) {
			if cev != ev || cfde != fde {
				t.Error("close function given the wrong context or event")
			}
			calls = append(calls, fd)
		})
		fde.Free()
		fde.Free()
		if !slices.Equal(calls, []int{q.fd[1]}) {
			t.Errorf("close function calls %v, want [%d]", calls, q.fd[1])
		}
		if !fdIsOpen(q.fd[1]) {
			t.Error("fd closed by tevent although a close function was set")
		}

		// Auto-close fds are closed when the context is freed, from
		// inside a handler too.
		r := newSockPair(t)
		fde, err = ev.AddFD(r.give(0), FDWrite, func(ev *Context, _ *FD, _ FDFlags) { ev.Free() })
		if err != nil {
			t.Fatal(err)
		}
		fde.SetAutoClose()
		closedWith := -1
		other, err := ev.AddFD(r.fd[1], 0, func(*Context, *FD, FDFlags) {})
		if err != nil {
			t.Fatal(err)
		}
		other.SetCloseFn(func(_ *Context, _ *FD, fd int) { closedWith = fd })
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if fdIsOpen(r.fd[0]) {
			t.Error("auto-close fd still open after the context was freed")
		}
		if closedWith != r.fd[1] {
			t.Errorf("close function at context Free got fd %d, want %d", closedWith, r.fd[1])
		}
	})
}

// TestFDHarvestedThenChanged: two fds are ready in the same wait; the
// handler that runs first frees, disables or re-flags the other's event.
// The other must then not be called with the readiness harvested before.
func TestFDHarvestedThenChanged(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, ev *Context, other *FD) *FD
		// wantOther: what the other event may be given afterwards; 0: never called
		wantOther FDFlags
	}{
		{"free", func(t *testing.T, ev *Context, other *FD) *FD { other.Free(); return nil }, 0},
		{"disable", func(t *testing.T, ev *Context, other *FD) *FD { other.SetFlags(0); return nil }, 0},
		{"reflag to write", func(t *testing.T, ev *Context, other *FD) *FD { other.SetFlags(FDWrite); return nil }, FDWrite},
		{"reflag to error", func(t *testing.T, ev *Context, other *FD) *FD { other.SetFlags(FDError); return nil }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				pairs := []*sockPair{newSockPair(t), newSockPair(t)}
				var fdes [2]*FD
				var calls [2][]FDFlags
				first := -1
				for i := range 2 {
					writeBytes(t, pairs[i].fd[1], "x")
					var err error
					fdes[i], err = ev.AddFD(pairs[i].fd[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
						calls[i] = append(calls[i], fl)
						if first == -1 {
							first = i
							var buf [8]byte
							unix.Read(fde.Fd(), buf[:])
							c.change(t, ev, fdes[1-i])
							fde.Free()
							return
						}
						if i != first {
							fde.Free()
						}
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				loopOnce(t, ev)
				if first == -1 {
					t.Fatal("no fd handler ran")
				}
				other := 1 - first
				sentinel := false
				ev.AddTimer(time.Now().Add(30*time.Millisecond), func(*Context, *Timer, time.Time) { sentinel = true })
				driveUntil(t, ev, func() bool { return sentinel })
				switch {
				case c.wantOther == 0 && len(calls[other]) != 0:
					t.Errorf("other event called with %v after being changed", calls[other])
				case c.wantOther != 0 && !slices.Equal(calls[other], []FDFlags{c.wantOther}):
					t.Errorf("other event called with %v, want [%v]", calls[other], c.wantOther)
				}
				fdes[0].Free()
				fdes[1].Free()
			})
		})
	}
}

// TestFDHarvestedThenReused: the first handler frees the other ready fd's
// event (closing it), opens a new descriptor that reuses the number and
// watches it. The readiness harvested for the old file must not be given
// to the new event: its non-blocking read would fail with EAGAIN.
func TestFDHarvestedThenReused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		pairs := []*sockPair{newSockPair(t), newSockPair(t)}
		first := -1
		var fdes [2]*FD
		var fresh *sockPair
		var freshEv *FD
		var staleErr error
		freshCalls := 0
		for i := range 2 {
			writeBytes(t, pairs[i].fd[1], "x")
			var err error
			fdes[i], err = ev.AddFD(pairs[i].fd[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
				if first != -1 {
					t.Errorf("event %d called after %d freed it", i, first)
					return
				}
				first = i
				other := fdes[1-i]
				num := other.Fd()
				other.SetAutoClose()
				pairs[1-i].give(0)
				other.Free() // closed: the number is free again
				fde.Free()
				// Make a descriptor with that number: the lowest free
				// number is normally it; dup3 makes sure.
				fresh = newSockPair(t)
				if fresh.fd[1] == num {
					fresh.fd[0], fresh.fd[1] = fresh.fd[1], fresh.fd[0]
				}
				if fresh.fd[0] != num {
					if err := unix.Dup3(fresh.fd[0], num, unix.O_CLOEXEC); err != nil {
						t.Errorf("dup3: %v", err)
						return
					}
					unix.Close(fresh.fd[0])
					fresh.fd[0] = num
				}
				freshEv, err = ev.AddFD(num, FDRead, func(ev *Context, fde *FD, fl FDFlags) {
					freshCalls++
					var buf [8]byte
					if _, err := unix.Read(fde.Fd(), buf[:]); err != nil {
						staleErr = err
					}
					fde.Free()
				})
				if err != nil {
					t.Errorf("AddFD on the reused number: %v", err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		loopOnce(t, ev)
		if first == -1 {
			t.Fatal("no handler ran")
		}
		sentinel := false
		ev.AddTimer(time.Now().Add(30*time.Millisecond), func(*Context, *Timer, time.Time) { sentinel = true })
		driveUntil(t, ev, func() bool { return sentinel })
		if staleErr != nil {
			t.Errorf("new event on a reused fd number was given stale readiness: read failed with %v", staleErr)
		}
		if freshCalls != 0 && staleErr == nil {
			t.Errorf("new event on a reused fd number called %d times although nothing was readable", freshCalls)
		}
		// The new descriptor works normally.
		if freshEv != nil && freshCalls == 0 {
			writeBytes(t, fresh.fd[1], "y")
			driveUntil(t, ev, func() bool { return freshCalls > 0 })
			if staleErr != nil {
				t.Errorf("read on the new descriptor: %v", staleErr)
			}
		}
	})
}

// readyPairs makes k socketpairs whose fd[0] stays readable, each watched
// by an event that records its index and never reads.
func readyPairs(t *testing.T, s *Scope, k int, served *[]int) {
	for i := range k {
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		if _, err := s.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { *served = append(*served, i) }); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFair checks that in served (one entry per turn) each of k
// continuously ready fds is served within its first k turns and then at
// least once every k turns: no fd waits for a second turn of another.
func checkFair(t *testing.T, served []int, k int) {
	t.Helper()
	last := make([]int, k)
	for i := range last {
		last[i] = -1
	}
	for turn, i := range served {
		if gap := turn - last[i]; gap > k {
			t.Errorf("fd %d served at turn %d, previously at %d: waited %d turns with %d fds ready (sequence %v)", i, turn, last[i], gap, k, served)
			return
		}
		last[i] = turn
	}
	for i, l := range last {
		if len(served)-1-l >= k {
			t.Errorf("fd %d last served at turn %d of %d (sequence %v)", i, l, len(served), served)
		}
	}
}

func TestFDFairness(t *testing.T) {
	for _, mode := range []string{"default", "one event per wait"} {
		var opts []Option
		if mode != "default" {
			opts = []Option{WithOneEventPerWait()}
		}
		t.Run(mode, func(t *testing.T) {
			forEachBackendOpts(t, opts, func(t *testing.T, ev *Context) {
				for _, k := range []int{2, 3, 5} {
					t.Run(fmt.Sprint(k), func(t *testing.T) {
						s := ev.NewScope()
						defer s.Free()
						var served []int
						readyPairs(t, s, k, &served)
						for range 6 * k {
							before := len(served)
							loopOnce(t, ev)
							if len(served) != before+1 {
								t.Fatalf("LoopOnce ran %d handlers, want 1", len(served)-before)
							}
						}
						checkFair(t, served, k)
					})
				}
			})
		})
	}
}

// TestOneEventPerWaitNoStale: with WithOneEventPerWait a handler may
// consume another ready fd's data (as code with blocking fds does) and
// that fd's handler is not called with stale readiness.
func TestOneEventPerWaitNoStale(t *testing.T) {
	forEachBackendOpts(t, []Option{WithOneEventPerWait()}, func(t *testing.T, ev *Context) {
		pairs := []*sockPair{newSockPair(t), newSockPair(t)}
		var stale []error
		calls := 0
		for i := range 2 {
			writeBytes(t, pairs[i].fd[1], "x")
			if _, err := ev.AddFD(pairs[i].fd[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
				calls++
				var buf [8]byte
				for _, p := range pairs { // consume both
					if _, err := unix.Read(p.fd[0], buf[:]); err != nil && p.fd[0] == fde.Fd() {
						stale = append(stale, err)
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		sentinel := false
		ev.AddTimer(time.Now().Add(30*time.Millisecond), func(*Context, *Timer, time.Time) { sentinel = true })
		driveUntil(t, ev, func() bool { return sentinel })
		if calls != 1 || len(stale) != 0 {
			t.Errorf("handlers ran %d times (want 1), stale reads %v", calls, stale)
		}
	})
}

// TestFDFreeOneOfShared: freeing one of two events on an fd
// leaves the other working.
func TestFDFreeOneOfShared(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		a, b := 0, 0
		fa, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { a++ })
		if err != nil {
			t.Fatal(err)
		}
		fb, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
			b++
			var buf [8]byte
			unix.Read(fde.Fd(), buf[:])
		})
		if err != nil {
			t.Fatal(err)
		}
		fa.Free()
		writeBytes(t, p.fd[1], "x")
		driveUntil(t, ev, func() bool { return b == 1 })
		if a != 0 {
			t.Errorf("freed event called %d times", a)
		}
		fb.Free()
		if errors.Is(ev.LoopOnce(), ErrNoEvents) == false {
			t.Error("LoopOnce with no events left did not return ErrNoEvents")
		}
	})
}
