// Package tlsengine runs TLS connections on an event loop with the
// standard crypto/tls, unforked: the layer under tsocket's TLS stream and
// tserver's TLS connections.
//
// An Engine is one connection. The loop moves bytes: it feeds the
// ciphertext it reads from the socket (Feed, FeedEOF) and sends the
// ciphertext the engine produces (AppendOutput, or AppendWrite, which
// encrypts straight into the caller's buffer).
//
// # The handshake runs on a goroutine
//
// crypto/tls's handshake cannot stop halfway and resume: an error during
// it is remembered for good (Conn.handshakeContext keeps handshakeErr), so
// a "would block" would end the connection. The engine runs it on a
// goroutine, over a blocking adapter the loop feeds; the goroutine parks
// between the peer's flights. Config.Notify wakes the loop after each
// flight of output and when the handshake ends (the loop side makes it
// loop-safe: a tevent ThreadProxy.Schedule). The handshake is bounded in
// time (Config.HandshakeTimeout, default DefaultHandshakeTimeout,
// counted from Start) and in number: a Limiter (default: one per
// process, DefaultMaxHandshakes running, DefaultMaxQueuedHandshakes
// queued without a goroutine, beyond that ErrHandshakeLimit). A server
// engine takes a goroutine only once the client's first bytes arrive.
// Close ends a handshake in progress; its goroutine exits promptly.
// tls.Config callbacks (GetCertificate, VerifyPeerCertificate, ...) run
// on the handshake goroutine.
//
// # Records run on the loop
//
// After the handshake the loop reads and writes records itself, through
// a non-blocking adapter: its Read returns ErrWouldBlock (a net.Error
// whose Timeout and Temporary are true) when no byte is buffered, and
// crypto/tls does not remember such an error (conn.go readRecordOrCCS:
// only a net.Error with Temporary() == true is not made sticky). That is
// deprecated API; TestCryptoTLSTemporaryReadErrorIsNotSticky fails loudly
// if a Go release changes it. Engine.Read returns ErrWouldBlock until a
// whole record is buffered, io.EOF after the peer's close_notify,
// ErrTruncated when the stream ends without one.
//
// # Errors
//
// Handshake failures wrap ErrHandshake and crypto/tls's error (match a
// *tls.CertificateVerificationError, a tls.RecordHeaderError... with
// errors.As), or ErrHandshakeTimeout, ErrHandshakeLimit; a fatal alert
// from the peer also wraps ErrPeerAlert. Record failures after the
// handshake wrap ErrProtocol. After a failure, the output may hold an
// alert for the peer: send it before closing.
//
// # Memory
//
// The adapter's input and output buffers come from a pool and go back
// to it as soon as they are empty, so an idle engine holds none.
// crypto/tls's own buffers cannot be shrunk from outside: its record
// input buffer grows to the largest record received and keeps that size
// (golang/go#43563), and its handshake buffer keeps the size of the
// largest handshake message. Measured on Go 1.26, linux/amd64, heap per
// idle server engine (TestIdleMemory with TLSENGINE_MEM_N=2000): about
// 6.9 KB after the handshake or a small record, 23.2 KB after a 16 KiB
// record. Per record on the steady path the engine allocates nothing;
// crypto/tls allocates one 24-byte value per record read
// (TestAllocsPerRecord): the adapter hands it one record at a time, so
// the engine knows when it holds nothing and answers ErrWouldBlock
// without asking it. A handshake takes at most MaxHandshakeInput bytes
// (ErrHandshakeInput).
package tlsengine
