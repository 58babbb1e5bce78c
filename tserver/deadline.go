package tserver

import (
	"time"

	"github.com/gotevent/tevent"
)

// connTimer is the timer of a connection with a deadline or an idle
// timeout of its own.
type connTimer struct {
	te       *tevent.Timer
	deadline int64 // ns since loop.base; 0: none
	idle     int64 // own idle timeout in ns; 0: none
}

// SetDeadline closes the connection with ErrDeadline at t, whatever it is
// doing then; the zero time removes the deadline. It adds to the
// server's idle timeout, it does not replace it.
func (c *Conn) SetDeadline(t time.Time) {
	if c.state == stClosed {
		return
	}
	l := c.loop
	ct := l.connTimer(c, !t.IsZero())
	if ct == nil {
		return
	}
	ct.deadline = 0
	if !t.IsZero() {
		ct.deadline = max(int64(t.Sub(l.base)), 1)
	}
	l.armConn(c, ct)
}

// SetIdleTimeout gives the connection an idle timeout of its own in place
// of Config.IdleTimeout: d > 0 closes it with ErrIdleTimeout when no byte
// was read or written for d (checked by a timer of its own, closed
// between d and d plus the loop's timer lateness); d < 0 exempts it from
// any idle timeout; 0 puts it back under Config.IdleTimeout.
func (c *Conn) SetIdleTimeout(d time.Duration) {
	if c.state == stClosed {
		return
	}
	l := c.loop
	c.ownIdle = d != 0
	if c.ownIdle && l.idle == 0 {
		c.last = l.clock() // touch keeps it current from now on
	}
	ct := l.connTimer(c, d > 0)
	if ct == nil {
		return
	}
	ct.idle = 0
	if d > 0 {
		ct.idle = int64(d)
	}
	l.armConn(c, ct)
}

// connTimer returns c's timer record, making one if make is set.
func (l *Loop) connTimer(c *Conn, make bool) *connTimer {
	if c.timed {
		return l.timers[c]
	}
	if !make {
		return nil
	}
	if l.timers == nil {
		l.timers = map[*Conn]*connTimer{}
	}
	ct := &connTimer{}
	l.timers[c] = ct
	c.timed = true
	return ct
}

// armConn sets c's timer to its next due time, or drops it.
func (l *Loop) armConn(c *Conn, ct *connTimer) {
	due := ct.deadline
	if ct.idle > 0 {
		if d := c.last + ct.idle; due == 0 || d < due {
			due = d
		}
	}
	if due == 0 {
		l.dropTimer(c)
		return
	}
	at := l.base.Add(time.Duration(due))
	if ct.te == nil {
		ct.te = l.scope.AddTimer(at, func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
			l.connTimerFired(c, now)
		})
		return
	}
	ct.te.Update(at)
}

// connTimerFired closes c if its deadline or own idle time is over, or
// re-arms its timer.
func (l *Loop) connTimerFired(c *Conn, now time.Time) {
	ct := l.timers[c]
	if ct == nil || c.state == stClosed {
		return
	}
	t := int64(now.Sub(l.base))
	switch {
	case ct.deadline != 0 && ct.deadline <= t:
		c.Abort(ErrDeadline)
	case ct.idle > 0 && c.last+ct.idle <= t:
		c.Abort(ErrIdleTimeout)
	default:
		l.armConn(c, ct) // re-arms the timer that fired
	}
}

// dropTimer removes c's timer.
func (l *Loop) dropTimer(c *Conn) {
	if ct := l.timers[c]; ct != nil && ct.te != nil {
		ct.te.Free()
	}
	delete(l.timers, c)
	c.timed = false
}
