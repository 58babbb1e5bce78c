//go:build linux

// Command tevent-bench runs the benchmark workloads of bench/SPEC.md on
// this library (impl name go-tevent of bench/run.sh loop), the way a
// tevent user writes them: a context from tevent.New() (the default
// backend), events owned by the context, loops driven by LoopOnce until a
// flag says the work is done. Each workload mirrors the C tevent anchor
// (bench/loop/c/tevent_bench.c): the same setup outside the clock, the
// same measured part inside it.
//
// Output is one line per measurement on stdout, and nothing else:
//
//	BENCH <workload> go-tevent <param> ns_per_op=<float> ops=<int>
//
// Notes and failures go to stderr. Every workload checks its own counts; a
// mismatch prints FAIL on stderr and the program exits 1 after the
// remaining workloads ran. A measurement that hangs (a lost wake-up, say)
// is stopped by a watchdog that prints every goroutine's stack and exits 1.
//
// Flags: -w <workload> (repeatable, default all), -quick (a tenth of the
// ops; the printed param stays the SPEC row's) and -backend NAME (one of
// tevent.Backends(); default: the default backend).
//
// How each workload maps:
//
//   - immediate: one Immediate whose handler reschedules it with
//     Schedule, n times.
//   - timer_fire: n timers at now - 1 s + r, added with AddTimer, then
//     LoopUntil all fired (one timer per loop turn); adding and firing are
//     both measured.
//   - timer_churn: 10000 timers 60 s out; an op frees a random one and adds
//     one at now + 60 s + r. No loop turns.
//   - pipes: libevent's classic bench over non-blocking AF_UNIX
//     socketpairs, one read event per pair; each handler reads one byte and,
//     while writes remain, writes one byte to the next pair.
//   - fd_churn: on one socketpair end, AddFD(read), SetFlags(read|write),
//     SetFlags(read), Free. No loop turns.
//   - proxy_fanin: 4 producer goroutines each call ThreadProxy.Schedule
//     250000 times with one func made once; the loop goroutine counts the
//     calls and loops until all arrived.
//   - proxy_pingpong: two goroutines, each creating and driving its own
//     context with a ThreadProxy as its inbox, bounce one message.
//   - req_chain: a Req[int] finished with Done and then Post(ev) inside its
//     send function; its callback takes the value with Result and starts
//     the next request.
//
// Random numbers: xorshift64 (13/7/17) seeded with 42, re-seeded at the
// start of every measurement; r in [0, 1s) is next() % 1e9 nanoseconds.
//
// Each measurement is capped at 60 s of wall time like the C anchors
// (BENCH_CAP_S in the environment overrides it): timer_fire skips a row
// predicted to exceed it and abandons one that does, timer_churn stops at
// the cap and reports the ops it completed.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

const impl = "go-tevent"

var allWorkloads = []string{
	"immediate", "timer_fire", "timer_churn", "pipes", "fd_churn",
	"proxy_fanin", "proxy_pingpong", "req_chain",
}

// ---------------------------------------------------------------------
// Random numbers.
// ---------------------------------------------------------------------

type xorshift64 struct{ x uint64 }

func newRNG() *xorshift64 { return &xorshift64{x: 42} }

func (r *xorshift64) next() uint64 {
	x := r.x
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	r.x = x
	return x
}

// subSecond returns r uniform in [0, 1s).
func (r *xorshift64) subSecond() time.Duration {
	return time.Duration(r.next() % 1_000_000_000)
}

// ---------------------------------------------------------------------
// Flags, output, failures, caps.
// ---------------------------------------------------------------------

type workloadFlag []string

func (w *workloadFlag) String() string { return strings.Join(*w, ",") }

func (w *workloadFlag) Set(v string) error {
	for _, k := range allWorkloads {
		if k == v {
			*w = append(*w, v)
			return nil
		}
	}
	return fmt.Errorf("unknown workload %q (known: %s)", v, strings.Join(allWorkloads, " "))
}

var (
	backend  string // -backend: "" is the default backend
	quick    bool
	selected workloadFlag
	failed   bool
)

func want(w string) bool {
	if len(selected) == 0 {
		return true
	}
	for _, s := range selected {
		if s == w {
			return true
		}
	}
	return false
}

// scaled applies -quick: a tenth of the ops. The printed param stays the
// SPEC row's; for timer_fire, where ops = n, the timer set shrinks too.
func scaled(n int) int {
	if quick {
		return n / 10
	}
	return n
}

func report(workload, param string, elapsed time.Duration, ops int) {
	fmt.Printf("BENCH %s %s %s ns_per_op=%.2f ops=%d\n",
		workload, impl, param, float64(elapsed.Nanoseconds())/float64(ops), ops)
}

// fail records a failed correctness check: say so, keep going, exit 1 at
// the end.
func fail(workload, param, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL %s %s %s: %s\n", workload, impl, param, fmt.Sprintf(format, args...))
	failed = true
}

// die reports a setup that could not be done at all and exits.
func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: fatal: %s\n", impl, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", impl, fmt.Sprintf(format, args...))
}

// benchCap is the wall-clock budget of one measurement: 60 s, or
// BENCH_CAP_S seconds from the environment.
var benchCap = func() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("BENCH_CAP_S")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 60 * time.Second
}()

// watch arms a watchdog for one measurement (setup and cleanup included):
// if it is not stopped within twice the cap plus a minute, the measurement
// is taken to hang; every goroutine's stack goes to stderr and the program
// exits 1. The returned func disarms it.
func watch(workload, param string) (stop func()) {
	limit := 2*benchCap + time.Minute
	watchdogOnce.Do(startWatchdog)
	watched.Store(&watchInfo{workload, param, limit})
	setAlarm(limit)
	return func() { setAlarm(0) }
}

// The watchdog is SIGALRM from setitimer rather than a runtime timer: a
// pending Go timer makes the scheduler read the clock every time a
// goroutine parks, which is a cost the measured loops would then pay
// (about 5% of proxy_pingpong's samples) and the plain-Go anchor does not.
type watchInfo struct {
	workload, param string
	limit           time.Duration
}

var (
	watchdogOnce sync.Once
	watched      atomic.Pointer[watchInfo]
)

func startWatchdog() {
	alarm := make(chan os.Signal, 1)
	signal.Notify(alarm, syscall.SIGALRM)
	go func() {
		<-alarm
		w := watched.Load()
		fmt.Fprintf(os.Stderr, "FAIL %s %s %s: no progress after %v, giving up; goroutines:\n",
			w.workload, impl, w.param, w.limit)
		buf := make([]byte, 1<<22)
		n := runtime.Stack(buf, true)
		os.Stderr.Write(buf[:n])
		os.Exit(1)
	}()
}

// setAlarm arms the process's real-time interval timer to fire once after
// d, or disarms it when d is 0.
func setAlarm(d time.Duration) {
	it := unix.Itimerval{Value: unix.NsecToTimeval(d.Nanoseconds())}
	if _, err := unix.Setitimer(unix.ItimerReal, it); err != nil {
		die("setitimer: %v", err)
	}
}

// newEv creates a context with the default backend, or -backend's.
func newEv() *tevent.Context {
	var opts []tevent.Option
	if backend != "" {
		opts = append(opts, tevent.WithBackend(backend))
	}
	ev, err := tevent.New(opts...)
	if err != nil {
		die("tevent.New: %v", err)
	}
	return ev
}

// settle collects garbage left by earlier measurements, outside the clock.
func settle() { runtime.GC() }

// ---------------------------------------------------------------------
// immediate: one immediate that reschedules itself, n times.
// ---------------------------------------------------------------------

func benchImmediate() {
	const workload, param = "immediate", "n=2000000"
	defer watch(workload, param)()
	n := scaled(2_000_000)
	ev := newEv()
	defer ev.Free()
	im := ev.NewImmediate()

	count, done := 0, false
	var h tevent.ImmediateHandler
	h = func(ev *tevent.Context, im *tevent.Immediate) {
		count++
		if count < n {
			im.Schedule(h)
		} else {
			done = true
		}
	}

	settle()
	start := time.Now()
	im.Schedule(h)
	for !done {
		if err := ev.LoopOnce(); err != nil {
			fail(workload, param, "LoopOnce: %v", err)
			break
		}
	}
	elapsed := time.Since(start)

	if count != n {
		fail(workload, param, "ran %d of %d", count, n)
		return
	}
	report(workload, param, elapsed, n)
}

// ---------------------------------------------------------------------
// timer_fire: n timers with deadlines in the past, loop until all fired.
// ---------------------------------------------------------------------

// predictTotal extrapolates the wall time for n timers from the rows
// measured so far, as the C anchor does: two rows give the growth exponent
// (clamped to [1, 3]); one row assumes O(n^2).
func predictTotal(ns, tot []float64, n float64) float64 {
	rows := len(ns)
	k := 2.0
	if rows >= 2 {
		k = math.Log(tot[rows-1]/tot[rows-2]) / math.Log(ns[rows-1]/ns[rows-2])
		k = min(max(k, 1), 3)
	}
	return tot[rows-1] * math.Pow(n/ns[rows-1], k)
}

func benchTimerFire() {
	const workload = "timer_fire"
	var doneN, doneNs []float64

	for _, row := range []int{1000, 10000, 100000} {
		param := fmt.Sprintf("n=%d", row)
		n := scaled(row)

		if len(doneN) > 0 {
			if p := predictTotal(doneN, doneNs, float64(n)); p > float64(benchCap) {
				note("timer_fire %s skipped: predicted %.0f s (growth from the smaller n) "+
					"exceeds the %v cap; set BENCH_CAP_S to run it", param, p/1e9, benchCap)
				continue
			}
		}

		func() {
			defer watch(workload, param)()
			rng := newRNG()
			ev := newEv()
			defer ev.Free()
			fired := 0
			h := func(ev *tevent.Context, te *tevent.Timer, now time.Time) { fired++ }

			settle()
			start := time.Now()
			now := time.Now()
			added := 0
			for added < n {
				ev.AddTimer(now.Add(-time.Second+rng.subSecond()), h)
				added++
				if added&1023 == 0 && time.Since(start) > benchCap {
					break
				}
			}
			if added == n {
				// One timer per loop turn, as LoopOnce would, without
				// returning to this function in between.
				if err := ev.LoopUntil(func() bool { return fired == n }); err != nil {
					fail(workload, param, "LoopUntil: %v", err)
				}
			}
			elapsed := time.Since(start)

			switch {
			case added < n:
				note("timer_fire %s aborted: only %d of %d timers added within the %v cap",
					param, added, n, benchCap)
			case fired != n:
				fail(workload, param, "fired %d of %d", fired, n)
			default:
				report(workload, param, elapsed, n)
				doneN = append(doneN, float64(n))
				doneNs = append(doneNs, float64(elapsed.Nanoseconds()))
			}
		}()
	}
}

// ---------------------------------------------------------------------
// timer_churn: 10000 live timers 60 s out; free one, add one.
// ---------------------------------------------------------------------

func benchTimerChurn() {
	const workload, param = "timer_churn", "timers=10000,ops=1000000"
	const live = 10000
	defer watch(workload, param)()
	ops := scaled(1_000_000)
	rng := newRNG()
	ev := newEv()
	defer ev.Free()

	fired := 0
	neverFires := func(ev *tevent.Context, te *tevent.Timer, now time.Time) { fired++ }
	timers := make([]*tevent.Timer, live)
	now := time.Now()
	for i := range timers {
		timers[i] = ev.AddTimer(now.Add(60*time.Second+rng.subSecond()), neverFires)
	}

	settle()
	start := time.Now()
	done := 0
	for done < ops {
		idx := rng.next() % live
		off := 60*time.Second + rng.subSecond()
		timers[idx].Free()
		// "now + 60s + r", with the loop's cached clock as the bare epoll
		// and libev anchors use (no loop turns, so it is read once).
		timers[idx] = ev.AddTimer(ev.Now().Add(off), neverFires)
		done++
		if done&1023 == 0 && time.Since(start) > benchCap {
			note("timer_churn %s capped at %v: reporting %d of %d ops", param, benchCap, done, ops)
			break
		}
	}
	elapsed := time.Since(start)

	if fired != 0 {
		fail(workload, param, "%d timers fired unexpectedly", fired)
		return
	}
	report(workload, param, elapsed, done)
}

// ---------------------------------------------------------------------
// pipes: libevent's classic bench.
// ---------------------------------------------------------------------

var pipesParams = []struct {
	pipes, active int
	param         string
}{
	{100, 1, "pipes=100,active=1"},
	{1000, 100, "pipes=1000,active=100"},
	{8000, 100, "pipes=8000,active=100"},
}

const pipesWritesTotal = 100_000

// ensureNofile makes room for n open files: raise the soft limit (and the
// hard limit if allowed), or say on stderr why it can't.
func ensureNofile(param string, n uint64) bool {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		note("pipes %s skipped: getrlimit: %v", param, err)
		return false
	}
	if rl.Cur >= n {
		return true
	}
	up := unix.Rlimit{Cur: n, Max: max(rl.Max, n)}
	err := unix.Setrlimit(unix.RLIMIT_NOFILE, &up)
	if err == nil {
		return true
	}
	if rl.Max >= n {
		rl.Cur = n
		if err = unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
			return true
		}
	}
	note("pipes %s skipped: needs %d open files, RLIMIT_NOFILE hard limit is %d and cannot be raised here (%v)",
		param, n, rl.Max, err)
	return false
}

// makeSocketpairs creates n non-blocking AF_UNIX stream socketpairs.
// fds[2i] is the read end of pipe i (the one watched), fds[2i+1] its
// write end.
func makeSocketpairs(n int) []int {
	fds := make([]int, 0, 2*n)
	for i := 0; i < n; i++ {
		sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			die("socketpair #%d: %v", i, err)
		}
		fds = append(fds, sv[0], sv[1])
	}
	return fds
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func benchPipes() {
	const workload = "pipes"
	total := scaled(pipesWritesTotal)

	for _, pp := range pipesParams {
		if !ensureNofile(pp.param, uint64(2*pp.pipes+64)) {
			continue
		}
		func() {
			defer watch(workload, pp.param)()
			ev := newEv()
			fds := makeSocketpairs(pp.pipes)
			defer closeAll(fds)
			defer ev.Free() // frees the fd events, before the fds close

			// The `active` first writes count towards the total.
			reads, errs := 0, 0
			writesLeft := total - pp.active
			rbuf := make([]byte, 1)
			wbuf := []byte{'e'}

			for i := 0; i < pp.pipes; i++ {
				rfd := fds[2*i]
				nextW := fds[2*((i+1)%pp.pipes)+1]
				h := func(ev *tevent.Context, fde *tevent.FD, flags tevent.FDFlags) {
					if n, err := recv1(rfd, rbuf); n == 1 && err == nil {
						reads++
					} else {
						errs++
					}
					if writesLeft > 0 {
						writesLeft--
						if n, err := send1(nextW, wbuf); n != 1 || err != nil {
							errs++
						}
					}
				}
				if _, err := ev.AddFD(rfd, tevent.FDRead, h); err != nil {
					die("AddFD: %v", err)
				}
			}
			space := pp.pipes / pp.active

			settle()
			start := time.Now()
			for i := 0; i < pp.active; i++ {
				if n, err := send1(fds[2*(i*space)+1], wbuf); n != 1 || err != nil {
					errs++
				}
			}
			for reads+errs < total {
				if err := ev.LoopOnce(); err != nil {
					fail(workload, pp.param, "LoopOnce: %v", err)
					break
				}
			}
			elapsed := time.Since(start)

			if reads != total || writesLeft != 0 || errs != 0 {
				fail(workload, pp.param, "reads=%d (want %d) writes_left=%d errors=%d",
					reads, total, writesLeft, errs)
				return
			}
			report(workload, pp.param, elapsed, reads)
		}()
	}
}

// ---------------------------------------------------------------------
// fd_churn: add read, set read|write, set read, free. No loop turns.
// ---------------------------------------------------------------------

func benchFDChurn() {
	const workload, param = "fd_churn", "n=1000000"
	defer watch(workload, param)()
	n := scaled(1_000_000)
	ev := newEv()
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		die("socketpair: %v", err)
	}
	defer closeAll(sv[:])
	defer ev.Free()

	calls := 0
	h := func(ev *tevent.Context, fde *tevent.FD, flags tevent.FDFlags) { calls++ }
	var addErr error

	settle()
	start := time.Now()
	done := 0
	for done < n {
		fde, err := ev.AddFD(sv[0], tevent.FDRead, h)
		if err != nil {
			addErr = err
			break
		}
		fde.SetFlags(tevent.FDRead | tevent.FDWrite)
		fde.SetFlags(tevent.FDRead)
		fde.Free()
		done++
	}
	elapsed := time.Since(start)

	if done != n || calls != 0 {
		fail(workload, param, "done=%d of %d, handler calls=%d, AddFD error: %v", done, n, calls, addErr)
		return
	}
	report(workload, param, elapsed, n)
}

// ---------------------------------------------------------------------
// proxy_fanin: 4 producer goroutines schedule calls onto one loop.
// ---------------------------------------------------------------------

func benchProxyFanin() {
	const workload, param = "proxy_fanin", "producers=4,msgs=250000"
	const producers = 4
	defer watch(workload, param)()
	perProducer := scaled(250_000)
	total := producers * perProducer
	ev := newEv()
	defer ev.Free()
	tp, err := ev.NewThreadProxy()
	if err != nil {
		die("NewThreadProxy: %v", err)
	}
	defer tp.Free() // before its context

	received := 0 // only touched on the loop goroutine (this one)
	call := func(ev *tevent.Context) { received++ }
	var schedErrs atomic.Int64 // calls that Schedule refused
	var errOnce sync.Once
	var firstErr error // set once, read after the producers are joined
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for i := 0; i < perProducer; i++ {
				if err := tp.Schedule(call); err != nil {
					errOnce.Do(func() { firstErr = err })
					schedErrs.Add(int64(perProducer - i))
					return
				}
			}
		}()
	}

	settle()
	start := time.Now()
	close(gate)
	for received+int(schedErrs.Load()) < total {
		if err := ev.LoopOnce(); err != nil {
			fail(workload, param, "LoopOnce: %v", err)
			break
		}
	}
	elapsed := time.Since(start)
	wg.Wait()

	if received != total || schedErrs.Load() != 0 {
		fail(workload, param, "received %d of %d (Schedule refused %d, first error: %v)",
			received, total, schedErrs.Load(), firstErr)
		return
	}
	report(workload, param, elapsed, total)
}

// ---------------------------------------------------------------------
// proxy_pingpong: two goroutines, each with its own context, bounce one
// message through thread proxies.
// ---------------------------------------------------------------------

// ppSide is one goroutine's state. inbox is written before the ready
// barrier and only read by the peer after it; everything else is touched
// only by the side's own goroutine until both are joined.
type ppSide struct {
	ev         *tevent.Context
	inbox      *tevent.ThreadProxy // delivers to ev
	count      int
	done       bool
	err        error
	start, end time.Time
}

func benchProxyPingpong() {
	const workload, param = "proxy_pingpong", "n=100000"
	defer watch(workload, param)()
	n := scaled(100_000)

	var a, b ppSide
	var ready, finished, joined sync.WaitGroup
	ready.Add(2)
	finished.Add(2)
	joined.Add(2)

	// The two handlers are made once and passed to Schedule every time.
	var onPing, onPong func(ev *tevent.Context)
	// Runs on B's goroutine.
	onPing = func(ev *tevent.Context) {
		b.count++
		if err := a.inbox.Schedule(onPong); err != nil {
			b.err = err
			b.done = true
			return
		}
		if b.count == n {
			b.done = true
		}
	}
	// Runs on A's goroutine: one round trip completed.
	onPong = func(ev *tevent.Context) {
		a.count++
		if a.count < n {
			if err := b.inbox.Schedule(onPing); err != nil {
				a.err = err
				a.done = true
			}
		} else {
			a.done = true
		}
	}

	side := func(me *ppSide, isA bool) {
		defer joined.Done()
		// Each goroutine creates and drives its own context.
		me.ev = newEv()
		tp, err := me.ev.NewThreadProxy()
		if err != nil {
			die("NewThreadProxy: %v", err)
		}
		me.inbox = tp
		ready.Done()
		ready.Wait()

		if isA {
			settle()
			me.start = time.Now()
			if err := b.inbox.Schedule(onPing); err != nil {
				me.err = err
				me.done = true
			}
		}
		for !me.done {
			if err := me.ev.LoopOnce(); err != nil {
				me.err = fmt.Errorf("LoopOnce: %w", err)
				break
			}
		}
		if isA {
			me.end = time.Now()
		}

		// The peer holds our proxy: free only once both stopped.
		finished.Done()
		finished.Wait()
		me.inbox.Free()
		me.ev.Free()
	}
	go side(&a, true)
	go side(&b, false)
	joined.Wait()

	if a.count != n || b.count != n || a.err != nil || b.err != nil {
		fail(workload, param, "a=%d b=%d want %d (a error: %v, b error: %v)", a.count, b.count, n, a.err, b.err)
		return
	}
	report(workload, param, a.end.Sub(a.start), n)
}

// ---------------------------------------------------------------------
// req_chain: a request completed via Post; its callback receives it and
// starts the next one.
// ---------------------------------------------------------------------

// noopSend is a send function that finishes at once, which is what Post
// exists for: the completion is delivered later, on the loop, after the
// caller has set its callback.
func noopSend(s *tevent.Scope, ev *tevent.Context, value int) *tevent.Req[int] {
	req := tevent.NewReq[int](s)
	req.Done(value)
	return req.Post(ev)
}

type chainState struct {
	ev             *tevent.Context
	count, n, errs int
	done           bool
	lastErr        error
	onDone         func(r *tevent.Req[int])
}

func benchReqChain() {
	const workload, param = "req_chain", "n=1000000"
	defer watch(workload, param)()
	cs := &chainState{n: scaled(1_000_000), ev: newEv()}
	defer cs.ev.Free()

	start := func() {
		req := noopSend(&cs.ev.Scope, cs.ev, cs.count)
		req.SetCallback(cs.onDone)
	}
	cs.onDone = func(r *tevent.Req[int]) {
		v, err := r.Result()
		if err != nil || v != cs.count {
			cs.errs++
			cs.lastErr = fmt.Errorf("request %d: got %d, %v", cs.count, v, err)
		}
		r.Free() // already received; as the C anchor's TALLOC_FREE(req)
		cs.count++
		if cs.count < cs.n {
			start()
		} else {
			cs.done = true
		}
	}

	settle()
	t0 := time.Now()
	start()
	for !cs.done {
		if err := cs.ev.LoopOnce(); err != nil {
			fail(workload, param, "LoopOnce: %v", err)
			break
		}
	}
	elapsed := time.Since(t0)

	if cs.count != cs.n || cs.errs != 0 {
		fail(workload, param, "completed %d of %d, errors=%d (last: %v)", cs.count, cs.n, cs.errs, cs.lastErr)
		return
	}
	report(workload, param, elapsed, cs.n)
}

func main() {
	flag.BoolVar(&quick, "quick", false, "run a tenth of the ops")
	flag.StringVar(&backend, "backend", "", "backend `name` (default: the default backend): "+strings.Join(tevent.Backends(), " "))
	flag.Var(&selected, "w", "workload to run (repeatable, default all): "+strings.Join(allWorkloads, " "))
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tevent-bench:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "tevent-bench:", err)
			os.Exit(2)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

	if want("immediate") {
		benchImmediate()
	}
	if want("timer_fire") {
		benchTimerFire()
	}
	if want("timer_churn") {
		benchTimerChurn()
	}
	if want("pipes") {
		benchPipes()
	}
	if want("fd_churn") {
		benchFDChurn()
	}
	if want("proxy_fanin") {
		benchProxyFanin()
	}
	if want("proxy_pingpong") {
		benchProxyPingpong()
	}
	if want("req_chain") {
		benchReqChain()
	}
	if failed {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// recv1 and send1 are recv(2) and send(2) with no flags, as the C anchors
// use: unlike read(2) and write(2) they skip the file-position lock.
// (unix.Recvfrom would allocate the peer's address on every call.) The
// sockets are non-blocking, so the calls never block: they are made as
// raw system calls, without the scheduler's entersyscall and exitsyscall,
// as the library's own reads and writes are (internal/sockets).
func recv1(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

func send1(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}
