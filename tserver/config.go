package tserver

import (
	"crypto/tls"
	"log"
	"time"

	"github.com/gotevent/tevent"
)

// Defaults of Config's limits.
const (
	// DefaultReadBufferSize is the size of each loop's shared read buffer.
	DefaultReadBufferSize = 64 << 10
	// DefaultMaxWriteBuffer is how many unsent bytes a connection may hold
	// (4 MiB): a Write that would leave more unsent returns ErrWriteLimit
	// and closes the connection with it.
	DefaultMaxWriteBuffer = 4 << 20
	// DefaultWriteHighWater is the unsent output at which a connection
	// becomes Backlogged (1 MiB).
	DefaultWriteHighWater = 1 << 20
	// DefaultWriteLowWater is the unsent output at or below which a
	// Backlogged connection gets OnWritable (256 KiB).
	DefaultWriteLowWater = 256 << 10
	// DefaultMaxInbound is how many received bytes a connection may hold
	// unconsumed before it is closed with ErrInboundLimit (4 MiB).
	DefaultMaxInbound = 4 << 20
	// DefaultLingerTimeout is how long a gracefully closed connection
	// drains its peer's input, waiting for the peer to close, before its
	// descriptor is closed anyway.
	DefaultLingerTimeout = 5 * time.Second
	// DefaultLingerMax is how many bytes a lingering connection drops
	// before it is closed anyway (16 MiB). Dropping costs no memory (the
	// loop's read buffer is used) and one read per ReadBufferSize bytes.
	DefaultLingerMax = 16 << 20
	// DefaultAcceptBackoff is how long a listener pauses after accept fails
	// with EMFILE or ENFILE.
	DefaultAcceptBackoff = 100 * time.Millisecond
	// DefaultBacklog is the listen backlog.
	DefaultBacklog = 4096
)

// Config configures New. The zero value (or nil) is one loop on
// a default-backend context, no idle timeout, and the default limits.
type Config struct {
	// Loops is how many loops (tevent contexts, each driven by its own
	// goroutine) the server spreads its connections over. 0 means 1.
	// Ignored when Contexts is set.
	Loops int
	// Contexts, when set, are the loops: contexts the caller created and
	// drives itself (LoopWait, LoopUntil) on one goroutine each. New
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
	// (0: DefaultMaxWriteBuffer; negative: unlimited). It counts only
	// what the peer has not taken: Write first hands bytes to the socket,
	// and only the rest is kept. A Write that would exceed it returns
	// ErrWriteLimit and closes the connection with that reason.
	MaxWriteBuffer int
	// WriteHighWater is the unsent output at which a connection becomes
	// Backlogged; WriteLowWater the level at or below which it stops
	// being so and OnWritable is called (WritableHandler). 0 means
	// DefaultWriteHighWater and DefaultWriteLowWater; the high mark is
	// capped at MaxWriteBuffer, and a low mark not below the high one is
	// taken as a quarter of it.
	WriteHighWater, WriteLowWater int
	// MaxInbound is how many received bytes a connection may hold
	// unconsumed (0: DefaultMaxInbound; negative: unlimited).
	MaxInbound int
	// LingerTimeout bounds the lingering of a graceful close (Conn.Close,
	// Shutdown): after the output is written and the sending side shut
	// down, input is drained until the peer closes, for at most this long
	// (0: DefaultLingerTimeout; negative: no lingering, the descriptor is
	// closed as soon as the output is written, and a peer still sending
	// then may be reset and lose output). A lingering connection still
	// counts as open (Stats.Conns; Shutdown waits for it).
	LingerTimeout time.Duration
	// LingerMax bounds the bytes a lingering connection reads and drops
	// (0: DefaultLingerMax).
	LingerMax int
	// AcceptBackoff is the pause after EMFILE/ENFILE on accept
	// (0: DefaultAcceptBackoff).
	AcceptBackoff time.Duration
	// Backlog is the listen backlog (0: DefaultBacklog).
	Backlog int
	// ErrorLog receives the reports of contained handler panics (with
	// their stacks); nil means the log package's standard logger
	// (log.Printf), as net/http does.
	ErrorLog *log.Logger
	// PropagatePanics lets a panic in a handler (OnOpen, OnData, OnClose,
	// OnWritable, a ConnHandle.Do or Loop.Schedule function) leave the
	// loop call, which on a loop the server drives ends the process. By
	// default the panic is recovered on the loop, logged with its stack,
	// counted in Stats.Panics, and the connection closed with the panic
	// as a *tevent.PanicError (errors.As in OnClose); a panic in OnClose
	// is logged and counted only.
	PropagatePanics bool
	// SocketReadBuffer and SocketWriteBuffer, when positive, are set as
	// SO_RCVBUF and SO_SNDBUF on every accepted (and adopted) socket; 0
	// leaves the kernel's defaults and autotuning. (Linux doubles the
	// value for its bookkeeping and caps it at net.core.rmem_max and
	// wmem_max; the TCP window scale was agreed at the handshake, on the
	// listener's buffer, so a large read buffer is best also set on the
	// listening socket, e.g. with ListenFD.)
	SocketReadBuffer, SocketWriteBuffer int
	// Delay keeps Nagle's algorithm on accepted TCP sockets; by default
	// they get TCP_NODELAY.
	Delay bool

	// TLS, when set, makes every accepted connection a TLS server
	// connection over standard crypto/tls (see tls.go's overview in the
	// package documentation): the handshake runs first, and OnOpen is
	// called only once it succeeded; OnData gets plaintext; Write and
	// Writev encrypt; Close sends close_notify. A connection whose
	// handshake fails never reaches the Handler (Stats.TLSHandshakeErrors
	// counts it). The config is used as given (Certificates or
	// GetCertificate, NextProtos, ClientAuth, session tickets...); its
	// callbacks run on handshake goroutines, not on the loops. nil: plain
	// connections.
	TLS *tls.Config
	// TLSHandshakeTimeout bounds a TLS handshake from accept, time queued
	// behind the handshake limit included (0: DefaultTLSHandshakeTimeout,
	// 10 s; negative: no bound but IdleTimeout's).
	TLSHandshakeTimeout time.Duration
	// TLSMaxHandshakes, when positive, bounds this server's TLS
	// handshakes running at once (each on a goroutine, parked between the
	// client's flights), with TLSMaxQueuedHandshakes more waiting
	// without a goroutine; a connection beyond both is closed at once
	// (counted in Stats.TLSHandshakeErrors). 0 (the default) shares one
	// process-wide limit with tsocket's TLS streams:
	// DefaultTLSMaxHandshakes running, DefaultTLSMaxQueuedHandshakes
	// queued. A handshake takes its place only once the client's first
	// byte arrives: a client that never speaks holds no goroutine.
	TLSMaxHandshakes, TLSMaxQueuedHandshakes int
}
