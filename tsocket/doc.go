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
// # Servers
//
// For a server that serves many connections with callbacks (open, data,
// close) rather than requests, use package
// github.com/gotevent/tevent/tserver, the server fast path: no request,
// buffer or goroutine per idle connection.
package tsocket
