package tserver

// ConnHandle refers to a connection from any goroutine. It is a small
// value; copy it freely. Its calls run on the connection's loop through
// the loop's thread proxy, in the order each goroutine made them, and do
// nothing to a connection that has closed since, even if its descriptor
// number was reused: a handle refers to its Conn, and a Conn to one
// connection for life.
type ConnHandle struct {
	c *Conn
}

// Write copies b and has it written on the loop. It returns ErrConnClosed
// when the connection is closed or closing, and ErrServerClosed once the
// server is shutting down: the bytes will not be sent. A connection that
// starts closing after the check but before the bytes reach the loop
// drops them; Stats.DroppedWrites counts those.
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

func (h ConnHandle) post(k opKind, b []byte, fn func(*Conn)) error {
	c := h.c
	if c == nil || c.done.Load() {
		return ErrConnClosed
	}
	if c.loop.srv.stopping.Load() {
		return ErrServerClosed
	}
	if k == opDo && fn == nil {
		panic("tserver: ConnHandle.Do called with a nil function")
	}
	var cp []byte
	if len(b) > 0 {
		cp = append([]byte(nil), b...)
	}
	if err := c.loop.post(op{kind: k, c: c, b: cp, fn: fn}); err != nil {
		return ErrConnClosed
	}
	return nil
}
