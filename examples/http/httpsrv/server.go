package httpsrv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tserver"
)

// Defaults of Server's limits.
const (
	// DefaultMaxHeaderFields is how many header fields a request may
	// have (net/http has no such limit).
	DefaultMaxHeaderFields = 1000
	// DefaultMaxBodyBytes is how long a request body may be. The body is
	// received whole before the handler runs, so it is held in memory.
	DefaultMaxBodyBytes = 1 << 20
)

// rstAvoidanceDelay is net/http's: after answering a request that is too
// large the server shuts its side down and waits this long for the peer's
// FIN before closing, so that the answer is not lost to a reset.
const rstAvoidanceDelay = 500 * time.Millisecond

// flushAt is the output size at which the response bytes gathered so far
// are handed to the connection during a handler.
const flushAt = 64 << 10

// Server is an HTTP/1.1 server as a tserver.Handler: give it to
// tserver.New. Requests are parsed from the bytes each data callback
// brings, pipelined requests are answered in order, and each request,
// once its head and body have arrived whole, is served by Handler on the
// connection's loop. The bytes answered are net/http's for the same
// handler (see the package documentation for the exceptions).
//
// The fields must be set before the server starts and not changed after.
type Server struct {
	// Handler serves the requests (nil: http.NotFoundHandler()). It runs
	// on the connection's tevent loop: it must not block.
	Handler http.Handler
	// Now returns the time for the Date header (nil: time.Now).
	Now func() time.Time
	// MaxHeaderBytes is http.Server's: a request head longer than this
	// plus 4096 bytes is answered 431 (0: http.DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// MaxHeaderFields is how many header fields a request may carry;
	// more is answered 431 (0: DefaultMaxHeaderFields).
	MaxHeaderFields int
	// MaxBodyBytes is how long a request body may be; longer is answered
	// 413 (0: DefaultMaxBodyBytes). A chunked body may take up to twice
	// this plus 16 KiB on the wire.
	MaxBodyBytes int64
	// ErrorLog receives handler panics and misuse reports (nil: the log
	// package's standard logger).
	ErrorLog *log.Logger
}

var _ tserver.Handler = (*Server)(nil)

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

func (s *Server) maxHeadBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes + headerSlop
	}
	return http.DefaultMaxHeaderBytes + headerSlop
}

func (s *Server) maxFields() int {
	if s.MaxHeaderFields > 0 {
		return s.MaxHeaderFields
	}
	return DefaultMaxHeaderFields
}

func (s *Server) maxBody() int64 {
	if s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

// maxChunkedWire bounds a chunked body's bytes on the wire.
func (s *Server) maxChunkedWire() int64 { return 2*s.maxBody() + 16<<10 }

// InboundLimit is the smallest tserver.Config.MaxInbound that lets every
// request within the limits arrive whole (a request is kept unconsumed in
// the connection's input until it is complete): set MaxInbound to at
// least this, or tserver closes such connections with ErrInboundLimit.
func (s *Server) InboundLimit() int {
	return s.maxHeadBytes() + int(s.maxChunkedWire()) + 1
}

// OnOpen sets up the connection's state. On a TLS server (tserver's
// Config.TLS) OnOpen comes after the handshake: the connection's state is
// taken then, and every request on the connection gets a pointer to it in
// Request.TLS, as net/http does.
func (s *Server) OnOpen(tc *tserver.Conn) {
	c := &conn{srv: s, tc: tc, tsc: tc}
	if st, ok := tc.TLSState(); ok {
		c.tlsState = &st
	}
	tc.SetContext(c)
}

// OnData parses and serves the complete requests in in and keeps the rest.
func (s *Server) OnData(tc *tserver.Conn, in []byte) int {
	c, _ := tc.Context().(*conn)
	if c == nil {
		return len(in)
	}
	return c.onData(in)
}

// OnClose drops the connection's state.
func (s *Server) OnClose(tc *tserver.Conn, err error) {
	if c, _ := tc.Context().(*conn); c != nil {
		c.closed()
		tc.SetContext(nil)
	}
}

// transport is what a connection needs of a *tserver.Conn (the tests feed
// the parser through a fake one).
type transport interface {
	Write(b []byte) (int, error)
	Close() error
	CloseWrite() error
	RemoteAddr() net.Addr
	LocalAddr() net.Addr
}

// conn is one connection's state.
type conn struct {
	srv *Server
	tc  transport
	tsc *tserver.Conn // tc when it is one: its loop gives the linger timer

	out  []byte // response bytes not yet handed to tc (net/http's conn.bufw)
	err  error  // tc's write error: the connection is gone
	done bool   // answering no more: input is dropped

	remoteAddr string
	baseCtx    context.Context
	tlsState   *tls.ConnectionState // Request.TLS: the handshake's outcome, nil on plain connections
	lastPOST   bool                 // the last request was a POST: skip CR/LF before the next

	// The request at the front of the input, while it arrives.
	head     headScan
	headLen  int // > 0 once the head is parsed
	req      *http.Request
	chunked  bool
	bodyLen  int64 // Content-Length (not chunked)
	chunks   chunkScan
	contSent bool // 100 Continue already sent for it
	expect   bool // it expects 100-continue (and may get it)

	linger *tevent.Timer
	body   []byte // decoded chunked body scratch
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func (c *conn) closed() {
	c.done = true
	c.err = tserver.ErrConnClosed
	if c.linger != nil {
		c.linger.Free()
		c.linger = nil
	}
	c.req = nil
	c.out = nil
}

// onData serves every complete request at the front of in and returns
// how many bytes they took.
func (c *conn) onData(in []byte) int {
	off := 0
	for !c.done {
		b := in[off:]
		if c.headLen == 0 {
			if c.lastPOST && c.head.pos == 0 {
				// net/http peeks 4 bytes and drops the CR and LF among
				// them (RFC 9112 section 2.2 tolerance).
				if len(b) < 4 {
					break
				}
				k := 0
				for k < 4 && (b[k] == '\r' || b[k] == '\n') {
					k++
				}
				off += k
				b = b[k:]
				c.lastPOST = false
			}
			if len(b) == 0 {
				break
			}
			n, err := c.head.scan(b, c.srv.maxHeadBytes(), c.srv.maxFields())
			if err != nil {
				c.fail(err)
				break
			}
			if n == 0 {
				break
			}
			if !c.startRequest(b[:n]) {
				break
			}
		}
		end, bd, ok := c.bodyReady(b)
		if !ok {
			break
		}
		req, expect, contSent := c.req, c.expect, c.contSent
		c.resetRequest()
		off += end
		c.serve(req, bd, expect, contSent)
		if bd.err != nil && !c.done {
			// A malformed chunked body: what follows it is not a request.
			c.close(false)
		}
		if cap(c.body) > flushAt {
			c.body = nil
		}
	}
	c.flush()
	if c.done {
		return len(in)
	}
	return off
}

func (c *conn) resetRequest() {
	c.head = headScan{}
	c.headLen = 0
	c.req = nil
	c.chunked = false
	c.bodyLen = 0
	c.chunks = chunkScan{}
	c.contSent = false
	c.expect = false
}

// startRequest parses a complete head with http.ReadRequest and applies
// net/http's server checks; false when the request was refused.
func (c *conn) startRequest(head []byte) bool {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(head))
	req, err := http.ReadRequest(br)
	br.Reset(nil)
	readerPool.Put(br)
	if err != nil {
		c.fail(classifyReadError(err))
		return false
	}
	if err := checkRequest(req, head); err != nil {
		c.fail(err)
		return false
	}
	c.headLen = len(head)
	c.req = req
	c.chunked = len(req.TransferEncoding) > 0
	c.bodyLen = max(req.ContentLength, 0)
	if !c.chunked && c.bodyLen > c.srv.maxBody() {
		c.fail(ErrBodyTooLarge)
		return false
	}
	if hasToken(hget(req.Header, "Expect"), "100-continue") {
		c.expect = req.ProtoAtLeast(1, 1) && req.ContentLength != 0
	} else if hget(req.Header, "Expect") != "" {
		w := c.newResponse(req, http.NoBody)
		w.sendExpectationFailed()
		c.close(false)
		return false
	}
	return true
}

// bodyReady reports whether the body of the current request is all in b
// (which starts at its head), with the request's length on the wire and
// its body.
func (c *conn) bodyReady(b []byte) (int, *body, bool) {
	rest := b[c.headLen:]
	bd := &body{closing: c.req.Close}
	if !c.chunked {
		if int64(len(rest)) < c.bodyLen {
			c.sendContinue()
			return 0, nil, false
		}
		bd.data = rest[:c.bodyLen]
		return c.headLen + int(c.bodyLen), bd, true
	}
	bd.chunked = true
	limit := c.srv.maxChunkedWire()
	if int64(len(rest)) > limit {
		rest = rest[:limit]
	}
	n, err := c.chunks.scan(rest, c.srv.maxBody())
	if errors.Is(err, ErrBodyTooLarge) {
		c.fail(ErrBodyTooLarge)
		return 0, nil, false
	}
	var ce *chunkError
	if errors.As(err, &ce) {
		// net/http hands the handler the good part, then the error, and
		// closes the connection after the answer: so do we.
		c.body = decodeChunked(c.body[:0], rest[:c.chunks.pos])
		bd.data, bd.err = c.body, ce.bodyError()
		if len(bd.data) == 0 {
			bd.data = nil
		}
		return len(b), bd, true
	}
	if n == 0 {
		if int64(len(rest)) >= limit {
			c.fail(ErrBodyTooLarge)
			return 0, nil, false
		}
		c.sendContinue()
		return 0, nil, false
	}
	c.body = decodeChunked(c.body[:0], rest[:n])
	bd.data = c.body
	if c.chunks.trailer != nil {
		c.setTrailer(c.chunks.trailer)
	}
	return c.headLen + n, bd, true
}

// sendContinue answers "100 Continue" to a request that expects it and
// whose body has not all come: the client waits for it.
func (c *conn) sendContinue() {
	if c.expect && !c.contSent {
		c.contSent = true
		c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
		c.flush()
	}
}

func (c *conn) setTrailer(tr []byte) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(tr))
	hdr, err := textprotoReadHeader(br)
	br.Reset(nil)
	readerPool.Put(br)
	if err != nil {
		return
	}
	if c.req.Trailer == nil {
		c.req.Trailer = hdr
		return
	}
	for k, v := range hdr {
		c.req.Trailer[k] = v
	}
}

func (c *conn) newResponse(req *http.Request, reqBody io.ReadCloser) *response {
	w := &response{
		conn:             c,
		req:              req,
		reqBody:          reqBody,
		handlerHeader:    make(http.Header),
		contentLength:    -1,
		wants10KeepAlive: req.ProtoMajor == 1 && req.ProtoMinor == 0 && hasToken(hget(req.Header, "Connection"), "keep-alive"),
		wantsClose:       req.Close || hasToken(hget(req.Header, "Connection"), "close"),
	}
	w.cw.res = w
	w.w = bufioWriterPool.Get().(*bufio.Writer)
	w.w.Reset(&w.cw)
	return w
}

// serve runs the handler for one complete request and finishes its
// answer as net/http's conn.serve does.
func (c *conn) serve(req *http.Request, bd *body, expect, contSent bool) {
	if c.remoteAddr == "" {
		if ra := c.tc.RemoteAddr(); ra != nil {
			c.remoteAddr = ra.String()
		}
		c.baseCtx = context.WithValue(context.Background(), http.LocalAddrContextKey, c.tc.LocalAddr())
	}
	ctx, cancel := context.WithCancel(c.baseCtx)
	req = req.WithContext(ctx)
	req.RemoteAddr = c.remoteAddr
	req.TLS = c.tlsState
	var reqBody io.ReadCloser = http.NoBody
	if bd.chunked || req.ContentLength > 0 {
		reqBody = bd
	}
	req.Body = reqBody
	w := c.newResponse(req, reqBody)
	if req.Method == "PRI" && len(req.Header) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0" {
		w.closeAfterReply = true
	}
	if expect {
		req.Body = &continueBody{w: w, b: bd}
		w.canWriteContinue = !contSent
	}
	c.lastPOST = req.Method == "POST"

	h := c.srv.Handler
	if h == nil {
		h = http.NotFoundHandler()
	}
	if req.RequestURI == "*" && req.Method == "OPTIONS" {
		h = globalOptionsHandler{}
	}
	if !c.run(h, w, req) {
		cancel()
		w.canWriteContinue = false
		w.reqBody.Close()
		c.close(false) // net/http sends what reached its connection buffer
		return
	}
	cancel()
	w.finishRequest()
	if !w.shouldReuseConnection() {
		c.close(w.bodyLimitHit || w.closedRequestBodyEarly())
	}
}

// run calls the handler; false if it panicked.
func (c *conn) run(h http.Handler, w *response, req *http.Request) (ok bool) {
	defer func() {
		if err := recover(); err != nil {
			ok = false
			if err != http.ErrAbortHandler {
				c.srv.logf("http: panic serving %v: %v", c.remoteAddr, err)
			}
		}
	}()
	h.ServeHTTP(w, req)
	return true
}

// fail answers a request that cannot be served, as net/http does, and
// closes the connection.
func (c *conn) fail(err error) {
	const errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	var se statusError
	switch {
	case errors.Is(err, ErrHeaderTooLarge):
		const publicErr = "431 Request Header Fields Too Large"
		c.out = append(c.out, "HTTP/1.1 "+publicErr+errorHeaders+publicErr...)
		c.close(true)
	case errors.Is(err, ErrBodyTooLarge):
		const publicErr = "413 Request Entity Too Large"
		c.out = append(c.out, "HTTP/1.1 "+publicErr+errorHeaders+publicErr...)
		c.close(true)
	case errors.Is(err, errUnsupportedTE):
		c.out = append(c.out, "HTTP/1.1 501 Not Implemented"+errorHeaders+"Unsupported transfer encoding"...)
		c.close(false)
	case errors.As(err, &se):
		c.out = fmt.Appendf(c.out, "HTTP/1.1 %d %s: %s%s%d %s: %s", se.code, http.StatusText(se.code), se.text, errorHeaders, se.code, http.StatusText(se.code), se.text)
		c.close(false)
	default:
		const publicErr = "400 Bad Request"
		c.out = append(c.out, "HTTP/1.1 "+publicErr+errorHeaders+publicErr...)
		c.close(false)
	}
}

// close ends the connection after the output: at once, or (linger) after
// shutting the sending side and waiting up to rstAvoidanceDelay for the
// peer to close, as net/http's closeWriteAndWait.
func (c *conn) close(linger bool) {
	c.done = true
	c.flush()
	if c.err != nil {
		return
	}
	if !linger || c.tsc == nil {
		c.tc.Close()
		return
	}
	c.tc.CloseWrite()
	if c.done && c.err == nil {
		tc := c.tsc
		ev := tc.Loop().Context()
		c.linger = ev.AddTimer(ev.Now().Add(rstAvoidanceDelay), func(*tevent.Context, *tevent.Timer, time.Time) {
			c.linger = nil
			tc.Close()
		})
	}
}

// flush hands the output gathered so far to the connection.
func (c *conn) flush() {
	if len(c.out) == 0 {
		return
	}
	if c.err == nil {
		if _, err := c.tc.Write(c.out); err != nil {
			c.err = err
			c.done = true
		}
	}
	c.out = c.out[:0]
}

func (c *conn) maybeFlush() {
	if len(c.out) >= flushAt {
		c.flush()
	}
}

// statusError is net/http's: an answer with a status and a short text.
type statusError struct {
	code int
	text string
}

func (e statusError) Error() string { return http.StatusText(e.code) + ": " + e.text }

var errUnsupportedTE = errors.New("httpsrv: unsupported transfer encoding")

// classifyReadError maps http.ReadRequest's errors to the answers
// net/http's server gives them: 501 for a transfer coding other than
// chunked, 400 otherwise.
func classifyReadError(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "unsupported transfer encoding: ") || strings.HasPrefix(msg, "too many transfer encodings: ") {
		return fmt.Errorf("%w: %v", errUnsupportedTE, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// checkRequest applies the checks net/http's server makes after parsing a
// request: the protocol version (505), the Host header (400 with a reason)
// and the header fields' names and values.
func checkRequest(req *http.Request, head []byte) error {
	if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
		return statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	hosts, host := hostFields(head)
	isH2Upgrade := req.Method == "PRI" && len(req.Header) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0"
	if req.ProtoAtLeast(1, 1) && hosts == 0 && !isH2Upgrade && req.Method != "CONNECT" {
		return statusError{http.StatusBadRequest, "missing required Host header"}
	}
	if hosts == 1 {
		if req.URL.Host == "" {
			host = req.Host // the parsed value, continuation lines and all
		}
		if !validHost(host) {
			return statusError{http.StatusBadRequest, "malformed Host header"}
		}
	}
	for k, vv := range req.Header {
		if k == "" {
			return statusError{http.StatusBadRequest, "invalid header name"}
		}
		for i := 0; i < len(k); i++ {
			if !isTokenByte(k[i]) {
				return statusError{http.StatusBadRequest, "invalid header name"}
			}
		}
		for _, v := range vv {
			for i := 0; i < len(v); i++ {
				if b := v[i]; (b < ' ' || b == 0x7f) && b != '\t' {
					return statusError{http.StatusBadRequest, "invalid header value"}
				}
			}
		}
	}
	return nil
}

// hostFields counts the head's Host fields and returns the last one's
// value (without surrounding blanks).
func hostFields(head []byte) (n int, value string) {
	i := bytes.IndexByte(head, '\n')
	for i >= 0 && i+1 < len(head) {
		line := head[i+1:]
		j := bytes.IndexByte(line, '\n')
		if j < 0 {
			break
		}
		line = line[:j]
		i += j + 1
		if len(line) >= 5 && line[4] == ':' && strings.EqualFold(string(line[:4]), "host") {
			n++
			value = strings.Trim(string(line[5:]), " \t\r")
		}
	}
	return n, value
}

// validHost is httpguts.ValidHostHeader.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '!', '$', '%', '&', '(', ')', '*', '+', ',', '-', '.', ':', ';', '=', '[', '\'', ']', '_', '~':
			continue
		}
		return false
	}
	return true
}

// globalOptionsHandler answers "OPTIONS *" as net/http's server does.
type globalOptionsHandler struct{}

func (globalOptionsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
	}
}
