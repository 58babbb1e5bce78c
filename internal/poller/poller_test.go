package poller

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a Backend that blocks in Wait until Wake or the timeout, and
// counts its calls.
type fake struct {
	waits, wakes atomic.Int32
	woke         chan struct{}
	entered      chan struct{} // a blocking Wait has begun
	regs         map[int]bool
}

func newFake() *fake {
	return &fake{woke: make(chan struct{}, 1), entered: make(chan struct{}, 1), regs: map[int]bool{}}
}

func (f *fake) Add(fd int, _ Token, _ Interest) error { f.regs[fd] = true; return nil }

func (f *fake) Modify(fd int, _ Token, _ Interest) error {
	if !f.regs[fd] {
		return ErrNotRegistered
	}
	return nil
}

func (f *fake) Delete(fd int) error { delete(f.regs, fd); return nil }

func (f *fake) Wait(evs []Event, ms int) (int, error) {
	f.waits.Add(1)
	switch {
	case ms == 0:
		select {
		case <-f.woke:
		default:
		}
	case ms < 0:
		select {
		case f.entered <- struct{}{}:
		default:
		}
		<-f.woke
	default:
		select {
		case <-f.woke:
		case <-time.After(time.Duration(ms) * time.Millisecond):
		}
	}
	return 0, nil
}

func (f *fake) Wake() error {
	f.wakes.Add(1)
	select {
	case f.woke <- struct{}{}:
	default:
	}
	return nil
}

func (f *fake) Close() error { return nil }
func (f *fake) Caps() Caps   { return 0 }

const liveness = 10 * time.Second

// bounded runs p.Wait(timeout) and fails if it has not returned within
// the liveness deadline, then rescues it.
func bounded(t *testing.T, p *Poller, f *fake, timeout time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Wait(make([]Event, 4), timeout)
	}()
	select {
	case <-done:
		return
	case <-time.After(liveness):
	}
	t.Errorf("Wait(%v) did not return", timeout)
	for {
		f.Wake()
		select {
		case p.ch <- struct{}{}:
		default:
		}
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestParkWhenNothingRegistered(t *testing.T) {
	f := newFake()
	p := New(f)
	start := time.Now()
	p.BeginWait()
	bounded(t, p, f, 20*time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("parked wait of 20ms returned after %v", d)
	}
	// Wake works between BeginWait and Wait, or during the wait (a Wake
	// before BeginWait is not one the contract keeps: the loop looks at
	// its queues after BeginWait instead).
	p.BeginWait()
	go func() {
		// Not synchronisation: either order with Wait must work.
		p.Wake()
	}()
	bounded(t, p, f, -1)
	if n := f.waits.Load() + f.wakes.Load(); n != 0 {
		t.Errorf("backend called %d times with nothing registered", n)
	}
}

func TestBeginWaitWakeWait(t *testing.T) {
	for _, registered := range []bool{false, true} {
		f := newFake()
		p := New(f)
		if registered {
			p.Add(3, 1, Readable)
		}
		p.BeginWait()
		p.Wake()
		bounded(t, p, f, -1)
		if registered && f.wakes.Load() != 1 {
			t.Errorf("registered: %d backend Wakes, want 1", f.wakes.Load())
		}
	}
}

func TestWakeWhenIdleCallsNothing(t *testing.T) {
	f := newFake()
	p := New(f)
	p.Add(3, 1, Readable)
	p.Wake()
	p.BeginWait()
	p.Wait(make([]Event, 4), 0)
	p.Wake() // idle again
	if n := f.wakes.Load(); n != 0 {
		t.Errorf("Wake while idle called the backend's Wake %d times", n)
	}
}

// TestAddBetweenBeginWaitAndWait: BeginWait chose to park, then a
// registration arrived; the Wake that follows must still end the wait.
func TestAddBetweenBeginWaitAndWait(t *testing.T) {
	f := newFake()
	p := New(f)
	p.BeginWait()
	p.Add(3, 1, Readable)
	go func() {
		select {
		case <-f.entered: // the wait is in the backend: wake it there
		case <-time.After(liveness):
		}
		p.Wake()
	}()
	bounded(t, p, f, -1)
}

// TestRegisteredCount: a registration Modify found gone is counted once,
// even when the core then deletes it.
func TestRegisteredCount(t *testing.T) {
	f := newFake()
	p := New(f)
	p.Add(3, 1, Readable)
	p.Add(4, 2, Readable)
	delete(f.regs, 3) // closed behind our back
	if err := p.Modify(3, 3, Readable); err == nil {
		t.Fatal("Modify of a gone registration succeeded")
	}
	p.Delete(3)
	if n := p.Registered(); n != 1 {
		t.Fatalf("Registered() = %d, want 1", n)
	}
	p.Delete(4)
	if n := p.Registered(); n != 0 {
		t.Fatalf("Registered() = %d, want 0", n)
	}
}

// TestWakeNeverLost runs a loop against producers that publish work and
// Wake: the loop must see every item, parked and in the kernel.
func TestWakeNeverLost(t *testing.T) {
	for _, registered := range []bool{false, true} {
		f := newFake()
		p := New(f)
		if registered {
			p.Add(3, 1, Readable)
		}
		const producers, items = 4, 500
		var posted atomic.Int64
		var wg sync.WaitGroup
		for range producers {
			wg.Go(func() {
				for range items {
					posted.Add(1)
					p.Wake()
				}
			})
		}
		seen := int64(0)
		deadline := time.Now().Add(liveness)
		for seen < producers*items {
			if time.Now().After(deadline) {
				t.Fatalf("registered %v: saw %d of %d items", registered, seen, producers*items)
			}
			p.BeginWait()
			timeout := time.Duration(-1)
			if posted.Load() != seen {
				timeout = 0
			}
			bounded(t, p, f, timeout)
			seen = posted.Load()
			if t.Failed() {
				break
			}
		}
		wg.Wait()
	}
}

func TestMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{
		{-1, -1},
		{-time.Hour, -1},
		{0, 0},
		{1, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Microsecond, 2},
		{time.Second, 1000},
		{math.MaxInt32 * time.Millisecond, math.MaxInt32},
		{(math.MaxInt32 + 1) * time.Millisecond, math.MaxInt32},
		{math.MaxInt64, math.MaxInt32},
		{math.MaxInt64 - time.Millisecond + 2, math.MaxInt32},
	} {
		if got := Millis(c.d); got != c.want {
			t.Errorf("Millis(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

// deferring is a fake that declares CapDeferredChanges and knows one
// refusal.
type deferring struct {
	*fake
	caps Caps
}

var errRefusedHere = errors.New("refused here")

func (d deferring) Caps() Caps { return d.caps }

func (d deferring) Failure(tok Token) error {
	if tok == 7 {
		return errRefusedHere
	}
	return nil
}

// TestFailure: Poller.Failure asks a backend that defers changes, and
// only such a backend.
func TestFailure(t *testing.T) {
	p := New(deferring{newFake(), CapDeferredChanges})
	if err := p.Failure(7); err != errRefusedHere {
		t.Errorf("Failure(7) = %v, want the backend's", err)
	}
	if err := p.Failure(8); err != nil {
		t.Errorf("Failure(8) = %v, want nil", err)
	}
	// A Failure method without the capability is not asked.
	if err := New(deferring{newFake(), 0}).Failure(7); err != nil {
		t.Errorf("Failure without CapDeferredChanges = %v, want nil", err)
	}
	if err := New(newFake()).Failure(7); err != nil {
		t.Errorf("Failure of a backend without Failer = %v, want nil", err)
	}
}
