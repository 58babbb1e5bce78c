// Package tsocket puts sockets on a tevent loop: Samba's lib/tsocket
// (tstream, tdgram, tsocket_address) and lib/async_req/async_sock.c,
// rebuilt on tevent's requests (tevent.Req[T]).
//
// # Addresses
//
// An Address is an IPv4 or IPv6 address with a port, or a unix path, made
// from numeric strings only: InetAddress("ip", "10.0.0.1", 445),
// ParseInet("ipv6", "[::1]:445", 0), UnixAddress("/run/x.sock"). Host names
// are refused with ErrHostName, because resolving would block the loop:
// resolve first (with net.Resolver on a tevent.Go request) and pass the
// numbers. String prints Samba's form ("ipv4:10.0.0.1:445"); NetAddr gives
// the net.Addr view.
//
// # Requests
//
// Every operation that waits is a request: Connect, Listener.Accept,
// Stream.Readv, Stream.Writev, Stream.ReadvPDU, ReadPDUBlob, WritevQueue,
// Dgram.RecvFrom, Dgram.SendTo and the rest return a *tevent.Req owned by
// the scope passed in. Set a callback with SetCallback and take the result
// with Result, or wait with Poll. Each request is tried at once, as Samba
// does: a write that fits the socket buffer is done before its function
// returns (its callback still runs on a later loop turn).
//
//	r := st.Readv(s, hdr)              // exactly len(hdr) bytes
//	r.SetCallback(func(r *tevent.Req[int]) {
//		if _, err := r.Result(); err != nil { ... }
//	})
//
// A stream has at most one read request and one write request in flight; a
// second of the same kind fails with ErrBusy (Samba's EBUSY). To let many
// writers share a stream, queue them: WritevQueue with a tevent.Queue
// writes each vector whole and in order, and writes at once when the queue
// is empty. ReadvPDUQueue does the same for readers. Disconnect is refused
// with ErrBusy while I/O is pending. Datagram sockets allow one RecvFrom and
// one SendTo in flight; SendToQueue queues sends.
//
// Readv fills its vectors exactly, reading what is missing as it arrives;
// ReadvPDU asks a NextVectorFunc for the next vectors each time they are
// full (a header, then a body of the length the header says), until it
// returns none. ReadPDUBlob is the simpler form for "read n bytes, then
// as many more as they announce".
//
// # Errors and end of stream
//
// Where Samba is vague this package is precise:
//
//   - End of stream is io.EOF when no byte of the current request had
//     arrived, io.ErrUnexpectedEOF after one did (Samba says EPIPE for
//     both). Reads after EOF keep failing with io.EOF; writing goes on
//     (the peer may only have shut down its sending side).
//   - Kernel errors are *net.OpError values wrapping the errno:
//     errors.Is(err, syscall.ECONNRESET) works. They are sticky: once a
//     stream failed, every later request fails with the same error, and a
//     request in flight in the other direction is finished with it too.
//   - Freeing a stream (Free, or freeing the scope that owns it) closes the
//     socket and finishes its pending requests with net.ErrClosed, instead
//     of leaving them unfinished.
//   - Cancel works while no byte of the request has moved. A read or write
//     that is abandoned half done (its end time from SetEndtime passed, or
//     it was freed) loses the stream's framing: the stream is marked broken
//     and later requests in that direction fail with ErrBroken.
//   - A datagram too big for the receive buffer is an error, ErrTruncated,
//     never silently cut.
//   - Bad input is reported with sentinels: ErrBadAddress, ErrHostName,
//     ErrInvalid, ErrNotSocket, tevent.ErrBadFD.
//
// Accept does not spin when the process runs out of descriptors: it fails
// with EMFILE (or ENFILE, ENOBUFS, ENOMEM) and the next Accept waits a
// growing back-off before asking the kernel again.
//
// # Sockets from and to package net
//
// NewStream and NewDgram take over an existing socket descriptor, making
// it non-blocking and close-on-exec. To move a connection from package net
// to the loop, duplicate its descriptor and close the net.Conn:
//
//	f, _ := tcpConn.File()           // a dup, in blocking mode
//	fd, _ := unix.Dup(int(f.Fd()))   // or SyscallConn().Control + unix.Dup
//	f.Close(); tcpConn.Close()
//	st, err := tsocket.NewStream(s, fd)
//
// and back again, with a duplicate the stream does not own:
//
//	fd, _ := unix.Dup(st.Fd())
//	st.Free()
//	f := os.NewFile(uintptr(fd), "conn")
//	c, err := net.FileConn(f)        // dups again; close f
//	f.Close()
//
// # Cost
//
// Readv, ReadvPDU and Writev allocate nothing beyond the request itself
// (the stream keeps the state of its one read and one write, and up to 8
// vectors go to the kernel in one readv/writev without an allocation);
// WritevQueue on an empty queue adds a queue entry. ReadPDUBlob allocates
// its buffer and a sub-request; datagram receives allocate the sender's
// address.
//
// Like everything of a tevent context, streams, listeners and datagram
// sockets are used only from the goroutine that drives the loop.
//
// # Server fast path
//
// Besides the request layer (streams and datagrams as tevent requests),
// the package has a callback API for servers, in the style of gnet and
// nbio: a Server accepts connections and spreads them over one or more
// tevent loops; an EventHandler is told when a connection opens, when bytes
// arrive and when it closes. Nothing is allocated per idle connection but
// the connection itself (about 230 bytes with its fd event and the loop's
// records of it): no goroutine,
// no read buffer, no timer, no closure. Each loop has one read buffer that
// every connection on it shares; a connection holds buffers of its own
// only while it has bytes pending (unconsumed input or unsent output).
//
// The data callback is handed the loop's read buffer and returns how many
// bytes it consumed; the rest is kept and handed back, with the new bytes
// appended, on the next call. Conn.Write and Conn.Writev copy into the
// loop's staging buffer, which is written with one system call after the
// data callback returns: one read and one write per message, and the fd's
// kernel interest changes only when a write comes up short.
//
//	type echo struct{ tsocket.BaseHandler }
//
//	func (echo) OnData(c *tsocket.Conn, in []byte) int {
//		c.Write(in)
//		return len(in)
//	}
//
//	srv, err := tsocket.NewServer(echo{}, &tsocket.ServerConfig{Loops: 2})
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
// proxies and requests to them. ServerConfig.Contexts lets the caller
// supply contexts it created and drives itself.
//
// Limits (ServerConfig): an idle timeout (one timer per loop sweeping a list
// kept in order of last activity), a write-buffer limit (DefaultMaxWriteBuffer;
// a client that does not read is closed with ErrWriteLimit), an inbound
// limit (DefaultMaxInbound bytes buffered unconsumed; ErrInboundLimit).
// Server.Shutdown stops accepting, lets connections flush and closes them,
// forcing the rest at a deadline; Server.Close closes everything at once.
// Both may be called from any goroutine, handlers included. When accept
// fails for lack of descriptors (EMFILE, ENFILE), the listener is paused
// for AcceptBackoff instead of spinning the loop.
package tsocket
