package httpsrv

import (
	"bytes"
	"errors"
)

// Sentinel errors of the request framer. A connection that hits one is
// answered as net/http answers it and closed; errors.Is matches them.
var (
	// ErrMalformed: the request line or a header line cannot be parsed
	// (answered 400 Bad Request).
	ErrMalformed = errors.New("httpsrv: malformed request")
	// ErrHeaderTooLarge: the request head is longer than
	// MaxHeaderBytes+4096 bytes or has more than MaxHeaderFields fields
	// (answered 431 Request Header Fields Too Large).
	ErrHeaderTooLarge = errors.New("httpsrv: request header too large")
	// ErrBodyTooLarge: the request body is longer than MaxBodyBytes
	// (answered 413 Request Entity Too Large).
	ErrBodyTooLarge = errors.New("httpsrv: request body too large")
)

// headerSlop is what net/http reads past MaxHeaderBytes before it calls a
// head too large (its bufio slop).
const headerSlop = 4096

// headScan finds the end of a request head in a buffer that starts at the
// request line, across calls: it keeps how far it got, so a head that
// arrives a byte at a time is scanned once. Lines are split as
// net/textproto splits them (a line ends at LF; a CR before it is
// dropped); the head ends at the first empty line after the request line.
// It checks what net/http checks line by line before the head is whole
// (the request line's shape, a colon in every field line, no
// continuation as the first field), so a bad request is answered without
// waiting for the rest, as net/http answers it.
type headScan struct {
	pos    int // start of the first line not yet looked at
	fields int // header fields seen
}

// scan returns the head's length once b holds all of it, 0 while it is
// incomplete, or ErrMalformed or ErrHeaderTooLarge.
func (h *headScan) scan(b []byte, maxBytes, maxFields int) (int, error) {
	for {
		i := bytes.IndexByte(b[h.pos:], '\n')
		if i < 0 {
			if len(b) > maxBytes {
				return 0, ErrHeaderTooLarge
			}
			return 0, nil
		}
		end := h.pos + i + 1
		if end > maxBytes {
			return 0, ErrHeaderTooLarge
		}
		line := b[h.pos : end-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case h.pos == 0:
			if !validRequestLine(line) {
				return 0, ErrMalformed
			}
		case len(line) == 0:
			return end, nil
		case line[0] == ' ' || line[0] == '\t':
			if h.fields == 0 {
				return 0, ErrMalformed // "malformed MIME header initial line"
			}
		default:
			if bytes.IndexByte(line, ':') < 0 {
				return 0, ErrMalformed // "missing colon"
			}
			h.fields++
			if h.fields > maxFields {
				return 0, ErrHeaderTooLarge
			}
		}
		h.pos = end
	}
}

// validRequestLine checks what net/http checks of a request line before
// reading the header fields: three parts split at the first two spaces, a
// token for the method and an HTTP/x.y version. The target is checked
// later (url.ParseRequestURI, in http.ReadRequest).
func validRequestLine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false // no space, or an empty method (not a token)
	}
	method, rest := line[:sp], line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return false
	}
	for _, c := range method {
		if !isTokenByte(c) {
			return false
		}
	}
	return validVersion(rest[sp+1:])
}

// validVersion is http.ParseHTTPVersion's test: HTTP/d.d.
func validVersion(v []byte) bool {
	return len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isTokenByte reports whether c may appear in an RFC 7230 token.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// chunkScan walks a chunked body (RFC 9112 section 7.1) in a buffer that
// starts at the body, across calls, with net/http's rules (its
// internal.chunkedReader and body.readTrailer): a chunk-size line ends in
// CRLF (a bare LF or a stray CR is an error), is shorter than 4096 bytes,
// may carry extensions after ';' and trailing blanks; at most 16 hex
// digits; chunk data is followed by CRLF; non-data overhead beyond 16 KiB
// is refused; a trailer section must end within 4096 bytes.
type chunkScan struct {
	pos     int   // start of the next chunk-size line (or of the trailer once last)
	decoded int64 // data bytes in the chunks before pos
	excess  int64
	last    bool // the zero-size chunk was seen; pos is at the trailer
	trailer []byte
}

const maxChunkLine = 4096

// Errors of a malformed chunked body, with net/http's texts: a handler
// reading the body sees them as it would under net/http.
var (
	errChunkLineTooLong = errors.New("header line too long")
	errChunkBareLF      = errors.New("chunked line ends with bare LF")
	errChunkCR          = errors.New("invalid CR in chunked line")
	errChunkEmptyLen    = errors.New("empty hex number for chunk length")
	errChunkBadLen      = errors.New("invalid byte in chunk length")
	errChunkLenTooLarge = errors.New("http chunk length too large")
	errChunkOverhead    = errors.New("chunked encoding contains too much non-data")
	errChunkMalformed   = errors.New("malformed chunked encoding")
	errChunkTrailer     = errors.New("http: suspiciously long trailer after chunked body")
)

// scan returns the body's length on the wire once b holds all of it (0
// while incomplete). A malformed body returns the length of its good part
// so far (pos) with the error, wrapped so that errors.Is(err, ErrMalformed).
// maxBody bounds the decoded bytes (ErrBodyTooLarge).
func (s *chunkScan) scan(b []byte, maxBody int64) (int, error) {
	for !s.last {
		i := bytes.IndexByte(b[s.pos:], '\n')
		if i < 0 {
			if len(b)-s.pos >= maxChunkLine {
				return 0, chunkErr(errChunkLineTooLong)
			}
			return 0, nil
		}
		line := b[s.pos : s.pos+i+1]
		if len(line) > maxChunkLine {
			return 0, chunkErr(errChunkLineTooLong)
		}
		cr := bytes.IndexByte(line, '\r')
		if cr < 0 {
			return 0, chunkErr(errChunkBareLF)
		}
		if cr != len(line)-2 {
			return 0, chunkErr(errChunkCR)
		}
		p := line[:len(line)-2]
		if len(p) >= maxChunkLine {
			return 0, chunkErr(errChunkLineTooLong)
		}
		excess := s.excess + int64(len(p)) + 2
		for len(p) > 0 && (p[len(p)-1] == ' ' || p[len(p)-1] == '\t') {
			p = p[:len(p)-1]
		}
		if j := bytes.IndexByte(p, ';'); j >= 0 {
			p = p[:j]
		}
		n, err := parseHex(p)
		if err != nil {
			return 0, chunkErr(err)
		}
		excess -= 16 + 2*int64(n)
		excess = max(excess, 0)
		if excess > 16*1024 {
			return 0, chunkErr(errChunkOverhead)
		}
		data := s.pos + len(line)
		if n == 0 {
			s.pos, s.excess, s.last = data, excess, true
			break
		}
		if n > uint64(maxBody-s.decoded) {
			return 0, ErrBodyTooLarge
		}
		end := data + int(n)
		if len(b) < end+2 {
			return 0, nil // net/http reads both footer bytes before it checks them
		}
		if b[end] != '\r' || b[end+1] != '\n' {
			// net/http hands out this chunk's data before it finds the bad
			// footer: count it.
			s.decoded += int64(n)
			s.pos = end
			return 0, chunkErr(errChunkMalformed)
		}
		s.decoded += int64(n)
		s.excess = excess
		s.pos = end + 2
	}
	rest := b[s.pos:]
	if len(rest) < 2 {
		return 0, nil
	}
	if rest[0] == '\r' && rest[1] == '\n' {
		return s.pos + 2, nil
	}
	look := rest[:min(len(rest), 4096)]
	if i := bytes.Index(look, []byte("\r\n\r\n")); i >= 0 {
		s.trailer = rest[:i+4]
		return s.pos + i + 4, nil
	}
	if len(rest) >= 4096 {
		return 0, chunkErr(errChunkTrailer)
	}
	return 0, nil
}

// chunkError is a malformed chunked body: Is(ErrMalformed) and, for the
// handler, the text net/http's reader gives.
type chunkError struct{ err error }

func chunkErr(err error) error         { return &chunkError{err} }
func (e *chunkError) Error() string    { return e.err.Error() }
func (e *chunkError) Unwrap() []error  { return []error{e.err, ErrMalformed} }
func (e *chunkError) bodyError() error { return e.err }

// parseHex is net/http's chunk-size parser.
func parseHex(v []byte) (uint64, error) {
	if len(v) == 0 {
		return 0, errChunkEmptyLen
	}
	var n uint64
	for i, c := range v {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, errChunkBadLen
		}
		if i == 16 {
			return 0, errChunkLenTooLarge
		}
		n = n<<4 | uint64(c)
	}
	return n, nil
}

// decodeChunked appends the data of the chunks in b[:end] (a body scan
// accepted) to dst.
func decodeChunked(dst, b []byte) []byte {
	pos := 0
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return dst
		}
		p := b[pos : pos+i-1]
		for len(p) > 0 && (p[len(p)-1] == ' ' || p[len(p)-1] == '\t') {
			p = p[:len(p)-1]
		}
		if j := bytes.IndexByte(p, ';'); j >= 0 {
			p = p[:j]
		}
		n, err := parseHex(p)
		data := pos + i + 1
		if err != nil || n == 0 {
			return dst
		}
		end := data + int(n)
		if end > len(b) {
			return append(dst, b[data:]...)
		}
		dst = append(dst, b[data:end]...)
		pos = end + 2
		if pos > len(b) {
			return dst
		}
	}
}
