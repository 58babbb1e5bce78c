package httpsrv

import (
	"io"
	"net/http"
)

// maxPostHandlerReadBytes is net/http's: how much of a body a handler left
// unread the server drains to keep the connection.
const maxPostHandlerReadBytes = 256 << 10

// body is a request body, wholly received before the handler runs. It
// reads, closes and reports EOF as net/http's body does, so the server's
// keep-alive decisions after the handler come out the same.
type body struct {
	data       []byte // unread bytes (valid during the handler only)
	err        error  // after data: a malformed chunked body's error (nil: io.EOF)
	chunked    bool
	closing    bool // the request asked to close: Close does not drain
	sawEOF     bool
	closed     bool
	earlyClose bool
}

// Read reads the body; after Close it fails with http.ErrBodyReadAfterClose.
func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.read(p)
}

func (b *body) read(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	if len(b.data) == 0 {
		if b.err != nil {
			return n, b.err
		}
		b.sawEOF = true // with the last bytes, as net/http's body does
		return n, io.EOF
	}
	return n, nil
}

// Close drains up to 256 KiB so that the connection can be kept, as
// net/http does; more than that marks the body closed early (the server
// then closes the connection).
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	var err error
	switch {
	case b.sawEOF:
	case !b.chunked && b.closing:
	case !b.chunked && len(b.data) > maxPostHandlerReadBytes:
		b.earlyClose = true
	default:
		var n int64
		n, err = io.CopyN(io.Discard, readerFunc(b.read), maxPostHandlerReadBytes)
		if err == io.EOF {
			err = nil
		}
		if n == maxPostHandlerReadBytes {
			b.earlyClose = true
		}
	}
	b.closed = true
	return err
}

// unread is net/http's unreadDataSizeLocked: the bytes left of a body with
// a Content-Length, -1 for a chunked one.
func (b *body) unread() int64 {
	if b.chunked {
		return -1
	}
	return int64(len(b.data))
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// continueBody wraps the body of a request that expects 100-continue: the
// first Read sends "100 Continue" unless the response has begun (net/http's
// expectContinueReader).
type continueBody struct {
	w      *response
	b      *body
	closed bool
	sawEOF bool
}

func (e *continueBody) Read(p []byte) (int, error) {
	if e.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if w := e.w; w.canWriteContinue {
		w.canWriteContinue = false
		w.conn.out = append(w.conn.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
		w.conn.flush()
	}
	n, err := e.b.Read(p)
	if err == io.EOF {
		e.sawEOF = true
	}
	return n, err
}

func (e *continueBody) Close() error {
	e.closed = true
	return e.b.Close()
}
