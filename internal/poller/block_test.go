package poller

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"
)

// countYields makes gosched count the yields until the test ends.
func countYields(t *testing.T) *int {
	n := new(int)
	old := gosched
	gosched = func() { *n++ }
	t.Cleanup(func() { gosched = old })
	return n
}

// TestBlock pins the kernel waits Block makes: the first ShortWait raw,
// then, when that brought nothing, a yield and the rest as an ordinary
// wait; readiness, a wake-up or an error in the short part end it.
func TestBlock(t *testing.T) {
	yields := countYields(t)
	errKernel := errors.New("kernel")
	for _, c := range []struct {
		ms      int
		results []int // what each call returns; -1: errKernel, -2: EINTR
		want    []string
		yields  int
	}{
		{3, []int{0, 0}, []string{"1 raw", "2"}, 1},
		{-1, []int{0, 4}, []string{"1 raw", "-1"}, 1},
		{ShortWait, []int{0}, []string{"1 raw"}, 0},
		{5, []int{1}, []string{"1 raw"}, 0},
		{5, []int{-1}, []string{"1 raw"}, 0},
		{5, []int{-2, 1}, []string{"1 raw", "4"}, 1}, // EINTR: the wait goes on
	} {
		*yields = 0
		var calls []string
		i := 0
		n, err := Block(c.ms, func(ms int, raw bool) (int, error) {
			r := c.results[i]
			i++
			s := fmt.Sprint(ms)
			if raw {
				s += " raw"
			}
			calls = append(calls, s)
			if r == -2 {
				return 0, syscall.EINTR
			}
			if r < 0 {
				return 0, errKernel
			}
			return r, nil
		})
		last := c.results[len(c.results)-1]
		if last < 0 && !errors.Is(err, errKernel) || last >= 0 && (err != nil || n != last) {
			t.Errorf("Block(%d) = %d, %v; want the last call's result %d", c.ms, n, err, last)
		}
		if !slices.Equal(calls, c.want) || *yields != c.yields {
			t.Errorf("Block(%d) made %q with %d yields, want %q with %d", c.ms, calls, *yields, c.want, c.yields)
		}
	}
}

// TestWaitYields pins when Poller yields before a wait: every
// YieldEvery-th wait that may block, and the next one after Yield; never
// before a wait that does not block.
func TestWaitYields(t *testing.T) {
	yields := countYields(t)
	f := newFake()
	p := New(f)
	p.Add(3, 1, Readable)
	evs := make([]Event, 4)
	wait := func(timeout time.Duration) {
		p.BeginWait()
		p.Wait(evs, timeout)
	}
	for range 3 * YieldEvery {
		wait(0)
	}
	if *yields != 0 {
		t.Fatalf("%d yields before waits that do not block, want 0", *yields)
	}
	for i := range 2 * YieldEvery {
		wait(time.Microsecond)
		if want := (i + 1) / YieldEvery; *yields != want {
			t.Fatalf("after %d waits: %d yields, want %d", i+1, *yields, want)
		}
	}
	p.Yield()
	wait(time.Microsecond)
	if *yields != 3 {
		t.Fatalf("the wait after Yield made %d yields in all, want 3", *yields)
	}
	for range YieldEvery - 1 {
		wait(time.Microsecond)
	}
	if *yields != 3 {
		t.Fatalf("%d yields, want 3: Yield restarts the count", *yields)
	}
	wait(time.Microsecond)
	if *yields != 4 {
		t.Fatalf("%d yields, want 4", *yields)
	}
}

// TestWaitYieldsShared: with CapSharedChanges every wait that may block
// yields.
func TestWaitYieldsShared(t *testing.T) {
	yields := countYields(t)
	p := New(sharedFake{newFake()})
	p.Add(3, 1, Readable)
	evs := make([]Event, 4)
	for i := range 3 {
		p.BeginWait()
		p.Wait(evs, time.Microsecond)
		if *yields != i+1 {
			t.Fatalf("after %d waits: %d yields, want %d", i+1, *yields, i+1)
		}
	}
}

type sharedFake struct{ *fake }

func (sharedFake) Caps() Caps { return CapSharedChanges }
