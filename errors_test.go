package tevent

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Errors match sentinels with errors.Is, and their texts are accurate.

func TestErrorsSentinels(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()

	// Result on a request in progress: ErrNotFinished, nothing changed.
	r := NewReq[int](ev)
	if _, err := r.Result(); !errors.Is(err, ErrNotFinished) {
		t.Errorf("Result in progress: %v, want ErrNotFinished", err)
	}
	if r.State() != ReqInProgress {
		t.Errorf("Result in progress changed the state to %v", r.State())
	}
	r.Done(1)
	if v, err := r.Result(); v != 1 || err != nil {
		t.Errorf("Result: %v %v", v, err)
	}
	if _, err := r.Result(); !errors.Is(err, ErrFreed) || strings.Contains(err.Error(), "context freed") {
		t.Errorf("second Result: %v, want ErrFreed without saying a context was freed", err)
	}

	// A wrapper that refuses use: ErrUseRefused.
	w, err := ev.NewWrapper(WrapperHooks{Name: "picky", BeforeUse: func(*Context) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.LoopOnce(); !errors.Is(err, ErrUseRefused) || !strings.Contains(err.Error(), "picky") {
		t.Errorf("LoopOnce through a refusing wrapper: %v, want ErrUseRefused naming it", err)
	}

	// ErrFreed's text no longer claims a context was freed.
	if ErrFreed.Error() != "tevent: freed" {
		t.Errorf("ErrFreed = %q", ErrFreed.Error())
	}
	s := ev.NewScope()
	s.Free()
	if _, err := s.AddFD(0, FDRead, func(*Context, *FD, FDFlags) {}); !errors.Is(err, ErrFreed) || !strings.Contains(err.Error(), "scope") {
		t.Errorf("AddFD on a freed scope: %v", err)
	}
	// AddTimer and NewImmediate on a freed scope are observable.
	if tm := s.AddTimer(time.Now(), func(*Context, *Timer, time.Time) {}); !tm.Freed() {
		t.Error("AddTimer on a freed scope: Timer.Freed() is false")
	}
	if im := s.NewImmediate(); !im.Freed() {
		t.Error("NewImmediate on a freed scope: Immediate.Freed() is false")
	}
	tm := ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) {})
	im := ev.NewImmediate()
	if tm.Freed() || im.Freed() {
		t.Error("live timer or immediate reports Freed")
	}
	loopOnce(t, ev)
	im.Free()
	if !tm.Freed() || !im.Freed() {
		t.Errorf("after firing / Free: timer freed %v, immediate freed %v", tm.Freed(), im.Freed())
	}
}

// TestErrorsSetEndtimeZeroClears: SetEndtime(time.Time{}) means no end
// time, and clears one set before.
func TestErrorsSetEndtimeZeroClears(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		r := NewReq[int](ev)
		if !r.SetEndtime(ev, time.Now()) || !r.SetEndtime(ev, time.Time{}) {
			t.Fatal("SetEndtime refused")
		}
		ran := false
		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { ran = true })
		driveUntil(t, ev, func() bool { return ran })
		if r.State() != ReqInProgress {
			t.Fatalf("the cleared end time still fired: %v", r.State())
		}
		if err := ev.LoopOnce(); !errors.Is(err, ErrNoEvents) {
			t.Fatalf("LoopOnce with only an unbounded request: %v, want ErrNoEvents", err)
		}
		r.Free()
	})
}

func TestErrorsFDFlagsString(t *testing.T) {
	for fl, want := range map[FDFlags]string{
		0:                          "0",
		FDRead:                     "FDRead",
		FDWrite | FDRead:           "FDRead|FDWrite",
		FDRead | FDWrite | FDError: "FDRead|FDWrite|FDError",
		FDError | 0x10:             "FDError|FDFlags(0x10)",
	} {
		if got := fl.String(); got != want {
			t.Errorf("FDFlags(%#x).String() = %q, want %q", uint16(fl), got, want)
		}
	}
}

// TestErrorsPoolSizeDefault: WithPoolSize(n <= 0) means the default.
func TestErrorsPoolSizeDefault(t *testing.T) {
	for _, n := range []int{0, -3} {
		ev, err := New(WithPoolSize(n))
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.loop.poolSize; got != runtime.GOMAXPROCS(0) {
			t.Errorf("WithPoolSize(%d): pool size %d, want GOMAXPROCS", n, got)
		}
		ev.Free()
	}
}
