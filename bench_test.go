package tevent

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func benchContext(b *testing.B) *Context {
	b.Helper()
	ev, err := New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ev.Free)
	return ev
}

// BenchmarkImmediate: one immediate rescheduling itself, one LoopOnce each.
func BenchmarkImmediate(b *testing.B) {
	ev := benchContext(b)
	im := ev.NewImmediate()
	n := 0
	var h ImmediateHandler
	h = func(ev *Context, im *Immediate) {
		n++
		im.Schedule(h)
	}
	im.Schedule(h)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
	if n != b.N {
		b.Fatalf("ran %d, want %d", n, b.N)
	}
}

// BenchmarkFDDispatch: one always-readable socket, one LoopOnce each.
func BenchmarkFDDispatch(b *testing.B) {
	for _, backend := range Backends() {
		b.Run(backend, func(b *testing.B) {
			ev, err := New(WithBackend(backend))
			if err != nil {
				b.Fatal(err)
			}
			defer ev.Free()
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			unix.Write(fds[1], []byte("x"))
			n := 0
			if _, err := ev.AddFD(fds[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) { n++ }); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := ev.LoopOnce(); err != nil {
					b.Fatal(err)
				}
			}
			if n != b.N {
				b.Fatalf("ran %d, want %d", n, b.N)
			}
		})
	}
}

// BenchmarkTurnChanges: a loop turn that changes k registrations, then
// waits and runs one handler. An always-readable socket's handler toggles
// k idle read events between FDRead and FDRead|FDError (read hang-ups
// too), so every turn hands k changes to the kernel and harvests one fd:
// epoll makes k epoll_ctl calls and an epoll_wait, io_uring one
// io_uring_enter.
func BenchmarkTurnChanges(b *testing.B) {
	for _, backend := range Backends() {
		for _, k := range []int{0, 1, 8, 64} {
			b.Run(fmt.Sprintf("%s/k=%d", backend, k), func(b *testing.B) {
				ev, err := New(WithBackend(backend))
				if err != nil {
					b.Fatal(err)
				}
				defer ev.Free()
				pair := func() [2]int {
					fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
					for _, fd := range fds {
						unix.CloseOnExec(fd)
						if err := unix.SetNonblock(fd, true); err != nil {
							b.Fatal(err)
						}
					}
					return [2]int{fds[0], fds[1]}
				}
				idle := make([]*FD, k)
				for i := range idle {
					if idle[i], err = ev.AddFD(pair()[0], FDRead, func(*Context, *FD, FDFlags) { b.Fatal("an idle fd fired") }); err != nil {
						b.Fatal(err)
					}
				}
				tick := pair()
				unix.Write(tick[1], []byte("x"))
				n := 0
				if _, err := ev.AddFD(tick[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
					n++
					fl = FDRead
					if n&1 != 0 {
						fl |= FDError
					}
					for _, f := range idle {
						f.SetFlags(fl)
					}
				}); err != nil {
					b.Fatal(err)
				}
				if err := ev.LoopOnce(); err != nil { // registrations made
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := processCPU()
				for i := 0; i < b.N; i++ {
					if err := ev.LoopOnce(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
				if n != b.N+1 {
					b.Fatalf("ran %d, want %d", n, b.N+1)
				}
			})
		}
	}
}

// BenchmarkTurnChangesBlocking: BenchmarkTurnChanges in a loop that
// blocks every turn: another goroutine writes the byte the handler reads
// once it has read the handler's reply, so every wait finds nothing ready
// and sleeps (epoll: k epoll_ctl, a look, a blocking epoll_wait).
func BenchmarkTurnChangesBlocking(b *testing.B) {
	for _, backend := range Backends() {
		for _, k := range []int{0, 8} {
			b.Run(fmt.Sprintf("%s/k=%d", backend, k), func(b *testing.B) {
				ev, err := New(WithBackend(backend))
				if err != nil {
					b.Fatal(err)
				}
				defer ev.Free()
				pair := func() [2]int {
					fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
					unix.CloseOnExec(fds[0])
					unix.CloseOnExec(fds[1])
					if err := unix.SetNonblock(fds[0], true); err != nil {
						b.Fatal(err)
					}
					return [2]int{fds[0], fds[1]} // fds[1] stays blocking: the peer goroutine's end
				}
				idle := make([]*FD, k)
				for i := range idle {
					if idle[i], err = ev.AddFD(pair()[0], FDRead, func(*Context, *FD, FDFlags) { b.Fatal("an idle fd fired") }); err != nil {
						b.Fatal(err)
					}
				}
				ping := pair()
				n := 0
				var buf [1]byte
				if _, err := ev.AddFD(ping[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
					unix.Read(ping[0], buf[:])
					n++
					fl = FDRead
					if n&1 != 0 {
						fl |= FDError
					}
					for _, f := range idle {
						f.SetFlags(fl)
					}
					unix.Write(ping[0], buf[:])
				}); err != nil {
					b.Fatal(err)
				}
				total := b.N + 1
				done := make(chan struct{})
				go func() {
					defer close(done)
					var c [1]byte
					for i := 0; i < total; i++ {
						if _, err := unix.Write(ping[1], c[:]); err != nil {
							return
						}
						if _, err := unix.Read(ping[1], c[:]); err != nil {
							return
						}
					}
				}()
				if err := ev.LoopOnce(); err != nil { // registrations made
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := processCPU()
				for n < total {
					if err := ev.LoopOnce(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
				b.StopTimer()
				<-done
			})
		}
	}
}

// processCPU is the CPU time the process has used, in nanoseconds: on a
// machine shared with other work, a steadier figure than wall time.
func processCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// BenchmarkTimerAddFire: add n timers due in the past-to-now range and
// fire them all; reported per timer.
func BenchmarkTimerAddFire(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ev := benchContext(b)
			fired := 0
			h := func(ev *Context, te *Timer, now time.Time) { fired++ }
			rng := uint64(42)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				base := time.Now().Add(-time.Second)
				for j := 0; j < n; j++ {
					rng ^= rng << 13
					rng ^= rng >> 7
					rng ^= rng << 17
					ev.AddTimer(base.Add(time.Duration(rng%uint64(time.Second))), h)
				}
				for fired < (i+1)*n {
					if err := ev.LoopOnce(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/timer")
		})
	}
}

// BenchmarkTimerChurn: free one of 10000 live timers and add another.
func BenchmarkTimerChurn(b *testing.B) {
	ev := benchContext(b)
	h := func(ev *Context, te *Timer, now time.Time) {}
	const live = 10000
	ts := make([]*Timer, live)
	far := time.Now().Add(time.Minute)
	for i := range ts {
		ts[i] = ev.AddTimer(far.Add(time.Duration(i)), h)
	}
	rng := uint64(42)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		k := rng % live
		ts[k].Free()
		ts[k] = ev.AddTimer(far.Add(time.Duration(rng%uint64(time.Second))), h)
	}
}

// BenchmarkFDChurn: add a read event, set read+write, set read, free.
func BenchmarkFDChurn(b *testing.B) {
	ev := benchContext(b)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	h := func(ev *Context, fde *FD, fl FDFlags) {}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := ev.AddFD(fds[0], FDRead, h)
		if err != nil {
			b.Fatal(err)
		}
		f.SetFlags(FDRead | FDWrite)
		f.SetFlags(FDRead)
		f.Free()
	}
}

// BenchmarkProxySchedule: Schedule from another goroutine and run on the
// loop; reported per call. The scheduled func is made once, so any
// allocation is the library's.
func BenchmarkProxySchedule(b *testing.B) {
	ev := benchContext(b)
	tp, err := ev.NewThreadProxy()
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	fn := func(ev *Context) { got++ }
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			if err := tp.Schedule(fn); err != nil {
				panic(err)
			}
		}
		close(done)
	}()
	for got < b.N {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// BenchmarkProxyPingPong: two loops on two goroutines bounce one call.
func BenchmarkProxyPingPong(b *testing.B) {
	ev := benchContext(b)
	tpA, _ := ev.NewThreadProxy()
	type peer struct {
		tp *ThreadProxy
	}
	ready := make(chan *ThreadProxy)
	stop := make(chan struct{})
	finished := make(chan struct{})
	rounds := 0
	var pong func(ev *Context)
	var ping func(ev *Context)
	var tpB *ThreadProxy
	ping = func(evB *Context) { tpA.Schedule(pong) }
	pong = func(ev *Context) {
		rounds++
		if rounds < b.N {
			tpB.Schedule(ping)
		}
	}
	go func() {
		defer close(finished)
		evB, err := New()
		if err != nil {
			panic(err)
		}
		defer evB.Free()
		tp, _ := evB.NewThreadProxy()
		ready <- tp
		evB.LoopUntil(func() bool {
			select {
			case <-stop:
				return true
			default:
				return false
			}
		})
	}()
	tpB = <-ready
	b.ReportAllocs()
	b.ResetTimer()
	tpB.Schedule(ping)
	for rounds < b.N {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	tpB.Schedule(func(*Context) {})
	<-finished
}

// BenchmarkPipes is libevent's pipes benchmark (1000 socketpairs, 100
// active chains): one op is one handled read that writes to the next pair.
func BenchmarkPipes(b *testing.B) {
	const pipes, active = 1000, 100
	ev := benchContext(b)
	fds := make([]int, 2*pipes)
	for i := 0; i < pipes; i++ {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Skip("socketpair:", err)
		}
		fds[2*i], fds[2*i+1] = p[0], p[1]
	}
	defer func() {
		ev.Free()
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	reads := 0
	left := b.N - active
	var buf [1]byte
	for i := 0; i < pipes; i++ {
		rfd, next := fds[2*i], fds[2*((i+1)%pipes)+1]
		ev.AddFD(rfd, FDRead, func(ev *Context, fde *FD, fl FDFlags) {
			unix.Read(rfd, buf[:])
			reads++
			if left > 0 {
				left--
				unix.Write(next, buf[:])
			}
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < active && i < b.N; i++ {
		unix.Write(fds[2*(i*(pipes/active))+1], buf[:])
	}
	for reads < b.N {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
}
