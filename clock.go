package tevent

import "time"

// clockBase anchors the monotonic clock: deadlines are kept as nanoseconds
// since it, which compare and store more cheaply than time.Time.
var clockBase = time.Now()

func monoNow() int64 { return int64(time.Since(clockBase)) }

func toMono(t time.Time) int64 { return int64(t.Sub(clockBase)) }

func fromMono(ns int64) time.Time { return clockBase.Add(time.Duration(ns)) }

// Now returns the loop's notion of the current time, on the monotonic
// clock: the clock is read on the first call in each loop turn and the
// same value is returned until the turn ends (libev's ev_now). Handlers
// that compute many deadlines, as ev.AddTimer(ev.Now().Add(d), h), save a
// clock read each (time.Now reads two clocks, 40-80 ns on a VM).
//
// Between loop calls the first call reads the clock and later calls
// return that value until the loop turns again; use time.Now where that
// could be too old. On a wrapper it is its main context's clock.
func (ev *Context) Now() time.Time {
	m := ev.mainContext()
	if !m.turnNowSet {
		m.turnNow = fromMono(monoNow())
		m.turnNowSet = true
	}
	return m.turnNow
}
