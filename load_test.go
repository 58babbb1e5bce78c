//go:build linux

package tevent

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Load tests: the sizes without -short, a tenth with it. Counts
// are checked exactly, except for signals, which os/signal coalesces.

// loadSize returns full, or full/10 under -short.
func loadSize(full int) int {
	if testing.Short() {
		return full / 10
	}
	return full
}

// needFDs makes sure the process may open n more descriptors, raising the
// soft RLIMIT_NOFILE up to the hard limit if needed, and skips the test
// if the hard limit is too low.
func needFDs(t *testing.T, n int) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	open := openFDCount(t)
	if open < 0 {
		open = 64
	}
	want := uint64(open + n + 64)
	if lim.Cur >= want {
		return
	}
	if lim.Max < want {
		t.Skipf("needs %d descriptors; RLIMIT_NOFILE hard limit is %d (raise it with ulimit -Hn)", want, lim.Max)
	}
	old := lim
	lim.Cur = want
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("needs %d descriptors; raising RLIMIT_NOFILE to %d: %v", want, want, err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
}

// TestLoadFDEvents registers 10,000 fd events (one eventfd each) on every
// backend, makes them all ready at once, and checks that each handler runs
// exactly once per readiness; in a second round each frees its event, and
// LoopWait then returns because nothing is left.
func TestLoadFDEvents(t *testing.T) {
	n := loadSize(10000)
	needFDs(t, n)
	forEachBackend(t, func(t *testing.T, ev *Context) {
		fds := make([]int, n)
		for i := range fds {
			fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				for _, fd := range fds[:i] {
					unix.Close(fd)
				}
				t.Fatalf("eventfd %d: %v", i, err)
			}
			fds[i] = fd
		}
		calls := make([]int, n)
		total, round := 0, 1
		var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}
		for i, fd := range fds {
			fde, err := ev.AddFD(fd, FDRead, func(_ *Context, fde *FD, fl FDFlags) {
				var b [8]byte
				if _, err := unix.Read(fde.Fd(), b[:]); err != nil {
					t.Errorf("fd event %d: read: %v (stale readiness)", i, err)
				}
				calls[i]++
				total++
				if calls[i] > round {
					t.Errorf("fd event %d ran %d times in round %d", i, calls[i], round)
				}
				if round == 2 {
					fde.Free()
				}
			})
			if err != nil {
				for _, fd := range fds[i:] {
					unix.Close(fd)
				}
				t.Fatalf("AddFD %d: %v", i, err)
			}
			fde.SetAutoClose()
		}
		ready := func() {
			for i, fd := range fds {
				if _, err := unix.Write(fd, one); err != nil {
					t.Fatalf("write eventfd %d: %v", i, err)
				}
			}
		}
		ready()
		driveUntil(t, ev, func() bool { return total == n })
		round = 2
		ready()
		driveUntil(t, ev, func() bool { return total == 2*n })
		for i, c := range calls {
			if c != 2 {
				t.Fatalf("fd event %d ran %d times, want 2", i, c)
			}
		}
		if ev.loop.nFDEvents != 0 {
			t.Errorf("%d fd events left after all freed themselves", ev.loop.nFDEvents)
		}
		if err := ev.LoopWait(); err != nil {
			t.Errorf("LoopWait with nothing left: %v", err)
		}
	})
}

// TestLoadTimers adds 100,000 timers with deadlines over a few
// milliseconds (many equal), updates some, frees some before they fire and
// some from other timers' handlers, and checks that exactly the live ones
// fire, once each, in deadline order and, for equal deadlines, in the
// order they were added or last updated.
func TestLoadTimers(t *testing.T) {
	n := loadSize(100000)
	// Timers do not touch the backend: the default one will do.
	withBackend(t, Backends()[0], func(t *testing.T, ev *Context) {
		type tinfo struct {
			off  int // deadline, in 10µs steps after base
			seq  int // order added or last updated
			gone bool
		}
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		base := time.Now().Add(time.Millisecond)
		info := make([]tinfo, n)
		timers := make([]*Timer, n)
		var fired []int
		seq := 0
		late := 0
		for i := range n {
			off := rng.IntN(300)
			info[i] = tinfo{off: off, seq: seq}
			seq++
			at := base.Add(time.Duration(off) * 10 * time.Microsecond)
			timers[i] = ev.AddTimer(at, func(_ *Context, te *Timer, now time.Time) {
				if now.Before(at) {
					late++
				}
				fired = append(fired, i)
				if i%1000 == 0 && i+1 < n {
					timers[i+1].Free() // a no-op if it fired already
				}
			})
		}
		for i := 0; i < n; i += 7 {
			off := rng.IntN(300)
			info[i].off, info[i].seq = off, seq
			seq++
			timers[i].Update(base.Add(time.Duration(off) * 10 * time.Microsecond))
		}
		for i := 3; i < n; i += 10 {
			info[i].gone = true
			timers[i].Free()
		}
		// The expected firing order, simulated.
		order := make([]int, 0, n)
		for i := range n {
			if !info[i].gone {
				order = append(order, i)
			}
		}
		slices.SortFunc(order, func(a, b int) int {
			if info[a].off != info[b].off {
				return info[a].off - info[b].off
			}
			return info[a].seq - info[b].seq
		})
		var want []int
		done := make([]bool, n)
		for _, i := range order {
			if info[i].gone {
				continue
			}
			want = append(want, i)
			done[i] = true
			if i%1000 == 0 && i+1 < n && !done[i+1] {
				info[i+1].gone = true
			}
		}
		driveUntil(t, ev, func() bool { return len(fired) >= len(want) })
		if late != 0 {
			t.Errorf("%d timers fired before their deadline", late)
		}
		if len(fired) != len(want) {
			t.Fatalf("%d timers fired, want %d", len(fired), len(want))
		}
		for k := range want {
			if fired[k] != want[k] {
				t.Fatalf("firing %d: timer %d (deadline %d, seq %d), want timer %d (deadline %d, seq %d)",
					k, fired[k], info[fired[k]].off, info[fired[k]].seq, want[k], info[want[k]].off, info[want[k]].seq)
			}
		}
		if err := ev.LoopWait(); err != nil {
			t.Errorf("LoopWait with no timers left: %v", err)
		}
		if len(fired) != len(want) {
			t.Errorf("timers fired after all were done: %d", len(fired)-len(want))
		}
	})
}

// ringNode is one of the contexts of TestLoadContextsProxies. Its fields
// are touched only by the goroutine driving its context.
type ringNode struct {
	idx     int
	ev      *Context
	in      *ThreadProxy // proxy into this node's context
	loopG   int64
	sendSeq int
	expect  int
	recv    int
	stop    bool
}

type ringMsg struct {
	from, seq, hops int
}

// TestLoadContextsProxies runs 1,000 contexts (backends taking turns) on
// 1,000 goroutines in a ring: each injects messages that travel a number
// of hops through the proxies of the next contexts. Every call must run on
// the receiving context's goroutine, in the order its sender made them,
// and every context must receive exactly its share.
func TestLoadContextsProxies(t *testing.T) {
	n, k, hops := loadSize(1000), 10, 10
	needFDs(t, 2*n)
	expectNoFDLeak(t)
	backends := Backends()
	nodes := make([]*ringNode, n)
	for i := range nodes {
		ev, err := New(WithBackend(backends[i%len(backends)]))
		if err != nil {
			for _, nd := range nodes[:i] {
				nd.ev.Free()
			}
			t.Fatalf("context %d: %v", i, err)
		}
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatalf("proxy %d: %v", i, err)
		}
		nodes[i] = &ringNode{idx: i, ev: ev, in: tp}
	}
	total := int64(n * k)
	var finished atomic.Int64
	allDone := make(chan struct{})
	var onMsg func(nd *ringNode, m ringMsg)
	send := func(nd *ringNode, hops int) {
		m := ringMsg{from: nd.idx, seq: nd.sendSeq, hops: hops}
		nd.sendSeq++
		next := nodes[(nd.idx+1)%n]
		if err := next.in.Schedule(func(*Context) { onMsg(next, m) }); err != nil {
			t.Errorf("node %d: Schedule: %v", nd.idx, err)
		}
	}
	onMsg = func(nd *ringNode, m ringMsg) {
		if nd.recv%16 == 0 && goid() != nd.loopG {
			t.Errorf("node %d: call ran off its loop goroutine", nd.idx)
		}
		if pred := (nd.idx + n - 1) % n; m.from != pred || m.seq != nd.expect {
			t.Errorf("node %d: got message %d from %d, want %d from %d", nd.idx, m.seq, m.from, nd.expect, pred)
		}
		nd.expect = m.seq + 1
		nd.recv++
		if m.hops == 0 {
			if finished.Add(1) == total {
				close(allDone)
			}
			return
		}
		send(nd, m.hops-1)
	}
	var wg sync.WaitGroup
	for _, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer nd.ev.Free()
			nd.loopG = goid()
			for range k {
				send(nd, hops)
			}
			if err := nd.ev.LoopUntil(func() bool { return nd.stop }); err != nil {
				t.Errorf("node %d: LoopUntil: %v", nd.idx, err)
			}
		}()
	}
	select {
	case <-allDone:
	case <-time.After(4 * testTimeout):
		t.Errorf("only %d of %d messages arrived", finished.Load(), total)
	}
	for _, nd := range nodes {
		if err := nd.in.Schedule(func(*Context) { nd.stop = true }); err != nil {
			t.Errorf("node %d: stop: %v", nd.idx, err)
		}
	}
	wg.Wait()
	for _, nd := range nodes {
		if want := k * (hops + 1); nd.recv != want || nd.sendSeq != want {
			t.Errorf("node %d received %d and sent %d messages, want %d each", nd.idx, nd.recv, nd.sendSeq, want)
		}
	}
	sum := 0
	for _, nd := range nodes {
		sum += nd.recv
	}
	t.Logf("%d contexts passed %d proxy calls", n, sum)
	if err := nodes[0].in.Schedule(func(*Context) {}); !errors.Is(err, ErrProxyFreed) {
		t.Errorf("Schedule after the context was freed: %v, want ErrProxyFreed", err)
	}
}

// TestLoadSignals sends SIGUSR1 to the process as fast as it can while two
// contexts loop, one of them also busy with immediates and an fd ping.
// Each handler runs on its loop's goroutine; os/signal coalesces bursts,
// so each context counts between 1 and the number sent, and two events for
// the signal on one context see the same counts.
func TestLoadSignals(t *testing.T) {
	sent := loadSize(5000)
	forEachBackend(t, func(t *testing.T, ev *Context) {
		loopG := goid()
		total, total2, calls := 0, 0, 0
		se, err := ev.AddSignal(syscall.SIGUSR1, 0, func(_ *Context, _ *Signal, sig syscall.Signal, count int, _ *SigInfo) {
			if goid() != loopG {
				t.Error("signal handler ran off the loop goroutine")
			}
			if sig != syscall.SIGUSR1 || count < 1 {
				t.Errorf("handler got %v count %d", sig, count)
			}
			calls++
			total += count
		})
		if err != nil {
			t.Fatal(err)
		}
		se2, err := ev.AddSignal(syscall.SIGUSR1, 0, func(_ *Context, _ *Signal, _ syscall.Signal, count int, _ *SigInfo) {
			total2 += count
		})
		if err != nil {
			t.Fatal(err)
		}
		// A second context on its own goroutine sees the same signals.
		other, err := New()
		if err != nil {
			t.Fatal(err)
		}
		otherReady := make(chan struct{})
		var otherTotal atomic.Int64
		otherStop, err := other.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		otherDone := make(chan struct{})
		go func() {
			defer close(otherDone)
			defer other.Free()
			og := goid()
			if _, err := other.AddSignal(syscall.SIGUSR1, 0, func(_ *Context, _ *Signal, _ syscall.Signal, count int, _ *SigInfo) {
				if goid() != og {
					t.Error("signal handler ran off the other loop's goroutine")
				}
				otherTotal.Add(int64(count))
			}); err != nil {
				t.Error(err)
			}
			close(otherReady)
			// Runs until a proxy call frees the context.
			if err := other.LoopUntil(func() bool { return false }); err != nil {
				t.Errorf("other LoopUntil: %v", err)
			}
		}()
		<-otherReady
		// Busy work on the loop meanwhile.
		im := ev.NewImmediate()
		steps := 0
		var step ImmediateHandler
		step = func(_ *Context, im *Immediate) {
			steps++
			if steps < sent {
				im.Schedule(step)
			}
		}
		im.Schedule(step)
		p := newSockPair(t)
		pings := 0
		fde, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, fde *FD, _ FDFlags) {
			var b [8]byte
			if n, err := unix.Read(fde.Fd(), b[:]); n != 1 || err != nil {
				t.Errorf("ping: n=%d err=%v", n, err)
			}
			pings++
			if pings < 500 {
				writeBytes(t, p.fd[1], "p")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		writeBytes(t, p.fd[1], "p")
		// The sender tells the loop it is done through a proxy, which
		// also wakes it.
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		killsDone := false
		kills := make(chan struct{})
		go func() {
			defer close(kills)
			defer tp.Schedule(func(*Context) { killsDone = true })
			pid := unix.Getpid()
			for range sent {
				if err := unix.Kill(pid, syscall.SIGUSR1); err != nil {
					t.Errorf("kill: %v", err)
					return
				}
			}
		}()
		driveUntil(t, ev, func() bool { return killsDone && steps == sent && pings == 500 && total > 0 })
		waitChan(t, "signal sender", kills)
		tp.Free()
		spinUntil(t, "the other context to see the signal", func() bool { return otherTotal.Load() > 0 })
		if err := otherStop.Schedule(func(ev *Context) { ev.Free() }); err != nil {
			t.Fatal(err)
		}
		waitChan(t, "other loop", otherDone)
		if total < 1 || total > sent {
			t.Errorf("counted %d signals, sent %d", total, sent)
		}
		if calls > total {
			t.Errorf("%d handler calls for %d signals", calls, total)
		}
		if total2 != total {
			t.Errorf("two events for one signal counted %d and %d", total, total2)
		}
		if o := otherTotal.Load(); o < 1 || o > int64(sent) {
			t.Errorf("other context counted %d signals, sent %d", o, sent)
		}
		t.Logf("%d signals sent, %d counted in %d handler calls", sent, total, calls)

		// Paced, on SIGUSR2 (no burst of it can still be in flight): each
		// signal is sent once the previous one was counted, so none can
		// coalesce and the count is exact, on both events for it.
		paced := loadSize(1000)
		ack := make(chan int, paced)
		p1, p2, pcalls := 0, 0, 0
		pe1, err := ev.AddSignal(syscall.SIGUSR2, 0, func(_ *Context, _ *Signal, _ syscall.Signal, count int, _ *SigInfo) {
			if goid() != loopG {
				t.Error("signal handler ran off the loop goroutine")
			}
			p1 += count
			pcalls++
			ack <- count
		})
		if err != nil {
			t.Fatal(err)
		}
		pe2, err := ev.AddSignal(syscall.SIGUSR2, 0, func(_ *Context, _ *Signal, _ syscall.Signal, count int, _ *SigInfo) {
			p2 += count
		})
		if err != nil {
			t.Fatal(err)
		}
		pacer := make(chan struct{})
		go func() {
			defer close(pacer)
			pid := unix.Getpid()
			for i := range paced {
				if err := unix.Kill(pid, syscall.SIGUSR2); err != nil {
					t.Errorf("kill: %v", err)
					return
				}
				select {
				case <-ack:
				case <-time.After(testTimeout):
					t.Errorf("paced signal %d not counted", i)
					return
				}
			}
		}()
		driveUntil(t, ev, func() bool { return p1 >= paced })
		waitChan(t, "paced sender", pacer)
		if p1 != paced || pcalls != paced || p2 != paced {
			t.Errorf("paced: %d signals counted in %d calls (second event: %d), want %d in %d", p1, pcalls, p2, paced, paced)
		}
		if total < 1 || total > sent || total2 != total {
			t.Errorf("after the paced phase: burst counted %d and %d, sent %d", total, total2, sent)
		}
		pe1.Free()
		pe2.Free()
		se.Free()
		se2.Free()
		fde.Free()
	})
}
