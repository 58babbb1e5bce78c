package tserver

import (
	"errors"
	"fmt"

	"github.com/gotevent/tevent"
)

// Errors of the server fast path. Match them with errors.Is.
var (
	// ErrServerClosed is the close reason of connections closed by
	// Server.Close or by a Shutdown deadline, and the error of calls on a
	// server or loop that has shut down.
	ErrServerClosed = errors.New("tserver: server closed")
	// ErrConnClosed is returned by writes and closes on a connection that
	// is closed or closing.
	ErrConnClosed = errors.New("tserver: connection closed")
	// ErrIdleTimeout is the close reason of a connection that read and
	// wrote nothing for Config.IdleTimeout.
	ErrIdleTimeout = errors.New("tserver: connection idle timeout")
	// ErrDeadline is the close reason of a connection whose deadline
	// (Conn.SetDeadline) passed.
	ErrDeadline = errors.New("tserver: connection deadline exceeded")
	// ErrWriteLimit is the close reason of a connection whose unsent
	// output would exceed Config.MaxWriteBuffer (a peer that does
	// not read).
	ErrWriteLimit = errors.New("tserver: write buffer limit exceeded")
	// ErrInboundLimit is the close reason of a connection holding more
	// than Config.MaxInbound received bytes unconsumed.
	ErrInboundLimit = errors.New("tserver: inbound buffer limit exceeded")
	// ErrLingerLimit is the close reason of a connection closed
	// gracefully (Conn.Close, Shutdown) whose peer went on sending past
	// Config.LingerTimeout or Config.LingerMax bytes after the server's
	// EOF: its descriptor was closed with input unread, so the kernel may
	// have reset the connection and the peer may have lost output.
	ErrLingerLimit = errors.New("tserver: peer kept sending after a graceful close")
	// ErrNotOnLoop is returned by a Conn's Write, Writev, Close and
	// CloseWrite called from a goroutine other than its loop's (seen when
	// that loop waits in the kernel, for one atomic load: the race
	// detector sees the rest). It wraps tevent.ErrConcurrentUse. Other
	// goroutines use a ConnHandle.
	ErrNotOnLoop = fmt.Errorf("tserver: Conn used from a goroutine other than its loop's; use a ConnHandle: %w", tevent.ErrConcurrentUse)
	// ErrHandler is the close reason of a connection whose handler broke
	// the Handler contract (OnData returning a count outside [0,
	// len(in)]); the error says how.
	ErrHandler = errors.New("tserver: handler misbehaved")
	// ErrServerStarted is returned by calls that must come before Start.
	ErrServerStarted = errors.New("tserver: server already started")
)
