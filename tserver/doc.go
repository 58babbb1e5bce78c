// Package tserver is the server fast path of tevent: a callback API for
// servers in the style of gnet and nbio, beside package tsocket's request
// layer (streams and datagrams as tevent requests). A Server accepts
// connections and spreads them over one or more tevent loops; a Handler is
// told when a connection opens, when bytes arrive and when it closes.
// Nothing is allocated per idle connection but the connection itself
// (about 230 bytes with its fd event and the loop's records of it): no
// goroutine, no read buffer, no timer, no closure. Each loop has one read
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
// Limits (Config): an idle timeout (one timer per loop sweeping a list
// kept in order of last activity), a write-buffer limit (DefaultMaxWriteBuffer;
// a client that does not read is closed with ErrWriteLimit), an inbound
// limit (DefaultMaxInbound bytes buffered unconsumed; ErrInboundLimit).
// Server.Shutdown stops accepting, lets connections flush and closes them,
// forcing the rest at a deadline; Server.Close closes everything at once.
// Both may be called from any goroutine, handlers included. When accept
// fails for lack of descriptors (EMFILE, ENFILE), the listener is paused
// for Config.AcceptBackoff instead of spinning the loop.
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
