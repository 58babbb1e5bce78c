package tsocket

import (
	"errors"
	"fmt"
)

// Sentinel errors of the package, matched with errors.Is. Errors from the
// kernel are *net.OpError values wrapping the errno instead (so that
// errors.Is(err, syscall.ECONNRESET) works), end of stream is io.EOF or
// io.ErrUnexpectedEOF, and a request finished because its stream or
// socket was freed fails with net.ErrClosed.
var (
	// ErrBadAddress is returned for an address string that cannot be
	// parsed, or a family, port or path that is out of range.
	ErrBadAddress = errors.New("tsocket: bad address")
	// ErrHostName is returned (together with ErrBadAddress) for a host
	// name where a numeric address was expected: tsocket never resolves
	// names; resolve first (net.Resolver.LookupNetIP, on a Go request
	// with tevent.Go) and pass the numeric address.
	ErrHostName = errors.New("tsocket: host names are not resolved here, resolve the name first and pass a numeric address")
	// ErrBusy is returned by a read (or write, send, receive, accept)
	// request started while another of the same kind is still in flight on
	// the same stream, datagram socket or listener, and by Disconnect while
	// any I/O is pending (Samba's EBUSY).
	ErrBusy = errors.New("tsocket: another request of this kind is in flight")
	// ErrInvalid is returned for an invalid request: a read of zero bytes,
	// a next-vector function that returned only empty vectors, a datagram
	// buffer of length zero, addresses of mismatched families.
	ErrInvalid = errors.New("tsocket: invalid argument")
	// ErrBroken is the sticky error of a stream whose framing was lost:
	// a read or write that had moved some but not all of its bytes timed
	// out, was cancelled or was freed. Later reads (or writes) fail with it.
	ErrBroken = errors.New("tsocket: stream broken, a request was abandoned half done")
	// ErrTruncated is returned by a datagram receive whose datagram did not
	// fit the buffer. The datagram is consumed; its head is not returned as
	// if it were whole.
	ErrTruncated = errors.New("tsocket: datagram truncated, buffer too small")
	// ErrNotSocket is returned when a descriptor handed to NewStream or
	// NewDgram is not a socket of the right type. It wraps ENOTSOCK (or
	// the kernel's complaint) too.
	ErrNotSocket = errors.New("tsocket: descriptor is not a usable socket")
	// ErrFDInUse is returned by NewStream and NewDgram for a descriptor
	// that another Stream or Dgram already owns: two owners would read
	// each other's bytes and close each other's socket.
	ErrFDInUse = errors.New("tsocket: descriptor is already owned by another Stream or Dgram")
	// ErrFDLost is the sticky error of a Stream or Dgram whose descriptor
	// was closed behind its back (and whose number may now name another
	// file): it no longer reads, writes or closes that number.
	ErrFDLost = errors.New("tsocket: descriptor closed behind the socket's back; its number is no longer this socket's")
	// ErrPDUTooLarge is returned by ReadPDUBlob when the peer announces a
	// PDU longer than the limit (DefaultMaxPDU, or the call's own).
	ErrPDUTooLarge = errors.New("tsocket: PDU larger than the limit")
	// ErrQueueFull is returned by WritevQueue when the queue already
	// holds its maximum of bytes or writes (see Stream.SetWriteQueueLimit).
	ErrQueueFull = errors.New("tsocket: write queue full")
)

// invalid returns an error wrapping ErrInvalid with a reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
