// Package tserver is the server fast path of tevent: a callback API for
// servers in the style of gnet and nbio, beside package tsocket's request
// layer (streams and datagrams as tevent requests). A Server accepts
// connections and spreads them over one or more tevent loops; a Handler is
// told when a connection opens, when bytes arrive and when it closes.
// Nothing is allocated per idle connection but the connection itself
// (an 80-byte Conn, its 64-byte fd event and the loop's records of it: a
// 56-byte descriptor state, a 24-byte slot in the server scope's child
// table, 8 to 21 bytes in tables indexed by descriptor): no goroutine, no
// read buffer, no timer, no closure, no map entry. Each loop has one read
// buffer that every connection on it shares; a connection holds buffers of
// its own only while it has bytes pending (unconsumed input or unsent
// output).
//
// The data callback is handed the loop's read buffer and returns how many
// bytes it consumed; the rest is kept and handed back, with the new bytes
// appended, on the next call. Conn.Write and Conn.Writev copy into the
// loop's staging buffer, which is written with one system call after the
// data callback returns: one read and one write per message, and the fd's
// kernel interest changes only when a write comes up short.
//
//	type echo struct{ tserver.BaseHandler }
//
//	func (echo) OnData(c *tserver.Conn, in []byte) int {
//		c.Write(in)
//		return len(in)
//	}
//
//	srv, err := tserver.New(echo{}, &tserver.Config{Loops: 2})
//	if err != nil { ... }
//	if _, err := srv.Listen("tcp", "127.0.0.1:7000"); err != nil { ... }
//	go func() { <-stop; srv.Shutdown(time.Now().Add(5 * time.Second)) }()
//	err = srv.Run() // returns once every connection is closed
//
// Every callback runs on the loop that owns the connection, one at a time,
// so per-connection state (Conn.SetContext) and per-loop state need no
// locks. From other goroutines use a ConnHandle (Conn.Handle), whose Write
// and Close ride the loop's thread proxy and carry the connection's
// generation, so a handle kept after its connection closed can never write
// to a new connection that got the same descriptor number.
//
// The loops are ordinary tevent contexts (Loop.Context): add timers,
// proxies and requests to them. Config.Contexts lets the caller supply
// contexts it created and drives itself.
//
// Output and backpressure: Write hands bytes to the socket at once (or,
// in OnData, after it returns) and keeps what the socket does not take,
// up to Config.MaxWriteBuffer; a Write over it returns ErrWriteLimit and
// closes the connection. A handler that produces output at its own pace
// writes while Conn.Backlogged is false and resumes in OnWritable (see
// WritableHandler, Config.WriteHighWater and WriteLowWater).
//
// Closing: Conn.Close and Server.Shutdown close gracefully: output
// written, then shutdown(SHUT_WR), then the peer's input drained until
// its EOF (Config.LingerTimeout, LingerMax), then close, so that no reset
// throws away output the peer has not read. Conn.Abort and Server.Close
// close at once. Shutdown stops accepting and forces what is left at its
// deadline; both may be called from any goroutine, handlers included.
// If a loop's context is stopped (tevent.Context.Stop) or freed under
// the server, the whole server closes, with a reason wrapping
// ErrServerClosed and the cause, which Wait returns.
//
// A handler's panic is contained to its connection, as in net/http:
// logged with its stack (Config.ErrorLog), counted (Stats.Panics), the
// connection closed with the panic as a *tevent.PanicError
// (Config.PropagatePanics turns this off). A Conn used from another
// goroutine while its loop waits returns ErrNotOnLoop.
//
// # What a hostile peer can make the server spend
//
// Each cost is bounded by a limit, and a test shows the bound holding:
//
//   - Memory per open connection: the Conn and its fd event, nothing
//     else while idle (at most 300 bytes of heap, and at most 320
//     allocated to set it up, on every backend:
//     TestServerIdleHeapPerConn; resident memory grows by about 0.26 KB
//     per connection on epoll, 0.28 on io_uring and 0.29 on poll,
//     measured with 10,000 idle connections held by a client process);
//     connections are bounded by the
//     descriptor limit (RLIMIT_NOFILE), and accept pauses for
//     Config.AcceptBackoff when it is reached instead of spinning
//     (TestServerEMFILE, TestServerManyConnsDropped).
//   - Time a connection may stay open doing nothing: Config.IdleTimeout,
//     Conn.SetIdleTimeout; a peer that trickles a byte now and then
//     resets an idle timeout, so bound it with Conn.SetDeadline
//     (TestServerIdleTimeout, TestServerConnDeadlineAndIdleTimeout).
//   - Inbound memory: what the handler leaves unconsumed, at most
//     Config.MaxInbound per connection (4 MiB; ErrInboundLimit;
//     TestServerInboundLimit). Bytes the handler consumes cost nothing
//     beyond the loop's one read buffer (Config.ReadBufferSize, 64 KiB
//     per loop, shared).
//   - Outbound memory: output the peer does not read, at most
//     Config.MaxWriteBuffer per connection (4 MiB; ErrWriteLimit;
//     TestServerWriteLimit, TestServerBigWriteInOnData,
//     TestServerWriteOverLimitOutsideOnData), less with backpressure
//     (TestServerBackpressure). The loop's staging buffer is at most
//     ReadBufferSize.
//   - CPU per byte: one read system call per ReadBufferSize bytes
//     (fewer bytes per read when the peer sends small pieces: one read and
//     one OnData call per readiness), one write per OnData call that
//     wrote. After a graceful close, input is dropped at one read per
//     ReadBufferSize bytes, for at most Config.LingerMax bytes (16 MiB)
//     and Config.LingerTimeout (5 s) (ErrLingerLimit;
//     TestServerLingerLimits).
//   - Time to shut down: the Shutdown deadline, which later calls only
//     move earlier (TestServerShutdownDeadline,
//     TestServerShutdownLaterDeadlineKeepsEarlier).
//
// FuzzServer drives the server with peers that split, stall, half-close
// and reset at random, and checks that every client gets exactly its own
// bytes.
//
// Stats reports connections, bytes both ways, closes by reason, accept
// back-offs, dropped handle writes and contained panics. Server.Adopt
// takes a connection accepted elsewhere (with bytes already read from
// it, AdoptWith).
//
// # TLS
//
// Config.TLS serves TLS over standard crypto/tls, unforked. A connection's
// handshake runs on a goroutine (started only when the client's first
// byte arrives) over bytes the loop reads for it; OnOpen is called once it
// succeeded, and a connection whose handshake fails (bad certificate,
// garbage, Config.TLSHandshakeTimeout, the handshake limit, Shutdown)
// never reaches the Handler: Stats.TLSHandshakeErrors counts it, nothing
// is logged. Handshakes in flight are bounded (Config.TLSMaxHandshakes, or
// a process-wide limit of DefaultTLSMaxHandshakes running and
// DefaultTLSMaxQueuedHandshakes queued; beyond it a connection is closed
// at once), and so is what a client may send before its handshake ends
// (MaxTLSHandshakeInput: reading pauses). After it, records are decrypted
// and encrypted on the loop: OnData gets plaintext (MaxInbound counts
// plaintext), Write and Writev encrypt into the same staging and output
// buffers as plain bytes (OutboundBuffered and the write limits count
// ciphertext), Close and CloseWrite send close_notify, and
// Conn.TLSState reports the negotiated state (ALPN, SNI, client
// certificates, resumption). OnClose gets io.EOF after the peer's
// close_notify, ErrTLSTruncated when the stream ended without one,
// ErrTLSProtocol for a record that fails. An idle TLS connection holds
// crypto/tls's own state (its record buffer keeps the size of the
// largest record received, golang/go#43563) but no pooled buffer.
package tserver
