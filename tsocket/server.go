package tsocket

import (
	"net"
	"time"

	"github.com/gotevent/tevent"
)

// Defaults of ServerConfig's limits.
const (
	// DefaultReadBufferSize is the size of each loop's shared read buffer.
	DefaultReadBufferSize = 64 << 10
	// DefaultMaxWriteBuffer is how many unsent bytes a connection may hold
	// before it is closed with ErrWriteLimit (4 MiB).
	DefaultMaxWriteBuffer = 4 << 20
	// DefaultMaxInbound is how many received bytes a connection may hold
	// unconsumed before it is closed with ErrInboundLimit (4 MiB).
	DefaultMaxInbound = 4 << 20
	// DefaultAcceptBackoff is how long a listener pauses after accept fails
	// with EMFILE or ENFILE.
	DefaultAcceptBackoff = 100 * time.Millisecond
	// DefaultBacklog is the listen backlog.
	DefaultBacklog = 4096
)

// ServerConfig configures NewServer. The zero value (or nil) is one loop on
// a default-backend context, no idle timeout, and the default limits.
type ServerConfig struct {
	// Loops is how many loops (tevent contexts, each driven by its own
	// goroutine) the server spreads its connections over. 0 means 1.
	// Ignored when Contexts is set.
	Loops int
	// Contexts, when set, are the loops: contexts the caller created and
	// drives itself (LoopWait, LoopUntil) on one goroutine each. NewServer
	// must then be called on the goroutine driving Contexts[0] (or before
	// any of them runs) and the server adds its events to them; Run and
	// Wait only wait for the server to finish.
	Contexts []*tevent.Context
	// Backend is the tevent backend of the contexts the server creates
	// (empty: the default).
	Backend string
	// ReadBufferSize is the size of each loop's shared read buffer
	// (0: DefaultReadBufferSize).
	ReadBufferSize int
	// IdleTimeout closes a connection with ErrIdleTimeout when no byte was
	// read or written for this long. 0 (the default) disables it. The
	// check runs on one timer per loop, every IdleTimeout/8 or so, so a
	// connection is closed between IdleTimeout and 9/8 of it.
	IdleTimeout time.Duration
	// MaxWriteBuffer is how many unsent bytes a connection may hold
	// (0: DefaultMaxWriteBuffer; negative: unlimited).
	MaxWriteBuffer int
	// MaxInbound is how many received bytes a connection may hold
	// unconsumed (0: DefaultMaxInbound; negative: unlimited).
	MaxInbound int
	// AcceptBackoff is the pause after EMFILE/ENFILE on accept
	// (0: DefaultAcceptBackoff).
	AcceptBackoff time.Duration
	// Backlog is the listen backlog (0: DefaultBacklog).
	Backlog int
	// Delay keeps Nagle's algorithm on accepted TCP sockets; by default
	// they get TCP_NODELAY.
	Delay bool
}

// EventHandler receives a server's connection events. All methods run on
// the loop that owns the connection. Embed BaseHandler to implement only
// some of them.
type EventHandler interface {
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
	// closed it (Conn.Close), ErrIdleTimeout, ErrWriteLimit,
	// ErrInboundLimit, ErrServerClosed, or a *net.OpError wrapping the
	// kernel's error (errors.Is(err, syscall.ECONNRESET)). The descriptor
	// is already closed; the Conn must not be used after OnClose returns.
	OnClose(c *Conn, err error)
}

// BaseHandler implements EventHandler with methods that do nothing (OnData
// consumes everything). Embed it and override what you need.
type BaseHandler struct{}

// OnOpen does nothing.
func (BaseHandler) OnOpen(c *Conn) {}

// OnData discards the input.
func (BaseHandler) OnData(c *Conn, in []byte) int { return len(in) }

// OnClose does nothing.
func (BaseHandler) OnClose(c *Conn, err error) {}

// Stats is a snapshot of a server's or a loop's counters.
type Stats struct {
	Conns    int    // open connections
	Accepted uint64 // connections accepted since start
}

// NewServer creates a server that calls h for its connections, with its
// loops (created, or taken from cfg.Contexts) ready; add listeners with
// Listen or ListenFD, then Run (or Start and Wait).
func NewServer(h EventHandler, cfg *ServerConfig) (*Server, error) { return newServer(h, cfg) }

// Listen opens a listening socket ("tcp", "tcp4", "tcp6" with a numeric
// host:port, or "unix" with a path) and accepts on it; it returns the bound
// address (useful with port 0). Call it before Start, or from loop 0.
func (s *Server) Listen(network, address string) (net.Addr, error) { return s.listen(network, address) }

// ListenFD accepts on fd, a listening socket the caller made (or took from
// a net.Listener with File). The server owns fd from then on: it makes it
// non-blocking and closes it at shutdown.
func (s *Server) ListenFD(fd int) error { return s.listenFD(fd) }

// Start starts the loops the server created on goroutines of their own.
// With cfg.Contexts it does nothing: the caller drives the loops.
func (s *Server) Start() error { return s.start() }

// Wait blocks until the server has shut down: listeners closed, every
// connection closed, and the goroutines of the loops it created returned.
// It returns the first error a loop returned.
func (s *Server) Wait() error { return s.wait() }

// Run is Start followed by Wait.
func (s *Server) Run() error {
	if err := s.Start(); err != nil {
		return err
	}
	return s.Wait()
}

// Shutdown stops accepting and closes every connection once its pending
// output is written (their OnClose gets nil, or io.EOF when the peer went
// first); connections still open at deadline are closed with
// ErrServerClosed. It returns at once; Wait waits for the end. Safe from
// any goroutine, handlers included; later calls can only move the deadline
// earlier.
func (s *Server) Shutdown(deadline time.Time) { s.shutdown(deadline) }

// Close stops accepting and closes every connection now, with
// ErrServerClosed, dropping unsent output. Safe from any goroutine. It
// returns at once; Wait waits for the end.
func (s *Server) Close() { s.shutdown(time.Time{}) }

// Loops returns the server's loops, in order.
func (s *Server) Loops() []*Loop { return s.loops }

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr { return s.addrs() }

// Stats sums the loops' counters. Safe from any goroutine.
func (s *Server) Stats() Stats { return s.stats() }

// Context returns the loop's tevent context: add timers, proxies and
// requests to it from its handlers.
func (l *Loop) Context() *tevent.Context { return l.ev }

// Index returns the loop's position in Server.Loops.
func (l *Loop) Index() int { return l.idx }

// Server returns the loop's server.
func (l *Loop) Server() *Server { return l.srv }

// Stats returns the loop's counters. Safe from any goroutine.
func (l *Loop) Stats() Stats { return l.loopStats() }

// Schedule runs fn on the loop's goroutine (through the loop's thread
// proxy). Safe from any goroutine; ErrServerClosed once the loop is gone.
func (l *Loop) Schedule(fn func(l *Loop)) error { return l.schedule(fn) }
