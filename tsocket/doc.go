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
// # Streams and their implementations
//
// A *Stream is Samba's tstream_context: the generic layer every caller
// holds, over a StreamOps implementation that moves the bytes (the contract
// is at the top of stream.go). The socket stream (NewStream, StreamPair,
// Connect, Accept) is one; MemoryPair is another, two Streams connected in
// memory through a bounded buffer, for tests of code written against
// *Stream; NewCustomStream wraps any other (tstream_context_create), and
// TakeOps hands a stream's implementation to a layer stacked on it (TLS
// over a socket). The rules below hold for every implementation; package
// tsocket/streamtest is the suite that checks them: an implementation
// calls streamtest.Run from its own test with a function that makes two
// connected ends, as the socket, memory and TLS streams do. The contract
// (non-blocking Readv and Writev that say ErrWouldBlock, readiness
// reported through a StreamNotifier from the loop, optional capabilities
// such as FDStreamOps and ErrorWatcher) is at the top of stream.go and on
// StreamOps. ExampleNewCustomStream stacks a layer on one end of a
// MemoryPair; ExampleMemoryPair uses the pair as it comes.
//
// Beyond reads and writes: WaitForRead (wait_for_read_send, with its
// check_errors), Monitor (tstream_monitor_send: a request that finishes
// when the stream fails), FailReadvFirstError
// (tstream_bsd_fail_readv_first_error), Dgram.Disconnect
// (tdgram_disconnect_send) and Address.IsInetFamily
// (tsocket_address_is_inet). WithContext cancels a request when a
// context.Context is done.
//
// # TLS
//
// TLSConnect and TLSAccept (Samba's tstream_tls_connect_send and
// tstream_tls_accept_send, source4/lib/tls) run a handshake over a stream
// and finish with a new *Stream that encrypts what is written to it and
// decrypts what is read; ExampleTLSAccept runs both ends on one loop. The
// TLS stream takes the plain stream's implementation over with TakeOps,
// so it works over any implementation (a socket, a MemoryPair, your own),
// and every rule above holds on it: it passes tsocket/streamtest. After
// the handshake, io.EOF is the peer's close_notify and ErrTLSTruncated (an
// io.ErrUnexpectedEOF) a stream that ended without one; CloseWrite sends
// close_notify, and freeing the stream sends it best-effort, lingering up
// to 2 s for the lower stream to take it. TLSState gives the negotiated
// version, ALPN protocol, SNI name, peer certificates and resumption.
//
// It is the standard crypto/tls, not a fork (the forks other event-loop
// libraries carry are pinned to old Go releases and miss their security
// fixes). crypto/tls's handshake cannot stop halfway and resume, since
// an error during it is kept for good, so the handshake runs on a
// goroutine of internal/tlsengine over a blocking adapter that the loop
// feeds with the ciphertext it reads; the goroutine parks between the
// peer's flights, and its progress reaches the loop through a
// ThreadProxy made for the handshake and freed when it ends. tls.Config
// callbacks (GetCertificate, VerifyPeerCertificate ...) therefore run on
// that goroutine, not the loop's. After the handshake everything runs on
// the loop: a read decrypts what the engine holds and, when it holds no
// whole record, reads what the lower stream has into a pooled buffer and
// feeds it; a write encrypts straight into a pooled output buffer written
// to the lower stream at once. crypto/tls does not remember a read error
// whose Temporary() is true, which is what lets records be read
// non-blocking; that is deprecated API, and a test in internal/tlsengine
// fails loudly if a Go release changes it.
//
// Handshakes are bounded. TLSOptions.HandshakeTimeout (zero:
// DefaultTLSHandshakeTimeout, 10 s, counted from the start, time queued
// included) fails one that takes too long with ErrTLSHandshakeTimeout. A
// TLSLimiter (TLSOptions.Limiter; nil: one per process,
// DefaultTLSMaxHandshakes running and DefaultTLSMaxQueuedHandshakes
// queued without a goroutine) refuses more with ErrTLSHandshakeLimit; a
// server's handshake takes its place only once the client's first bytes
// arrive, so a client that connects and says nothing holds no goroutine.
// Every failure matches with errors.Is: ErrTLSHandshake for the
// handshake (a bad certificate: errors.As a
// *tls.CertificateVerificationError), ErrTLSProtocol for a record that
// fails after it, ErrTLSPeerAlert with either when the peer sent the
// alert.
//
// What an idle TLS stream costs: the pooled buffers go back to their
// pools as soon as they are empty, so an idle stream holds none; what
// stays is crypto/tls's own state, whose record input buffer grows to the
// largest record received and never shrinks (golang/go#43563). Heap per
// TLS stream on top of its socket stream (TestTLSIdleMemory with
// TSOCKET_TLS_MEM_N=1000, i.e. 2,000 streams, Go 1.26, linux/amd64):
// about 7.2 KB after the handshake, 7.9 KB after a 64-byte record each
// way, 18.6 KB after a 16 KiB record each way; the socket stream under it
// is about 1.2 KB. A 16-byte message written and read costs 1 allocation
// more than on the socket stream, crypto/tls's per record read
// (TestTLSAllocsPerMessage). A handshake reads at most
// MaxTLSHandshakeInput from the lower stream before it ends, and fails
// with ErrTLSHandshakeInput when it needs more.
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
//   - A descriptor belongs to one Stream or Dgram: NewStream or NewDgram
//     on a number another one owns fails with ErrFDInUse. A descriptor
//     closed behind a stream's back, whose number may now name another
//     socket, is given up: the stream's requests fail with ErrFDLost, it
//     never reads that number again nor closes it (the stream checks the
//     socket's identity, fstat's device and inode, on a wake-up after its
//     interest changed, on every wake-up with a backend that watches
//     numbers rather than files, and before it closes). A read or write
//     tried at once, before any wake-up, is not checked: do not close a
//     stream's descriptor.
//   - Misuse is reported as the core reports its own: a request made from
//     a goroutine that is not the loop's while the loop waits fails with
//     tevent.ErrConcurrentUse (its Result says so; it cannot be posted to
//     a loop another goroutine drives), one owned by a scope of another
//     context with tevent.ErrWrongContext.
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
// # What a peer can make a stream spend
//
//   - Per PDU: ReadPDUBlob accepts at most DefaultMaxPDU (16 MiB) unless
//     ReadPDUBlobLimit says otherwise, fails with ErrPDUTooLarge as soon
//     as a larger size is announced, and grows its buffer as the bytes
//     arrive: a peer that announces 1 GiB and sends 1 KiB costs about
//     what it sent (TestReadPDUBlobGrowsAsBytesArrive). ReadvPDU reads
//     into the caller's vectors: its next-vector function is where a
//     size is checked.
//   - Per write queue: the WritevQueue requests of one stream hold at
//     most DefaultWriteQueueBytes (16 MiB) in DefaultWriteQueueWrites
//     (4096) writes, SetWriteQueueLimit sets others; beyond, a write fails
//     at once with ErrQueueFull, and QueuedWrites shows how full it is
//     (TestWritevQueueBounded). A single Writev holds only the caller's
//     buffers.
//   - CPU: a send that cannot progress waits for readiness, or, for a
//     unix datagram sent to a full receiver (which polls writable while
//     sendto fails), on a back-off of 1 ms doubling to 100 ms
//     (TestSendToFullUnixReceiverDoesNotSpin).
//
// # Cost
//
// Readv, ReadvPDU and Writev allocate nothing beyond the request itself,
// whatever the implementation (the stream keeps the state of its one read
// and one write, and up to 8 vectors go to the implementation in one
// call without an allocation); WritevQueue on an empty queue adds nothing
// when the write goes out at once and the request's record of its queue
// entry when it waits, and on a busy one a queue entry and a record of
// the waiting write (TestAllocsWritevQueue). ReadPDUBlob allocates
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
