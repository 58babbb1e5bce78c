package tlsengine

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// Sentinel errors. Errors returned by an Engine are one of these or wrap
// one of these (and, where crypto/tls produced the failure, crypto/tls's
// error too), so match them with errors.Is and errors.As.
var (
	// ErrWouldBlock is returned by Engine.Read when no whole record is
	// buffered: feed more ciphertext and call Read again. It is also the
	// error the non-blocking adapter gives crypto/tls: it implements
	// net.Error with Timeout() and Temporary() true, which crypto/tls
	// does not make sticky.
	ErrWouldBlock error = wouldBlockError{}

	// ErrHandshake is wrapped by every handshake failure: crypto/tls's
	// error (a *tls.CertificateVerificationError, a tls.AlertError, a
	// tls.RecordHeaderError, io.EOF...), ErrHandshakeTimeout,
	// ErrHandshakeLimit or a panic in a tls.Config callback.
	ErrHandshake = errors.New("tlsengine: handshake failed")

	// ErrHandshakeTimeout is wrapped (with ErrHandshake) by the error of
	// a handshake that did not finish within Config.HandshakeTimeout,
	// time spent queued behind the Limiter included.
	ErrHandshakeTimeout = errors.New("tlsengine: handshake timed out")

	// ErrHandshakeLimit is wrapped (with ErrHandshake) by the error of
	// Start, or of the Feed that would start a server handshake, when the
	// Limiter has as many handshakes running and queued as it allows.
	ErrHandshakeLimit = errors.New("tlsengine: too many handshakes in flight")

	// ErrHandshakeInput is wrapped (with ErrHandshake) by the error of
	// a handshake that asked for more than MaxHandshakeInput bytes of
	// records from the peer without finishing: a peer streaming an
	// endless handshake message.
	ErrHandshakeInput = errors.New("tlsengine: handshake input over the limit")

	// ErrHandshakePending is returned by Read, Write, AppendWrite and
	// CloseWrite before the handshake has completed.
	ErrHandshakePending = errors.New("tlsengine: handshake not complete")

	// ErrProtocol is wrapped by a failure of the record layer after the
	// handshake: a record that does not decrypt (garbage from the peer),
	// an alert the peer sent, a write after CloseWrite. crypto/tls's
	// error is wrapped too.
	ErrProtocol = errors.New("tlsengine: TLS protocol error")

	// ErrPeerAlert is wrapped, with ErrHandshake or ErrProtocol, when
	// the failure is a fatal alert the peer sent (it rejected our
	// certificate, or our record); crypto/tls's *net.OpError with Op
	// "remote error" is wrapped too.
	ErrPeerAlert = errors.New("tlsengine: the peer sent a fatal alert")

	// ErrTruncated is returned by Read when the peer's byte stream ended
	// (FeedEOF) without a close_notify alert: at a record boundary or in
	// the middle of a record. It wraps io.ErrUnexpectedEOF. A clean
	// close (close_notify received) is io.EOF.
	ErrTruncated = fmt.Errorf("tlsengine: stream ended without close_notify (truncated): %w", io.ErrUnexpectedEOF)

	// ErrClosed is returned by every call on an engine after Close, and
	// is the handshake's error when Close ended it.
	ErrClosed = errors.New("tlsengine: engine closed")
)

// wrap wraps crypto/tls's err with kind (ErrHandshake or ErrProtocol),
// and with ErrPeerAlert when err is an alert the peer sent.
func wrap(kind, err error) error {
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "remote error" {
		return fmt.Errorf("%w: %w: %w", kind, ErrPeerAlert, err)
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// wouldBlockError is ErrWouldBlock's type: a net.Error that is both a
// timeout and temporary, the one kind of read error crypto/tls's record
// layer returns without remembering it (conn.go, readRecordOrCCS).
type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "tlsengine: no complete record buffered (would block)" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }
