package tsocket

import (
	"net"
)

// Conn is one connection of a Server. Its methods are for the loop that
// owns it (its callbacks, and timers or proxies on Loop().Context());
// other goroutines use Handle. A Conn is recycled after OnClose returns:
// do not keep it; keep a ConnHandle.
type Conn struct {
	connFields
}

// Write queues b to be sent; b is copied, so it may be reused at once. In
// the data callback of c the bytes go out with one system call after the
// callback returns; elsewhere they are written at once. It returns
// len(b), or ErrConnClosed on a closed or closing connection, or
// ErrWriteLimit when the unsent bytes would exceed the write-buffer limit
// (the connection is then closed with that error).
func (c *Conn) Write(b []byte) (int, error) { return c.write(b) }

// Writev is Write for several buffers, sent together.
func (c *Conn) Writev(bufs ...[]byte) (int, error) { return c.writev(bufs) }

// Close closes the connection once its pending output is written (reading
// stops at once); OnClose then gets nil. Idempotent.
func (c *Conn) Close() error { return c.closeGraceful() }

// CloseWrite shuts the sending side down (shutdown(SHUT_WR)) once pending
// output is written; reading goes on until the peer closes.
func (c *Conn) CloseWrite() error { return c.closeWrite() }

// Abort closes the connection now, dropping unsent output; OnClose gets
// err (nil is allowed).
func (c *Conn) Abort(err error) { c.abort(err) }

// Handle returns a goroutine-safe handle to the connection.
func (c *Conn) Handle() ConnHandle { return ConnHandle{c: c, gen: c.gen.Load()} }

// SetContext attaches a user value to the connection.
func (c *Conn) SetContext(v any) { c.user = v }

// Context returns the value given to SetContext (nil at first).
func (c *Conn) Context() any { return c.user }

// Loop returns the loop that owns the connection.
func (c *Conn) Loop() *Loop { return c.loop }

// Fd returns the connection's descriptor (-1 once closed).
func (c *Conn) Fd() int { return int(c.fd) }

// LocalAddr returns the local address (getsockname; nil on error).
func (c *Conn) LocalAddr() net.Addr { return c.sockAddr(false) }

// RemoteAddr returns the peer's address (getpeername; nil on error).
func (c *Conn) RemoteAddr() net.Addr { return c.sockAddr(true) }

// InboundBuffered returns how many received bytes are kept unconsumed.
func (c *Conn) InboundBuffered() int { return c.inLen() }

// OutboundBuffered returns how many bytes wait to be written (in a data
// callback, those staged by it included).
func (c *Conn) OutboundBuffered() int { return c.outBuffered() }

// ConnHandle refers to a connection from any goroutine. It is a small
// value; copy it freely. Its calls run on the connection's loop through
// the loop's thread proxy, in the order each goroutine made them, and do
// nothing to a connection that has closed since, even if its descriptor
// number was reused: every handle carries the generation of the
// connection it was taken from.
type ConnHandle struct {
	c   *Conn
	gen uint32
}

// Write copies b and has it written on the loop. It returns ErrConnClosed
// when the connection is known to be closed; a connection that closes
// before the bytes reach the loop drops them.
func (h ConnHandle) Write(b []byte) error { return h.post(opWrite, b, nil) }

// Close closes the connection gracefully on its loop (Conn.Close).
func (h ConnHandle) Close() error { return h.post(opClose, nil, nil) }

// CloseWrite half-closes the connection on its loop (Conn.CloseWrite).
func (h ConnHandle) CloseWrite() error { return h.post(opCloseWrite, nil, nil) }

// Do runs fn on the connection's loop with the connection, if it is still
// the same connection by then.
func (h ConnHandle) Do(fn func(c *Conn)) error { return h.post(opDo, nil, fn) }

// Valid reports whether the handle was taken from a connection (the zero
// ConnHandle is not). It does not say the connection is still open.
func (h ConnHandle) Valid() bool { return h.c != nil }
