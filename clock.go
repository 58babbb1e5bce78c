package tevent

import "time"

// clockBase anchors the monotonic clock: deadlines are kept as nanoseconds
// since it, which compare and store more cheaply than time.Time.
var clockBase = time.Now()

func monoNow() int64 { return int64(time.Since(clockBase)) }

func toMono(t time.Time) int64 { return int64(t.Sub(clockBase)) }

func fromMono(ns int64) time.Time { return clockBase.Add(time.Duration(ns)) }

// Now returns the loop's clock (libev's ev_now), on the monotonic clock:
// the time the loop last read, which it does at most once per loop call
// and after each kernel wait, and whenever the next timer is not yet due
// by it. A timer handler's now is the same value. Handlers that set
// deadlines relative to now, as ev.AddTimer(ev.Now().Add(d), h), save a
// clock read each (time.Now reads two clocks, 40-80 ns on a VM).
//
// Within one LoopWait or LoopUntil the clock is not read again between
// handlers that run without the loop waiting, so long-running handlers
// make it lag, as in libev; a nested loop call (AllowNesting) reads it
// afresh. Between loop calls the first call reads the clock and later
// ones return that value until the loop runs again. Use time.Now where
// that could be too old. The result carries a monotonic reading, which
// comparisons, Sub and AddTimer use; its wall-clock part is derived from
// it, so after a wall-clock step it can differ from time.Now's. On a
// wrapper it is its main context's clock.
func (ev *Context) Now() time.Time {
	m := ev.loop
	if !m.nowValid {
		m.now, m.nowValid = monoNow(), true
	}
	return fromMono(m.now)
}
