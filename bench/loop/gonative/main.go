// Command gonative runs the bench/SPEC.md workloads the way a Go programmer
// writes them without an event library: goroutines, channels,
// time.AfterFunc, and blocking reads that park in the runtime's netpoller.
// It is the "plain Go" anchor (impl name go-native) of bench/run.sh loop.
//
// Output is one BENCH line per measurement on stdout (see bench/SPEC.md);
// notes and failures go to stderr, and any failed check exits 1.
//
// How each workload maps, and why:
//
//   - immediate: a `chan func()` (capacity 1024) drained by one goroutine,
//     the "loop"; the func re-sends itself. A channel is how Go code hands
//     work to the goroutine that owns some state, from that goroutine or any
//     other. The alternative, a for-loop popping funcs off a slice, needs no
//     Go at all: it is the C floor's FIFO (c-epoll), so it would tell us
//     nothing about Go.
//   - timer_fire: time.AfterFunc with a negative duration (-1 s + r); each
//     callback runs on its own goroutine and is counted with a WaitGroup.
//   - timer_churn: Stop() a random *time.Timer, then time.AfterFunc(60 s + r).
//   - pipes: one goroutine per socketpair read end, reading one byte at a
//     time from an *os.File made by os.NewFile on a non-blocking fd, so a
//     Read with no data parks the goroutine in the netpoller. Handlers run
//     in parallel (GOMAXPROCS), so the remaining-writes budget is atomic.
//   - fd_churn: skipped. Go has no readiness registration to churn: the
//     netpoller registers an fd once, edge-triggered for read and write,
//     when the *os.File is created, and there is no flags change.
//   - proxy_fanin: 4 goroutines send a func on one buffered channel
//     (capacity 1024); the consuming goroutine (the "loop") calls them.
//   - proxy_pingpong: two goroutines bounce a func over two unbuffered
//     channels.
//   - req_chain: a callback-style request (the shape of tevent_req): the
//     send function completes it at once and "posts" the completion as a
//     func on the loop channel, so the callback runs on the loop goroutine
//     after the caller set it, with no goroutine per request. The callback
//     receives the result and starts the next request.
//
// Random numbers: xorshift64 (13/7/17) seeded with 42, re-seeded at the
// start of each measurement; r in [0, 1s) is next() % 1e9 nanoseconds.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const impl = "go-native"

// capTime bounds any single wait so a lost event fails instead of hanging.
const capTime = 60 * time.Second

var allWorkloads = []string{
	"immediate", "timer_fire", "timer_churn", "pipes", "fd_churn",
	"proxy_fanin", "proxy_pingpong", "req_chain",
}

// ---------------------------------------------------------------------
// Random numbers, flags, output.
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

func fail(workload, param, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL %s %s %s: %s\n", workload, impl, param, fmt.Sprintf(format, args...))
	failed = true
}

func note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", impl, fmt.Sprintf(format, args...))
}

// waitFor waits for ch to close, at most capTime.
func waitFor(ch <-chan struct{}) bool {
	t := time.NewTimer(capTime)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// ---------------------------------------------------------------------
// immediate
// ---------------------------------------------------------------------

func benchImmediate() {
	const param = "n=2000000"
	n := scaled(2_000_000)

	loop := make(chan func(), 1024)
	stopped := make(chan struct{})
	go func() { // the loop goroutine
		for f := range loop {
			f()
		}
		close(stopped)
	}()

	count := 0 // touched only on the loop goroutine until done is closed
	done := make(chan struct{})
	var step func()
	step = func() {
		count++
		if count < n {
			loop <- step
		} else {
			close(done)
		}
	}

	start := time.Now()
	loop <- step
	ok := waitFor(done)
	elapsed := time.Since(start)

	if !ok {
		fail("immediate", param, "timed out")
		return // the loop goroutine is wedged; leave it
	}
	close(loop)
	<-stopped
	if count != n {
		fail("immediate", param, "ran %d of %d", count, n)
		return
	}
	report("immediate", param, elapsed, n)
}

// ---------------------------------------------------------------------
// timer_fire and timer_churn
// ---------------------------------------------------------------------

func benchTimerFire() {
	for _, row := range []int{1000, 10000, 100000} {
		param := fmt.Sprintf("n=%d", row)
		n := scaled(row)
		rng := newRNG()

		var fired atomic.Int64
		var wg sync.WaitGroup
		wg.Add(n)
		f := func() {
			fired.Add(1)
			wg.Done()
		}
		all := make(chan struct{})

		start := time.Now()
		for i := 0; i < n; i++ {
			time.AfterFunc(-time.Second+rng.subSecond(), f)
		}
		go func() { wg.Wait(); close(all) }()
		ok := waitFor(all)
		elapsed := time.Since(start)

		if got := fired.Load(); !ok || got != int64(n) {
			fail("timer_fire", param, "fired %d of %d", got, n)
			continue
		}
		report("timer_fire", param, elapsed, n)
	}
}

func benchTimerChurn() {
	const param = "timers=10000,ops=1000000"
	const live = 10000
	ops := scaled(1_000_000)
	rng := newRNG()

	var fired atomic.Int64
	f := func() { fired.Add(1) }
	timers := make([]*time.Timer, live)
	for i := range timers {
		timers[i] = time.AfterFunc(60*time.Second+rng.subSecond(), f)
	}

	notLive := 0
	start := time.Now()
	for i := 0; i < ops; i++ {
		idx := rng.next() % live
		d := 60*time.Second + rng.subSecond()
		if !timers[idx].Stop() {
			notLive++
		}
		timers[idx] = time.AfterFunc(d, f)
	}
	elapsed := time.Since(start)

	for _, t := range timers {
		if !t.Stop() {
			notLive++
		}
	}
	if notLive != 0 || fired.Load() != 0 {
		fail("timer_churn", param, "%d timers were not live, %d fired", notLive, fired.Load())
		return
	}
	report("timer_churn", param, elapsed, ops)
}

// ---------------------------------------------------------------------
// pipes
// ---------------------------------------------------------------------

var pipesParams = []struct {
	pipes, active int
	param         string
}{
	{100, 1, "pipes=100,active=1"},
	{1000, 100, "pipes=1000,active=100"},
	{8000, 100, "pipes=8000,active=100"},
}

// ensureNofile makes room for n open files, or says why it can't.
func ensureNofile(param string, n uint64) bool {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return false
	}
	if rl.Cur >= n {
		return true
	}
	up := syscall.Rlimit{Cur: n, Max: max(rl.Max, n)}
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up)
	if err == nil {
		return true
	}
	if rl.Max >= n {
		rl.Cur = n
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
			return true
		}
	}
	note("pipes %s skipped: needs %d open files, RLIMIT_NOFILE hard limit is %d and cannot be raised here (%v)",
		param, n, rl.Max, err)
	return false
}

func benchPipes() {
	total := scaled(100_000)
	one := []byte{'e'}

	for _, pp := range pipesParams {
		if !ensureNofile(pp.param, uint64(2*pp.pipes+64)) {
			continue
		}
		rd := make([]*os.File, pp.pipes)
		wr := make([]*os.File, pp.pipes)
		for i := range rd {
			fds, err := syscall.Socketpair(syscall.AF_UNIX,
				syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: fatal: socketpair: %v\n", impl, err)
				os.Exit(1)
			}
			// Non-blocking fds make os.NewFile return netpoller-backed files.
			rd[i] = os.NewFile(uintptr(fds[0]), "pipe-r")
			wr[i] = os.NewFile(uintptr(fds[1]), "pipe-w")
		}

		var reads, writes, errs atomic.Int64
		var budget atomic.Int64 // writes still allowed after the first `active`
		budget.Store(int64(total - pp.active))
		done := make(chan struct{})
		var readers sync.WaitGroup

		for i := 0; i < pp.pipes; i++ {
			readers.Add(1)
			go func(r, next *os.File) {
				defer readers.Done()
				buf := make([]byte, 1)
				for {
					n, err := r.Read(buf)
					if err != nil {
						if !errors.Is(err, os.ErrClosed) {
							errs.Add(1)
						}
						return
					}
					if n != 1 {
						errs.Add(1)
					}
					if budget.Add(-1) >= 0 {
						if _, err := next.Write(one); err != nil {
							errs.Add(1)
						} else {
							writes.Add(1)
						}
					}
					if reads.Add(1) == int64(total) {
						close(done)
					}
				}
			}(rd[i], wr[(i+1)%pp.pipes])
		}

		space := pp.pipes / pp.active
		start := time.Now()
		for i := 0; i < pp.active; i++ {
			if _, err := wr[i*space].Write(one); err != nil {
				errs.Add(1)
			} else {
				writes.Add(1)
			}
		}
		ok := waitFor(done)
		elapsed := time.Since(start)

		for _, f := range rd {
			f.Close() // wakes the parked readers with os.ErrClosed
		}
		readers.Wait()
		for _, f := range wr {
			f.Close()
		}

		if !ok || reads.Load() != int64(total) || writes.Load() != int64(total) || errs.Load() != 0 {
			fail("pipes", pp.param, "reads=%d writes=%d (want %d) errors=%d",
				reads.Load(), writes.Load(), total, errs.Load())
			continue
		}
		report("pipes", pp.param, elapsed, total)
	}
}

// ---------------------------------------------------------------------
// proxy_fanin and proxy_pingpong
// ---------------------------------------------------------------------

func benchProxyFanin() {
	const param = "producers=4,msgs=250000"
	const producers = 4
	msgs := scaled(250_000)
	total := producers * msgs

	calls := make(chan func(), 1024)
	received := 0 // only the consumer (this goroutine) touches it
	call := func() { received++ }
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for i := 0; i < msgs; i++ {
				calls <- call
			}
		}()
	}

	start := time.Now()
	close(gate)
	for received < total {
		f := <-calls
		f()
	}
	elapsed := time.Since(start)
	wg.Wait()

	if received != total || len(calls) != 0 {
		fail("proxy_fanin", param, "received %d of %d (%d extra queued)", received, total, len(calls))
		return
	}
	report("proxy_fanin", param, elapsed, total)
}

func benchProxyPingpong() {
	const param = "n=100000"
	n := scaled(100_000)

	ping := make(chan func()) // A -> B
	pong := make(chan func()) // B -> A
	pings, pongs := 0, 0      // each touched by one goroutine only
	onPing := func() { pings++ }
	onPong := func() { pongs++ }
	bDone := make(chan struct{})

	go func() { // goroutine B
		for f := range ping {
			f()
			pong <- onPong
		}
		close(bDone)
	}()

	// This goroutine is A.
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- onPing
		f := <-pong
		f()
	}
	elapsed := time.Since(start)
	close(ping)
	<-bDone

	if pings != n || pongs != n {
		fail("proxy_pingpong", param, "pings=%d pongs=%d want %d", pings, pongs, n)
		return
	}
	report("proxy_pingpong", param, elapsed, n)
}

// ---------------------------------------------------------------------
// req_chain
// ---------------------------------------------------------------------

// request is a minimal callback-style async request.
type request struct {
	value    uint64
	finished bool
	received bool
	callback func(*request)
}

// noopSend starts a request that finishes at once. Like tevent_req_post,
// it delivers the completion later, on the loop, so the caller can set the
// callback after noopSend returns.
func noopSend(loop chan<- func(), value uint64) *request {
	r := &request{value: value, finished: true}
	loop <- func() { r.callback(r) }
	return r
}

// result is the _recv step: the value once, then the request is done with.
func (r *request) result() (uint64, error) {
	if !r.finished || r.received {
		return 0, errors.New("request not finished or already received")
	}
	r.received = true
	return r.value, nil
}

func benchReqChain() {
	const param = "n=1000000"
	n := uint64(scaled(1_000_000))

	loop := make(chan func(), 1024)
	stopped := make(chan struct{})
	go func() {
		for f := range loop {
			f()
		}
		close(stopped)
	}()

	var count, errCount uint64 // loop goroutine only, until done closes
	done := make(chan struct{})
	var startNext func()
	onDone := func(r *request) {
		v, err := r.result()
		if err != nil || v != count {
			errCount++
		}
		count++
		if count < n {
			startNext()
		} else {
			close(done)
		}
	}
	startNext = func() {
		r := noopSend(loop, count)
		r.callback = onDone
	}

	start := time.Now()
	loop <- startNext // the chain starts on the loop goroutine
	ok := waitFor(done)
	elapsed := time.Since(start)

	if !ok {
		fail("req_chain", param, "timed out")
		return
	}
	close(loop)
	<-stopped
	if count != n || errCount != 0 {
		fail("req_chain", param, "completed %d of %d, errors=%d", count, n, errCount)
		return
	}
	report("req_chain", param, elapsed, int(n))
}

func main() {
	flag.BoolVar(&quick, "quick", false, "run a tenth of the ops")
	flag.Var(&selected, "w", "workload to run (repeatable, default all)")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
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
	// fd_churn: skipped, no equivalent in plain Go (see the package comment).
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
		os.Exit(1)
	}
}
