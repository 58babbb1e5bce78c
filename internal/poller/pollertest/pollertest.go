//go:build unix

// Package pollertest is the conformance suite of the poller.Backend
// contract (see package poller). Every backend runs it from its own
// _test.go; a new backend is done when it passes:
//
//	func TestConformance(t *testing.T) {
//		pollertest.Run(t, func(t *testing.T) poller.Backend {
//			b, err := mybackend.New()
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
//
// The suite is modelled on mio's tests (poll.rs, registering.rs,
// waker.rs). It asserts only what the contract promises: no test asserts
// an upper bound on how long something takes. A call that could block
// forever on a broken backend runs under a watchdog that, after a
// generous liveness deadline, fails the test and calls Wake until the
// call returns, so that a broken backend fails rather than hangs.
package pollertest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"golang.org/x/sys/unix"
)

// liveness is how long a call that must return is given before the
// watchdog declares it stuck. It is an upper bound on nothing the
// contract promises, only on how long a broken backend may hang the
// suite; POLLERTEST_LIVENESS (a time.Duration) overrides it.
var liveness = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("POLLERTEST_LIVENESS")); err == nil && d > 0 {
		return d
	}
	return 10 * time.Second
}()

// Run runs the conformance suite as subtests of t. open returns a fresh
// backend each time it is called; the suite closes every backend it
// opens. Each subtest also checks that it leaves no descriptor open.
func Run(t *testing.T, open func(t *testing.T) poller.Backend) {
	// Process-wide descriptors created lazily must exist before any is
	// counted: the Go runtime's netpoller (made by the first pollable
	// os.File: a pipe here) and whatever a first backend makes.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	if err := open(t).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, countable := countFDs()
			t.Cleanup(func() {
				if !countable {
					return
				}
				if after, _ := countFDs(); len(after) != len(before) {
					t.Errorf("descriptors open: %d before the subtest, %d after:\nbefore %v\nafter  %v", len(before), len(after), before, after)
				}
			})
			h := &harness{t: t, b: open(t), known: map[poller.Token]bool{}}
			t.Cleanup(h.cleanup)
			tc.f(h)
		})
	}
}

var tests = []struct {
	name string
	f    func(*harness)
}{
	{"Readable", testReadable},
	{"Writable", testWritable},
	{"ReadWriteOneEvent", testReadWriteOneEvent},
	{"PeerClosedReadable", testPeerClosedReadable},
	{"PeerClosedWritable", testPeerClosedWritable},
	{"ReadHangup", testReadHangup},
	{"LevelTriggered", testLevelTriggered},
	{"ModifyInterest", testModifyInterest},
	{"ModifyToken", testModifyToken},
	{"ModifyTokenWhileReady", testModifyTokenWhileReady},
	{"Delete", testDelete},
	{"DeleteThenAdd", testDeleteThenAdd},
	{"ReuseNumberAfterClose", testReuseNumberAfterClose},
	{"ReuseNumberWithoutDelete", testReuseNumberWithoutDelete},
	{"OncePerHarvest", testOncePerHarvest},
	{"FullBufferRotates", testFullBufferRotates},
	{"FullBufferPartial", testFullBufferPartial},
	{"WakeBeforeWait", testWakeBeforeWait},
	{"WakeDuringBlockingWait", testWakeDuringBlockingWait},
	{"WakeNotAnEvent", testWakeNotAnEvent},
	{"WakeFromGoroutines", testWakeFromGoroutines},
	{"WakeConcurrentBurst", testWakeConcurrentBurst},
	{"TimeoutZero", testTimeoutZero},
	{"TimeoutShort", testTimeoutShort},
	{"EINTR", testEINTR},
	{"AddClosedFD", testAddClosedFD},
	{"AddNegativeFD", testAddNegativeFD},
	{"RegularFile", testRegularFile},
	{"ModifyNotRegistered", testModifyNotRegistered},
	{"DeleteClosedBehindBack", testDeleteClosedBehindBack},
	{"ReportsClosed", testReportsClosed},
	{"CloseWithRegistrations", testCloseWithRegistrations},
	{"AddDeleteBeforeWait", testAddDeleteBeforeWait},
	{"ManyChangesOneTurn", testManyChangesOneTurn},
	{"ChangesWhileWaitArmed", testChangesWhileWaitArmed},
	{"RefusedAmongAccepted", testRefusedAmongAccepted},
	{"RefusalEndsBlockingWait", testRefusalEndsBlockingWait},
}

// harness is one subtest's backend and descriptors.
type harness struct {
	t      *testing.T
	b      poller.Backend
	fds    []int // open descriptors the harness closes at cleanup
	known  map[poller.Token]bool
	next   poller.Token
	closed bool
}

func (h *harness) cleanup() {
	if !h.closed {
		if err := h.b.Close(); err != nil {
			h.t.Errorf("Close: %v", err)
		}
	}
	for _, fd := range h.fds {
		unix.Close(fd)
	}
}

// token makes a new token, never one the harness made before.
func (h *harness) token() poller.Token {
	h.next++
	tok := h.next*0x1_0000_0001 + 7 // use both halves of the word
	h.known[tok] = true
	return tok
}

// own records fd for closing at cleanup.
func (h *harness) own(fd int) int {
	h.fds = append(h.fds, fd)
	return fd
}

// close closes fd now (behind the backend's back unless it was deleted).
func (h *harness) close(fd int) {
	i := slices.Index(h.fds, fd)
	if i < 0 {
		h.t.Fatalf("close of %d, not a harness descriptor", fd)
	}
	h.fds = slices.Delete(h.fds, i, i+1)
	if err := unix.Close(fd); err != nil {
		h.t.Fatalf("close(%d): %v", fd, err)
	}
}

// pair returns a connected non-blocking stream socket pair.
func (h *harness) pair() (a, b int) {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		h.t.Fatalf("socketpair: %v", err)
	}
	for _, fd := range p {
		h.own(fd)
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			h.t.Fatalf("set non-blocking: %v", err)
		}
	}
	return p[0], p[1]
}

func (h *harness) write(fd int) {
	if _, err := unix.Write(fd, []byte("x")); err != nil {
		h.t.Fatalf("write(%d): %v", fd, err)
	}
}

// drain reads everything readable from fd.
func (h *harness) drain(fd int) {
	var buf [256]byte
	for {
		n, err := unix.Read(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN || n == 0 {
			return
		}
		if err != nil {
			h.t.Fatalf("read(%d): %v", fd, err)
		}
	}
}

func (h *harness) add(fd int, tok poller.Token, in poller.Interest) {
	h.t.Helper()
	if err := h.b.Add(fd, tok, in); err != nil {
		h.t.Fatalf("Add(%d, %#x, %v): %v", fd, tok, in, err)
	}
}

func (h *harness) modify(fd int, tok poller.Token, in poller.Interest) {
	h.t.Helper()
	if err := h.b.Modify(fd, tok, in); err != nil {
		h.t.Fatalf("Modify(%d, %#x, %v): %v", fd, tok, in, err)
	}
}

func (h *harness) delete(fd int) {
	h.t.Helper()
	if err := h.b.Delete(fd); err != nil {
		h.t.Fatalf("Delete(%d): %v", fd, err)
	}
}

// wait is one Wait under the watchdog. It fails the test on an error, on
// a harvest longer than evs, and on a token the harness never made (a
// backend's own descriptor leaking out, or garbage).
func (h *harness) wait(evs []poller.Event, ms int) []poller.Event {
	h.t.Helper()
	n, err := h.guard(func() (int, error) { return h.b.Wait(evs, ms) })
	if err != nil {
		h.t.Fatalf("Wait(%d): %v", ms, err)
	}
	if n < 0 || n > len(evs) {
		h.t.Fatalf("Wait(len %d, %d) = %d", len(evs), ms, n)
	}
	for _, ev := range evs[:n] {
		if !h.known[ev.Token] {
			h.t.Fatalf("Wait reported token %#x, never registered (ready %v)", ev.Token, ev.Ready)
		}
		if ev.Ready&poller.ReadyFailed != 0 {
			h.checkFailed(ev)
		}
	}
	return evs[:n]
}

// checkFailed checks a ReadyFailed event: only from a backend that defers
// changes, alone, and with a reason.
func (h *harness) checkFailed(ev poller.Event) {
	h.t.Helper()
	if h.b.Caps()&poller.CapDeferredChanges == 0 {
		h.t.Fatalf("token %#x reported ReadyFailed by a backend without CapDeferredChanges", ev.Token)
	}
	if ev.Ready != poller.ReadyFailed {
		h.t.Errorf("token %#x: ReadyFailed with other bits: %v", ev.Token, ev.Ready)
	}
	f, ok := h.b.(poller.Failer)
	if !ok {
		h.t.Fatalf("a backend with CapDeferredChanges does not implement poller.Failer")
	}
	if f.Failure(ev.Token) == nil {
		h.t.Errorf("token %#x reported ReadyFailed, but Failure gives no reason", ev.Token)
	}
}

// refusedLater checks a deferred refusal of tok: reported once with
// ReadyFailed, its Failure wrapping want, never again after.
func (h *harness) refusedLater(tok poller.Token, want error) {
	h.t.Helper()
	h.until(tok, has(poller.ReadyFailed), nil)
	if err := h.b.(poller.Failer).Failure(tok); !errors.Is(err, want) {
		h.t.Errorf("Failure(%#x) = %v, want an error wrapping %v", tok, err, want)
	}
	h.absent(tok, "a refusal reported already")
}

// guard runs call (a Wait) on the calling goroutine. If it has not
// returned after the liveness deadline, a watchdog fails the test and
// calls Wake until it returns.
func (h *harness) guard(call func() (int, error)) (int, error) {
	h.t.Helper()
	done := make(chan struct{})
	var stuck atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			return
		case <-time.After(liveness):
		}
		stuck.Store(true)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			h.b.Wake()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	n, err := call()
	close(done)
	wg.Wait()
	if stuck.Load() {
		h.t.Errorf("Wait did not return within %v (ended by the watchdog's wake-ups)", liveness)
	}
	return n, err
}

// find returns the event of tok in evs.
func find(evs []poller.Event, tok poller.Token) (poller.Event, bool) {
	for _, ev := range evs {
		if ev.Token == tok {
			return ev, true
		}
	}
	return poller.Event{}, false
}

// until waits (in short waits) until a harvest has an event for tok whose
// readiness satisfies ok, and returns that event; it fails the test at
// the liveness deadline. Every harvest is also passed to check, if not
// nil.
func (h *harness) until(tok poller.Token, ok func(poller.Ready) bool, check func([]poller.Event)) poller.Event {
	h.t.Helper()
	evs := make([]poller.Event, 16)
	deadline := time.Now().Add(liveness)
	for time.Now().Before(deadline) {
		got := h.wait(evs, 20)
		if check != nil {
			check(got)
		}
		if ev, found := find(got, tok); found && ok(ev.Ready) {
			return ev
		}
	}
	h.t.Fatalf("token %#x not reported ready as expected within %v", tok, liveness)
	return poller.Event{}
}

func has(r poller.Ready) func(poller.Ready) bool {
	return func(got poller.Ready) bool { return got&r == r }
}

func anyOf(r poller.Ready) func(poller.Ready) bool {
	return func(got poller.Ready) bool { return got&r != 0 }
}

// absent checks that a non-blocking wait does not report tok.
func (h *harness) absent(tok poller.Token, why string) {
	h.t.Helper()
	evs := make([]poller.Event, 16)
	if ev, found := find(h.wait(evs, 0), tok); found {
		h.t.Errorf("%s: token %#x reported (ready %v)", why, tok, ev.Ready)
	}
}

// never checks that tok does not appear in harvest.
func (h *harness) never(tok poller.Token, why string) func([]poller.Event) {
	return func(got []poller.Event) {
		h.t.Helper()
		if ev, found := find(got, tok); found {
			h.t.Errorf("%s: token %#x reported (ready %v)", why, tok, ev.Ready)
		}
	}
}

func testReadable(h *harness) {
	a, b := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Readable)
	h.absent(tok, "nothing written yet")
	h.write(b)
	ev := h.until(tok, has(poller.ReadyRead), nil)
	if ev.Ready&poller.ReadyWrite != 0 {
		h.t.Errorf("Readable interest reported ReadyWrite: %v", ev.Ready)
	}
	h.drain(a)
	h.absent(tok, "after draining")
}

func testWritable(h *harness) {
	a, _ := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Writable)
	ev := h.until(tok, has(poller.ReadyWrite), nil)
	if ev.Ready&(poller.ReadyRead|poller.ReadyError|poller.ReadyInvalid) != 0 {
		h.t.Errorf("an idle socket reported %v for Writable interest", ev.Ready)
	}
}

func testReadWriteOneEvent(h *harness) {
	a, b := h.pair()
	tok := h.token()
	h.write(b)
	h.add(a, tok, poller.Readable|poller.Writable)
	h.until(tok, has(poller.ReadyRead|poller.ReadyWrite), nil)
}

func testPeerClosedReadable(h *harness) {
	a, b := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Readable)
	h.close(b)
	h.until(tok, anyOf(poller.ReadyRead|poller.ReadyError), nil)
}

func testPeerClosedWritable(h *harness) {
	a, b := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Writable)
	h.close(b)
	// A hang-up is reported whatever the interest.
	h.until(tok, has(poller.ReadyError), nil)
}

func testReadHangup(h *harness) {
	a, b := h.pair()
	tok := h.token()
	if runtime.GOOS != "linux" {
		// Without POLLRDHUP a shutdown shows only as end of file.
		h.add(a, tok, poller.Readable|poller.ReadHangup)
		if err := unix.Shutdown(b, unix.SHUT_WR); err != nil {
			h.t.Fatal(err)
		}
		h.until(tok, anyOf(poller.ReadyRead|poller.ReadyError), nil)
		return
	}
	h.add(a, tok, poller.ReadHangup)
	h.write(b)
	h.absent(tok, "ReadHangup interest, data but no hang-up")
	if err := unix.Shutdown(b, unix.SHUT_WR); err != nil {
		h.t.Fatal(err)
	}
	h.until(tok, has(poller.ReadyError), nil)
}

func testLevelTriggered(h *harness) {
	a, b := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Readable)
	h.write(b)
	h.until(tok, has(poller.ReadyRead), nil)
	evs := make([]poller.Event, 16)
	for i := range 5 {
		if _, found := find(h.wait(evs, 0), tok); !found {
			h.t.Fatalf("wait %d after the first: unread data not reported again", i+1)
		}
	}
	h.drain(a)
	h.absent(tok, "after draining")
}

func testModifyInterest(h *harness) {
	a, _ := h.pair()
	tok1, tok2, tok3 := h.token(), h.token(), h.token()
	h.add(a, tok1, poller.Readable)
	h.absent(tok1, "readable interest, nothing to read")
	h.modify(a, tok2, poller.Writable)
	h.until(tok2, has(poller.ReadyWrite), h.never(tok1, "after Modify to a new token"))
	h.modify(a, tok3, poller.Readable)
	evs := make([]poller.Event, 16)
	for _, ev := range h.wait(evs, 0) {
		h.t.Errorf("back to Readable with nothing to read: %#x reported %v", ev.Token, ev.Ready)
	}
}

func testModifyToken(h *harness) {
	a, b := h.pair()
	tok1, tok2 := h.token(), h.token()
	h.add(a, tok1, poller.Readable)
	h.write(b)
	h.until(tok1, has(poller.ReadyRead), nil)
	h.modify(a, tok2, poller.Readable)
	evs := make([]poller.Event, 16)
	for i := range 3 {
		got := h.wait(evs, 0)
		h.never(tok1, "stale token after Modify")(got)
		if _, found := find(got, tok2); !found {
			h.t.Errorf("wait %d: new token not reported", i)
		}
	}
}

func testModifyTokenWhileReady(h *harness) {
	a, b := h.pair()
	tok1, tok2 := h.token(), h.token()
	h.add(a, tok1, poller.Readable)
	h.write(b)
	// Readiness queued under tok1 by the kernel, never harvested.
	h.modify(a, tok2, poller.Readable|poller.Writable)
	h.until(tok2, has(poller.ReadyRead|poller.ReadyWrite), h.never(tok1, "stale token after Modify"))
}

func testDelete(h *harness) {
	a, b := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Readable)
	h.write(b)
	h.until(tok, has(poller.ReadyRead), nil)
	h.delete(a)
	h.absent(tok, "after Delete")
	h.absent(tok, "after Delete, second wait")
}

func testDeleteThenAdd(h *harness) {
	a, b := h.pair()
	tok1, tok2 := h.token(), h.token()
	h.add(a, tok1, poller.Readable)
	h.write(b)
	h.delete(a)
	h.add(a, tok2, poller.Readable)
	h.until(tok2, has(poller.ReadyRead), h.never(tok1, "deleted registration"))
}

// reuse puts a new socket at number a (closed now), returning its peer.
func (h *harness) reuse(a int) int {
	c, d := h.pair()
	if c == a { // the lowest free number, as usual
		return d
	}
	if err := unix.Dup2(c, a); err != nil {
		h.t.Fatalf("dup2: %v", err)
	}
	h.own(a)
	h.close(c)
	return d
}

func testReuseNumberAfterClose(h *harness) {
	a, b := h.pair()
	tok1, tok2 := h.token(), h.token()
	h.add(a, tok1, poller.Readable)
	h.write(b)
	h.until(tok1, has(poller.ReadyRead), nil)
	h.close(a)
	if err := h.b.Delete(a); err != nil {
		h.t.Fatalf("Delete of a number closed behind the backend's back: %v", err)
	}
	d := h.reuse(a)
	h.add(a, tok2, poller.Readable)
	h.absent(tok2, "new file at the old number, nothing written to it")
	h.absent(tok1, "old registration, file closed")
	h.write(d)
	stale := h.never(tok1, "old registration after the number was reused")
	h.until(tok2, has(poller.ReadyRead), stale)
	evs := make([]poller.Event, 16)
	for range 3 {
		stale(h.wait(evs, 0))
	}
}

func testReuseNumberWithoutDelete(h *harness) {
	a, b := h.pair()
	tok1, tok2 := h.token(), h.token()
	h.add(a, tok1, poller.Readable)
	h.write(b)
	h.until(tok1, has(poller.ReadyRead), nil)
	h.close(a)
	d := h.reuse(a)
	// The core re-registers a number it knows was closed with a new token
	// (it may not have deleted the old registration first).
	if err := h.b.Add(a, tok2, poller.Readable); err != nil {
		if err2 := h.b.Modify(a, tok2, poller.Readable); err2 != nil {
			h.t.Fatalf("re-registration after a close: Add: %v; Modify: %v", err, err2)
		}
	}
	h.write(d)
	stale := h.never(tok1, "old registration after the number was reused")
	h.until(tok2, has(poller.ReadyRead), stale)
	evs := make([]poller.Event, 16)
	for range 3 {
		stale(h.wait(evs, 0))
	}
}

// ready registers n socket pairs with data waiting and returns their
// tokens.
func (h *harness) ready(n int, in poller.Interest) []poller.Token {
	toks := make([]poller.Token, n)
	for i := range toks {
		a, b := h.pair()
		toks[i] = h.token()
		h.write(b)
		h.add(a, toks[i], in)
	}
	return toks
}

func testOncePerHarvest(h *harness) {
	toks := h.ready(4, poller.Readable|poller.Writable)
	evs := make([]poller.Event, 32)
	seen := map[poller.Token]bool{}
	deadline := time.Now().Add(liveness)
	for rounds := 0; rounds < 5 || len(seen) < len(toks); rounds++ {
		if time.Now().After(deadline) {
			h.t.Fatalf("only %d of %d ready descriptors reported", len(seen), len(toks))
		}
		got := h.wait(evs, 20)
		in := map[poller.Token]bool{}
		for _, ev := range got {
			if in[ev.Token] {
				h.t.Fatalf("token %#x twice in one harvest: %v", ev.Token, got)
			}
			in[ev.Token] = true
			seen[ev.Token] = true
			if ev.Ready&(poller.ReadyRead|poller.ReadyWrite) != poller.ReadyRead|poller.ReadyWrite {
				h.t.Errorf("token %#x: %v, want read and write in one event", ev.Token, ev.Ready)
			}
		}
	}
}

// rotation checks that with room for per events a harvest, every one of
// n ready descriptors is reported within the first ceil(n/per)+1 waits
// and keeps being reported.
func (h *harness) rotation(n, per int) {
	toks := h.ready(n, poller.Readable)
	// Let every descriptor become ready before counting.
	all := make([]poller.Event, 2*n)
	deadline := time.Now().Add(liveness)
	for len(h.wait(all, 20)) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d ready descriptors never reported together", n)
		}
	}
	evs := make([]poller.Event, per)
	count := map[poller.Token]int{}
	rounds := 3 * ((n + per - 1) / per)
	for i := range rounds {
		got := h.wait(evs, 0)
		if len(got) == 0 {
			h.t.Fatalf("wait %d: nothing reported with %d descriptors ready", i, n)
		}
		for _, ev := range got {
			count[ev.Token]++
		}
	}
	// Rotating means each one gets its turn every n/per waits: over
	// three turns, none can be left out, and none can be served twice as
	// often as the one served least (up to a harvest's slack).
	lo, hi := rounds, 0
	for _, tok := range toks {
		lo, hi = min(lo, count[tok]), max(hi, count[tok])
	}
	if lo == 0 || hi > 2*lo+1 {
		h.t.Errorf("unfair harvests of %d ready descriptors with room for %d over %d waits: fewest %d, most %d (%v)", n, per, rounds, lo, hi, count)
	}
}

func testFullBufferRotates(h *harness) { h.rotation(8, 1) }

func testFullBufferPartial(h *harness) { h.rotation(7, 3) }

// idle registers a socket that is not ready for reading, so that Wait
// blocks in the kernel rather than on an empty set.
func (h *harness) idle() {
	a, _ := h.pair()
	h.add(a, h.token(), poller.Readable)
}

func testWakeBeforeWait(h *harness) {
	h.idle()
	if err := h.b.Wake(); err != nil {
		h.t.Fatalf("Wake: %v", err)
	}
	evs := make([]poller.Event, 8)
	if got := h.wait(evs, -1); len(got) != 0 {
		h.t.Errorf("a wake-up harvested %v", got)
	}
}

// blocked reports whether Wait(-1), started on another goroutine, is
// still blocked after a short time, then wakes it and waits for it. A
// spurious return, which the contract allows, is retried a few times.
func testWakeDuringBlockingWait(h *harness) {
	h.idle()
	for attempt := 0; ; attempt++ {
		done := make(chan error, 1)
		go func() {
			_, err := h.b.Wait(make([]poller.Event, 8), -1)
			done <- err
		}()
		// Not a synchronisation: proof that the wait does not return on
		// its own. Short, and a wake-up lost because it came before the
		// wait began would still have to be honoured (WakeBeforeWait).
		time.Sleep(50 * time.Millisecond)
		select {
		case err := <-done:
			if err != nil {
				h.t.Fatalf("Wait(-1): %v", err)
			}
			if attempt < 3 {
				continue // spurious
			}
			h.t.Fatalf("Wait(-1) with nothing ready and no wake-up returned %d times in a row", attempt+1)
		default:
		}
		if err := h.b.Wake(); err != nil {
			h.t.Fatalf("Wake: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				h.t.Fatalf("Wait(-1): %v", err)
			}
			return
		case <-time.After(liveness):
		}
		h.t.Errorf("Wake from another goroutine did not end a blocking Wait within %v", liveness)
		for {
			h.b.Wake()
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

func testWakeNotAnEvent(h *harness) {
	toks := h.ready(2, poller.Readable)
	h.idle()
	evs := make([]poller.Event, 16)
	deadline := time.Now().Add(liveness)
	for len(h.wait(evs, 20)) < len(toks) {
		if time.Now().After(deadline) {
			h.t.Fatal("ready descriptors not reported")
		}
	}
	for range 3 {
		if err := h.b.Wake(); err != nil {
			h.t.Fatalf("Wake: %v", err)
		}
		got := h.wait(evs, -1)
		if len(got) != len(toks) {
			h.t.Errorf("after a Wake with %d descriptors ready, harvested %v", len(toks), got)
		}
	}
}

func testWakeFromGoroutines(h *harness) {
	h.idle()
	evs := make([]poller.Event, 8)
	// Every round's single wake-up comes from a new goroutine, racing
	// with the start of the wait: before it, or during it.
	for range 200 {
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := h.b.Wake(); err != nil {
				h.t.Errorf("Wake: %v", err)
			}
		})
		h.wait(evs, -1)
		wg.Wait()
		if h.t.Failed() {
			return
		}
	}
}

func testWakeConcurrentBurst(h *harness) {
	h.idle()
	evs := make([]poller.Event, 8)
	const wakers = 4
	for range 50 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range wakers {
			wg.Go(func() {
				<-start
				if err := h.b.Wake(); err != nil {
					h.t.Errorf("Wake: %v", err)
				}
			})
		}
		close(start)
		h.wait(evs, -1)
		wg.Wait()
		// Wake-ups that came after the wait returned may end the next
		// wait early, once; one more wake-up must end it in any case.
		if err := h.b.Wake(); err != nil {
			h.t.Fatalf("Wake: %v", err)
		}
		h.wait(evs, -1)
		if h.t.Failed() {
			return
		}
	}
}

func testTimeoutZero(h *harness) {
	h.idle()
	evs := make([]poller.Event, 8)
	for range 3 {
		if got := h.wait(evs, 0); len(got) != 0 {
			h.t.Errorf("nothing ready, harvested %v", got)
		}
	}
}

func testTimeoutShort(h *harness) {
	h.idle()
	evs := make([]poller.Event, 8)
	const ms = 50
	// Kernel clocks and ours differ a little; spurious returns are
	// allowed, but not every time.
	const slack = 5 * time.Millisecond
	var took []time.Duration
	for range 3 {
		start := time.Now()
		if got := h.wait(evs, ms); len(got) != 0 {
			h.t.Fatalf("nothing ready, harvested %v", got)
		}
		d := time.Since(start)
		if d >= ms*time.Millisecond-slack {
			return
		}
		took = append(took, d)
	}
	h.t.Errorf("Wait(%d) returned early every time: %v", ms, took)
}

func testEINTR(h *harness) {
	h.idle()
	tids := make(chan int, 1)
	results := make(chan error, 64)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- threadID()
		evs := make([]poller.Event, 8)
		for !stop.Load() {
			n, err := h.b.Wait(evs, -1)
			if err == nil && n != 0 {
				err = fmt.Errorf("harvested %v with nothing ready", evs[:n])
			}
			select {
			case results <- err:
			default:
			}
		}
	})
	tid := <-tids
	// Signal the waiting thread until a wait returns (a backend waiting
	// in the kernel sees EINTR) or for a while (a backend that parks a
	// goroutine instead may never see the signal: that is allowed).
	returned := false
	deadline := time.Now().Add(300 * time.Millisecond)
	for !returned && time.Now().Before(deadline) {
		if err := interrupt(tid); err != nil {
			h.t.Fatalf("signal: %v", err)
		}
		select {
		case err := <-results:
			returned = true
			if err != nil {
				h.t.Errorf("interrupted Wait: %v, want (0, nil)", err)
			}
		case <-time.After(5 * time.Millisecond):
		}
	}
	stop.Store(true)
	exited := make(chan struct{})
	go func() { wg.Wait(); close(exited) }()
	end := time.Now().Add(liveness)
	for {
		h.b.Wake()
		select {
		case <-exited:
			for {
				select {
				case err := <-results:
					if err != nil {
						h.t.Errorf("interrupted Wait: %v, want (0, nil)", err)
					}
				default:
					h.t.Logf("a signal ended a wait (EINTR seen): %v", returned)
					return
				}
			}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(end) {
			h.t.Fatal("waiting goroutine did not stop")
		}
	}
}

func testAddClosedFD(h *harness) {
	a, _ := h.pair()
	h.close(a)
	tok := h.token()
	err := h.b.Add(a, tok, poller.Readable)
	if err != nil {
		if !errors.Is(err, poller.ErrBadFD) {
			h.t.Fatalf("Add of a closed descriptor: %v, want ErrBadFD", err)
		}
		return
	}
	if h.b.Caps()&poller.CapDeferredChanges != 0 {
		h.refusedLater(tok, poller.ErrBadFD)
		return
	}
	if h.b.Caps()&poller.CapReportsClosed == 0 {
		h.t.Fatal("Add of a closed descriptor succeeded, and the backend declares neither CapReportsClosed nor CapDeferredChanges")
	}
	h.until(tok, has(poller.ReadyInvalid), nil)
	h.delete(a)
	h.absent(tok, "after Delete")
}

func testAddNegativeFD(h *harness) {
	if err := h.b.Add(-1, h.token(), poller.Readable); !errors.Is(err, poller.ErrBadFD) {
		h.t.Fatalf("Add(-1): %v, want ErrBadFD", err)
	}
}

func testRegularFile(h *harness) {
	name := h.t.TempDir() + "/regular"
	fd, err := unix.Open(name, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	h.own(fd)
	tok := h.token()
	err = h.b.Add(fd, tok, poller.Readable|poller.Writable)
	if h.b.Caps()&poller.CapRegularFiles == 0 {
		if err == nil && h.b.Caps()&poller.CapDeferredChanges != 0 {
			h.refusedLater(tok, poller.ErrRefused)
			if err := h.b.Modify(fd, h.token(), poller.Readable); !errors.Is(err, poller.ErrNotRegistered) {
				h.t.Errorf("Modify after a refusal: %v, want ErrNotRegistered", err)
			}
			return
		}
		if !errors.Is(err, poller.ErrRefused) {
			h.t.Fatalf("Add of a regular file without CapRegularFiles: %v, want ErrRefused", err)
		}
		return
	}
	if err != nil {
		h.t.Fatalf("Add of a regular file with CapRegularFiles: %v", err)
	}
	h.until(tok, has(poller.ReadyRead|poller.ReadyWrite), nil)
}

func testModifyNotRegistered(h *harness) {
	h.idle() // a backend with something registered
	a, _ := h.pair()
	err := h.b.Modify(a, h.token(), poller.Readable)
	if !errors.Is(err, poller.ErrNotRegistered) {
		h.t.Fatalf("Modify of a descriptor never added: %v, want ErrNotRegistered", err)
	}
}

func testDeleteClosedBehindBack(h *harness) {
	h.idle()
	a, b := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Readable)
	h.write(b)
	h.close(a)
	if err := h.b.Delete(a); err != nil {
		h.t.Fatalf("Delete of a descriptor closed behind the backend's back: %v, want nil", err)
	}
	h.absent(tok, "after Delete")
	h.absent(tok, "after Delete, second wait")
}

func testReportsClosed(h *harness) {
	if h.b.Caps()&poller.CapReportsClosed == 0 {
		h.t.Skip("backend does not declare CapReportsClosed")
	}
	a, _ := h.pair()
	tok := h.token()
	h.add(a, tok, poller.Readable)
	h.close(a)
	h.until(tok, has(poller.ReadyInvalid), nil)
	h.delete(a)
	h.absent(tok, "after Delete")
}

func testCloseWithRegistrations(h *harness) {
	h.ready(3, poller.Readable)
	h.idle()
	h.closed = true
	if err := h.b.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
}

// testAddDeleteBeforeWait: a registration deleted before any wait saw it
// is never reported, whatever the backend did with the Add meanwhile.
func testAddDeleteBeforeWait(h *harness) {
	h.idle()
	a, b := h.pair()
	tok := h.token()
	h.write(b)
	h.add(a, tok, poller.Readable)
	h.delete(a)
	h.absent(tok, "added and deleted before a wait")
	tok2 := h.token()
	h.add(a, tok2, poller.Readable)
	h.until(tok2, has(poller.ReadyRead), h.never(tok, "deleted registration"))
}

// testManyChangesOneTurn makes more changes between two waits than a
// batching backend queues at once (io_uring: 128): none is lost.
func testManyChangesOneTurn(h *harness) {
	const n = 200
	toks := make([]poller.Token, n)
	for i := range toks {
		a, b := h.pair()
		toks[i] = h.token()
		h.write(b)
		h.add(a, h.token(), poller.Writable)
		h.modify(a, toks[i], poller.Readable)
	}
	evs := make([]poller.Event, 2*n)
	seen := map[poller.Token]bool{}
	deadline := time.Now().Add(liveness)
	for len(seen) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d of %d registrations reported", len(seen), n)
		}
		for _, ev := range h.wait(evs, 20) {
			if ev.Ready&poller.ReadyRead == 0 || ev.Ready&poller.ReadyWrite != 0 {
				h.t.Fatalf("token %#x: %v, want read readiness only (the modified interest)", ev.Token, ev.Ready)
			}
			seen[ev.Token] = true
		}
	}
	for _, tok := range toks {
		if !seen[tok] {
			h.t.Errorf("token %#x never reported", tok)
		}
	}
}

// testChangesWhileWaitArmed changes registrations after a wait that
// timed out (a backend may keep its kernel wait armed across Waits): the
// next Wait reports the new state, never the old.
func testChangesWhileWaitArmed(h *harness) {
	a, b := h.pair()
	tok1, tok2 := h.token(), h.token()
	h.add(a, tok1, poller.Readable)
	for range 2 {
		if got := h.wait(make([]poller.Event, 8), 1); len(got) != 0 {
			h.t.Fatalf("nothing ready, harvested %v", got)
		}
	}
	h.modify(a, tok2, poller.Readable)
	h.write(b)
	h.until(tok2, has(poller.ReadyRead), h.never(tok1, "stale token after Modify"))
	h.drain(a)
	h.absent(tok2, "after draining")
	// Readiness that comes and goes between two Waits (a handler read
	// it) is not reported by the second.
	if got := h.wait(make([]poller.Event, 8), 1); len(got) != 0 {
		h.t.Fatalf("nothing ready, harvested %v", got)
	}
	h.write(b)
	h.drain(a)
	h.absent(tok2, "data written and read between two waits")
}

// testRefusedAmongAccepted: one change the kernel refuses among several
// it accepts does not hold the others back.
func testRefusedAmongAccepted(h *harness) {
	a, b := h.pair()
	c, d := h.pair()
	tokA, tokC, tokBad := h.token(), h.token(), h.token()
	h.write(b)
	h.write(d)
	h.add(a, tokA, poller.Readable)
	closed, _ := h.pair()
	h.close(closed)
	err := h.b.Add(closed, tokBad, poller.Readable)
	if err != nil && !errors.Is(err, poller.ErrBadFD) {
		h.t.Fatalf("Add of a closed descriptor: %v, want ErrBadFD or a deferred refusal", err)
	}
	h.add(c, tokC, poller.Readable)
	seen := map[poller.Token]bool{}
	evs := make([]poller.Event, 16)
	deadline := time.Now().Add(liveness)
	for !seen[tokA] || !seen[tokC] {
		if time.Now().After(deadline) {
			h.t.Fatalf("reported %v; want both accepted registrations", seen)
		}
		for _, ev := range h.wait(evs, 20) {
			seen[ev.Token] = true
		}
	}
	if err == nil && h.b.Caps()&poller.CapDeferredChanges != 0 && !seen[tokBad] {
		h.until(tokBad, has(poller.ReadyFailed), nil)
	}
	h.delete(closed)
}

// testRefusalEndsBlockingWait: a registration refused after Add returned
// (a deferred change, or a closed number reported later) is reported by
// a wait with no timeout, with nothing else ready: it does not wait for
// readiness that will never come.
func testRefusalEndsBlockingWait(h *harness) {
	h.idle()
	a, _ := h.pair()
	h.close(a)
	// An idle loop first: a wait that times out.
	if got := h.wait(make([]poller.Event, 8), 1); len(got) != 0 {
		h.t.Fatalf("nothing ready, harvested %v", got)
	}
	tok := h.token()
	if err := h.b.Add(a, tok, poller.Readable); err != nil {
		if !errors.Is(err, poller.ErrBadFD) {
			h.t.Fatalf("Add of a closed descriptor: %v, want ErrBadFD", err)
		}
		return // refused at once
	}
	evs := make([]poller.Event, 8)
	deadline := time.Now().Add(liveness)
	for {
		if ev, found := find(h.wait(evs, -1), tok); found {
			if ev.Ready&(poller.ReadyFailed|poller.ReadyInvalid) == 0 {
				h.t.Fatalf("closed descriptor reported %v", ev.Ready)
			}
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("closed descriptor not reported within %v", liveness)
		}
	}
	h.delete(a)
}

// countFDs lists the process's open descriptors, where the system shows
// them.
func countFDs() ([]string, bool) {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if ents, err := os.ReadDir(dir); err == nil {
			var fds []string
			for _, e := range ents {
				l, _ := os.Readlink(dir + "/" + e.Name())
				fds = append(fds, e.Name()+"->"+l)
			}
			return fds, true
		}
	}
	return nil, false
}
