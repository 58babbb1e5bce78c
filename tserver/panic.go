package tserver

import (
	"runtime/debug"

	"github.com/gotevent/tevent"
)

// A handler's panic is contained to its connection, as net/http contains
// a panic to its request: recovered on the loop, logged with its stack
// (Config.ErrorLog), counted (Stats.Panics), and the connection closed
// with the panic as a *tevent.PanicError; the loop goes on serving the
// others. Config.PropagatePanics turns this off.

// onOpen calls the handler's OnOpen.
func (l *Loop) onOpen(c *Conn) {
	if l.propagate {
		l.h.OnOpen(c)
		return
	}
	defer l.recoverConn(c, "the tserver handler's OnOpen")
	l.h.OnOpen(c)
}

// onData calls the handler's OnData; 0 after a panic.
func (l *Loop) onData(c *Conn, in []byte) (consumed int) {
	if l.propagate {
		return l.h.OnData(c, in)
	}
	defer l.recoverConn(c, "the tserver handler's OnData")
	return l.h.OnData(c, in)
}

// onClose calls the handler's OnClose.
func (l *Loop) onClose(c *Conn, err error) {
	if l.propagate {
		l.h.OnClose(c, err)
		return
	}
	defer l.recoverConn(c, "the tserver handler's OnClose")
	l.h.OnClose(c, err)
}

// onWritable calls the handler's OnWritable.
func (l *Loop) onWritable(c *Conn) {
	if l.propagate {
		l.wh.OnWritable(c)
		return
	}
	defer l.recoverConn(c, "the tserver handler's OnWritable")
	l.wh.OnWritable(c)
}

// onDo calls a ConnHandle.Do function.
func (l *Loop) onDo(c *Conn, fn func(*Conn)) {
	if l.propagate {
		fn(c)
		return
	}
	defer l.recoverConn(c, "a tserver ConnHandle.Do function")
	fn(c)
}

// onLoopFn calls a Loop.Schedule function.
func (l *Loop) onLoopFn(fn func(*Loop)) {
	if l.propagate {
		fn(l)
		return
	}
	defer l.recoverConn(nil, "a tserver Loop.Schedule function")
	fn(l)
}

// recoverConn, deferred around a handler call, contains its panic: log,
// count, and close c (if not closed already) with the panic as reason.
// where names the call that panicked (the PanicError's Where).
func (l *Loop) recoverConn(c *Conn, where string) {
	x := recover()
	if x == nil {
		return
	}
	pe := &tevent.PanicError{Value: x, Stack: debug.Stack(), Where: where}
	l.stats.panics.Add(1)
	var peer any = "-"
	if c != nil {
		if a := c.RemoteAddr(); a != nil {
			peer = a
		}
	}
	l.srv.logf("panic in %s serving %v (connection closed): %v\n%s", where, peer, x, pe.Stack)
	if c != nil {
		c.Abort(pe)
	}
}
