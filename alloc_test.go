package tevent

import (
	"testing"
	"time"
	"unsafe"
)

// TestHotPathAllocations pins the allocation cost of the hot paths: a
// loop turn that runs an immediate, an fd handler or a proxy call
// allocates nothing, and a timer costs exactly its own handle.
func TestHotPathAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	forEachBackend(t, func(t *testing.T, ev *Context) {
		im := ev.NewImmediate()
		var h ImmediateHandler
		h = func(ev *Context, im *Immediate) { im.Schedule(h) }
		im.Schedule(h)
		if n := testing.AllocsPerRun(1000, func() { loopOnce(t, ev) }); n != 0 {
			t.Errorf("immediate turn: %v allocations, want 0", n)
		}
		im.Free()

		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		fde, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) {})
		if err != nil {
			t.Fatal(err)
		}
		loopOnce(t, ev) // first turn registers it with the kernel
		if n := testing.AllocsPerRun(1000, func() { loopOnce(t, ev) }); n != 0 {
			t.Errorf("fd turn: %v allocations, want 0", n)
		}
		fde.Free()

		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		fn := func(*Context) {}
		for i := 0; i < 64; i++ { // let the inbox buffers reach their size
			tp.Schedule(fn)
			loopOnce(t, ev)
		}
		if n := testing.AllocsPerRun(1000, func() {
			if err := tp.Schedule(fn); err != nil {
				t.Fatal(err)
			}
			loopOnce(t, ev)
		}); n != 0 {
			t.Errorf("proxy schedule + turn: %v allocations, want 0", n)
		}
		tp.Free()

		th := func(*Context, *Timer, time.Time) {}
		past := time.Now().Add(-time.Second)
		for i := 0; i < 64; i++ { // grow the heap array first
			ev.AddTimer(past, th)
			loopOnce(t, ev)
		}
		if n := testing.AllocsPerRun(1000, func() {
			ev.AddTimer(past, th)
			loopOnce(t, ev)
		}); n != 1 {
			t.Errorf("timer add + fire: %v allocations, want 1 (the handle)", n)
		}
	})
}

// TestFDChurnAllocations pins what the fd_churn row costs: an fd event's
// add, two flag changes and free allocate only the event itself, between
// loop turns (where the changes never reach the kernel) and across them
// (a turn registers the descriptor, Free drops it from the kernel at
// once): telling the kernel allocates nothing.
func TestFDChurnAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		h := func(*Context, *FD, FDFlags) {}
		churn := func(turn bool) {
			fde, err := ev.AddFD(p.fd[0], FDRead, h)
			if err != nil {
				t.Fatal(err)
			}
			fde.SetFlags(FDRead | FDWrite)
			if turn {
				loopOnce(t, ev) // registers it; the socket is writable
			}
			fde.SetFlags(FDRead)
			fde.Free()
		}
		for _, turn := range []bool{false, true} {
			churn(turn) // grows what is reused (fd table, dirty lists)
			if n := testing.AllocsPerRun(1000, func() { churn(turn) }); n != 1 {
				t.Errorf("fd churn (loop turn: %v): %v allocations, want 1 (the event)", turn, n)
			}
		}
	})
}

// sizeClass rounds a small object's size up to the Go allocator's size
// class, which is what allocating it costs.
func sizeClass(n uintptr) uintptr {
	for _, c := range []uintptr{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256} {
		if n <= c {
			return c
		}
	}
	return n
}

// TestEventSizes pins the bytes each kind of event costs on 64-bit
// platforms (its allocator size class), as the README states them: a
// size class crossed by a new field shows up here, not in a benchmark
// months later.
func TestEventSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are stated for 64-bit platforms")
	}
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Timer", unsafe.Sizeof(Timer{}), 48},
		{"FD", unsafe.Sizeof(FD{}), 64},
		{"Immediate", unsafe.Sizeof(Immediate{}), 80},
		{"Signal", unsafe.Sizeof(Signal{}), 64},
		{"ThreadProxy", unsafe.Sizeof(ThreadProxy{}), 32},
		{"Scope", unsafe.Sizeof(Scope{}), 144},
		{"Req[int]", unsafe.Sizeof(Req[int]{}), 80},
		{"request extra", unsafe.Sizeof(reqExtra{}), 208},
		{"timer heap entry", unsafe.Sizeof(heapEntry{}), 24},
	} {
		if c.got = sizeClass(c.got); c.got != c.want {
			t.Errorf("%s is %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}

// TestFDStateSlab pins the slab of fd states to the 4096-byte size class
// it is made for: a state that grows makes the slab cross it (and cost
// 8192 bytes), one that shrinks leaves room for more states.
func TestFDStateSlab(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are stated for 64-bit platforms")
	}
	size := unsafe.Sizeof(fdState{})
	if slab := fdStateSlab * size; slab > 4096 || slab+size <= 4096 {
		t.Errorf("fdStateSlab (%d) states of %d bytes take %d bytes: want the most that fit in 4096", fdStateSlab, size, slab)
	}
}

// TestReqAllocations pins what a request costs: one allocation, the
// request itself, also with a cancel and a cleanup function (typed fields
// of Req, as every stream request sets them); its extra comes only with
// Scope(), an end time, a print function, a queue or Go.
func TestReqAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	ev := newReqTestContext(t)
	cancel := func(*Req[int]) bool { return false }
	cleanups := 0
	cleanup := func(*Req[int], ReqState) { cleanups++ }
	for _, c := range []struct {
		name string
		want float64
		use  func(r *Req[int])
	}{
		{"plain", 1, func(*Req[int]) {}},
		{"cancel and cleanup functions", 1, func(r *Req[int]) {
			r.SetCancelFn(cancel)
			r.SetCleanupFn(cleanup)
		}},
		{"scope", 2, func(r *Req[int]) { r.Scope() }},
	} {
		if n := testing.AllocsPerRun(1000, func() {
			r := NewReq[int](&ev.Scope)
			c.use(r)
			r.Done(1)
			if _, err := r.Result(); err != nil {
				t.Fatal(err)
			}
		}); n != c.want {
			t.Errorf("request with %s: %v allocations, want %v", c.name, n, c.want)
		}
	}
	if cleanups == 0 {
		t.Error("the cleanup function was never called")
	}
}
