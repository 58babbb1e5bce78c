package tserver

// Handler receives a server's connection events. All methods run on
// the loop that owns the connection. Embed BaseHandler to implement only
// some of them.
type Handler interface {
	// OnOpen is called once for a new connection, before any OnData. It
	// may Write, SetContext or Close.
	OnOpen(c *Conn)
	// OnData is called with the bytes received and not yet consumed: in
	// is the loop's read buffer (or the connection's own, while bytes are
	// kept), valid only during the call. It returns how many bytes it
	// consumed, from the front; the rest is handed back, with newer bytes
	// appended, on the next call. Writes made during the call are written
	// with one system call after it returns.
	OnData(c *Conn, in []byte) (consumed int)
	// OnClose is called once when the connection is closed, with the
	// reason: io.EOF when the peer closed it cleanly, nil when this side
	// closed it (Conn.Close, Abort(nil)), ErrIdleTimeout, ErrDeadline,
	// ErrWriteLimit, ErrInboundLimit, ErrLingerLimit, an error matching
	// ErrServerClosed (Server.Close, a Shutdown deadline, or a loop's
	// context stopped or freed: then it matches the cause too), a
	// *tevent.PanicError (a contained panic of the handler), ErrHandler,
	// the error given to Abort, or a *net.OpError wrapping the kernel's
	// error (errors.Is(err, syscall.ECONNRESET)). The descriptor is
	// already closed (Fd returns -1). The Conn stays the closed
	// connection for good: calls on it fail with ErrConnClosed.
	OnClose(c *Conn, err error)
}

// WritableHandler is a Handler that wants to know when a connection can
// take more output: a handler that produces output at its own pace (a
// file, a stream, a proxy's other side) writes while Conn.Backlogged is
// false and resumes in OnWritable.
type WritableHandler interface {
	Handler
	// OnWritable is called on the connection's loop when its unsent
	// output, having reached Config.WriteHighWater, drained to
	// Config.WriteLowWater or below (Backlogged is false again). It is
	// not called for a connection that is closing or closed, or after
	// CloseWrite.
	OnWritable(c *Conn)
}

// BaseHandler implements Handler with methods that do nothing (OnData
// consumes everything). Embed it and override what you need.
type BaseHandler struct{}

// OnOpen does nothing.
func (BaseHandler) OnOpen(c *Conn) {}

// OnData discards the input.
func (BaseHandler) OnData(c *Conn, in []byte) int { return len(in) }

// OnClose does nothing.
func (BaseHandler) OnClose(c *Conn, err error) {}
