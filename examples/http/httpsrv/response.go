package httpsrv

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
)

// bufferBeforeChunkingSize is net/http's: a handler's first 2 KiB are held
// back, so that a handler that finishes within them gets a Content-Length
// instead of a chunked body.
const bufferBeforeChunkingSize = 2048

// sniffLen is how many bytes http.DetectContentType looks at.
const sniffLen = 512

var bufioWriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufferBeforeChunkingSize) }}

var copyBufPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// response is the http.ResponseWriter (and http.Flusher, io.StringWriter,
// io.ReaderFrom) a handler gets. It follows net/http's response and
// chunkWriter step by step, so that the bytes written are the same: the
// header is finalised when the 2 KiB buffer first flushes (Content-Type
// sniffed from the first bytes, Content-Length when the handler finished
// within them, chunked otherwise on HTTP/1.1, Connection: close where
// net/http would close), then written to the connection's output.
type response struct {
	conn             *conn
	req              *http.Request
	reqBody          io.ReadCloser
	wroteHeader      bool
	wants10KeepAlive bool
	wantsClose       bool
	canWriteContinue bool
	calledHeader     bool
	closeAfterReply  bool
	bodyLimitHit     bool
	handlerDone      bool

	w  *bufio.Writer
	cw chunkWriter

	handlerHeader http.Header
	written       int64
	contentLength int64
	status        int
	trailers      []string

	dateBuf [len(http.TimeFormat)]byte
	clenBuf [20]byte
}

type chunkWriter struct {
	res         *response
	header      http.Header
	wroteHeader bool
	chunking    bool
}

// Header returns the response header map.
func (w *response) Header() http.Header {
	if w.cw.header == nil && w.wroteHeader && !w.cw.wroteHeader {
		w.cw.header = w.handlerHeader.Clone()
	}
	w.calledHeader = true
	return w.handlerHeader
}

// WriteHeader sends the status line and header (1xx at once, others with
// the first body bytes or when the handler returns).
func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		w.conn.srv.logf("http: superfluous response.WriteHeader call")
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 101 || code > 199 {
		w.canWriteContinue = false
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		out := &w.conn.out
		*out = appendStatusLine(*out, w.req.ProtoAtLeast(1, 1), code)
		w.handlerHeader.WriteSubset(outWriter{out}, excludedHeadersNoBody)
		*out = append(*out, "\r\n"...)
		w.conn.flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.calledHeader && w.cw.header == nil {
		w.cw.header = w.handlerHeader.Clone()
	}
	if cl := hget(w.handlerHeader, "Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.conn.srv.logf("http: invalid Content-Length of %q", cl)
			w.handlerHeader.Del("Content-Length")
		}
	}
}

// Write writes body bytes (after an implicit WriteHeader(200)).
func (w *response) Write(data []byte) (int, error) { return w.write(len(data), data, "") }

// WriteString is Write for a string.
func (w *response) WriteString(data string) (int, error) { return w.write(len(data), nil, data) }

func (w *response) write(lenData int, dataB []byte, dataS string) (int, error) {
	w.canWriteContinue = false
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if lenData == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(lenData)
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if dataB != nil {
		return w.w.Write(dataB)
	}
	return w.w.WriteString(dataS)
}

// Flush sends what the handler wrote so far (the header included).
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush that returns the connection's error.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	err := w.w.Flush()
	w.cw.flush()
	if err == nil && w.conn.err != nil {
		err = w.conn.err
	}
	return err
}

type writerOnly struct{ io.Writer }

// ReadFrom copies src into the body as net/http's ReadFrom does (its first
// 512 bytes through the buffer for sniffing, then the header goes out and
// the rest is copied in 32 KiB reads), so that chunk boundaries match. On
// a TLS connection net/http's connection (a *tls.Conn) has no ReadFrom
// and the whole copy goes through the buffer, as Write does: so here.
func (w *response) ReadFrom(src io.Reader) (n int64, err error) {
	bp := copyBufPool.Get().(*[32 << 10]byte)
	defer copyBufPool.Put(bp)
	buf := bp[:]
	if w.conn.tlsState != nil {
		return io.CopyBuffer(writerOnly{w}, src, buf)
	}
	if !w.cw.wroteHeader {
		n0, err := io.CopyBuffer(writerOnly{w}, io.LimitReader(src, sniffLen), buf)
		n += n0
		if err != nil || n0 < sniffLen {
			return n, err
		}
	}
	w.w.Flush()
	w.cw.flush()
	if !w.cw.chunking && bodyAllowedForStatus(w.status) && w.req.Method != "HEAD" {
		// net/http hands src to the socket's ReadFrom here (sendfile):
		// bytes go out raw, counted but not checked against Content-Length.
		n0, err := io.CopyBuffer(outWriter{&w.conn.out}, src, buf)
		n += n0
		w.written += n0
		w.conn.maybeFlush()
		return n, err
	}
	n0, err := io.CopyBuffer(writerOnly{w}, src, buf)
	return n + n0, err
}

func (w *response) finishRequest() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.w.Flush()
	w.w.Reset(nil)
	bufioWriterPool.Put(w.w)
	w.w = nil
	w.cw.close()
	w.reqBody.Close()
}

func (w *response) shouldReuseConnection() bool {
	if w.closeAfterReply {
		return false
	}
	if w.req.Method != "HEAD" && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false
	}
	if w.conn.err != nil {
		return false
	}
	return !w.closedRequestBodyEarly()
}

func (w *response) closedRequestBodyEarly() bool {
	b, ok := w.req.Body.(*body)
	return ok && b.earlyClose
}

func (w *response) requestTooLarge() {
	w.closeAfterReply = true
	w.bodyLimitHit = true
	if !w.wroteHeader {
		w.Header().Set("Connection", "close")
	}
}

func (w *response) sendExpectationFailed() {
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusExpectationFailed)
	w.finishRequest()
}

const trailerPrefix = "Trailer:"

func (w *response) finalTrailers() http.Header {
	var t http.Header
	for k, vv := range w.handlerHeader {
		if kk, found := strings.CutPrefix(k, trailerPrefix); found {
			if t == nil {
				t = make(http.Header)
			}
			t[kk] = vv
		}
	}
	for _, k := range w.trailers {
		if t == nil {
			t = make(http.Header)
		}
		for _, v := range w.handlerHeader[k] {
			t.Add(k, v)
		}
	}
	return t
}

func (w *response) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if strings.HasPrefix(k, "If-") || badTrailer[k] {
		return
	}
	w.trailers = append(w.trailers, k)
}

var badTrailer = map[string]bool{
	"Authorization": true, "Cache-Control": true, "Connection": true,
	"Content-Encoding": true, "Content-Length": true, "Content-Range": true,
	"Content-Type": true, "Expect": true, "Host": true, "Keep-Alive": true,
	"Max-Forwards": true, "Pragma": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Range": true,
	"Realm": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Www-Authenticate": true,
}

func (cw *chunkWriter) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.writeHeader(p)
	}
	if cw.res.req.Method == "HEAD" {
		return len(p), nil
	}
	c := cw.res.conn
	if cw.chunking {
		c.out = strconv.AppendUint(c.out, uint64(len(p)), 16)
		c.out = append(c.out, "\r\n"...)
	}
	c.out = append(c.out, p...)
	if cw.chunking {
		c.out = append(c.out, "\r\n"...)
	}
	c.maybeFlush()
	if c.err != nil {
		return len(p), c.err
	}
	return len(p), nil
}

func (cw *chunkWriter) flush() {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	cw.res.conn.flush()
}

func (cw *chunkWriter) close() {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	if cw.chunking {
		out := &cw.res.conn.out
		*out = append(*out, "0\r\n"...)
		if trailers := cw.res.finalTrailers(); trailers != nil {
			trailers.Write(outWriter{out})
		}
		*out = append(*out, "\r\n"...)
	}
}

var excludedHeadersNoBody = map[string]bool{"Content-Length": true, "Transfer-Encoding": true}

// extraHeader is what writeHeader adds to the handler's header, written
// after it in this order (net/http's extraHeader).
type extraHeader struct {
	contentType      string
	connection       string
	transferEncoding string
	date             []byte
	contentLength    []byte
}

func (h *extraHeader) appendTo(b []byte) []byte {
	if h.date != nil {
		b = append(b, "Date: "...)
		b = append(b, h.date...)
		b = append(b, "\r\n"...)
	}
	if h.contentLength != nil {
		b = append(b, "Content-Length: "...)
		b = append(b, h.contentLength...)
		b = append(b, "\r\n"...)
	}
	for i, v := range [3]string{h.contentType, h.connection, h.transferEncoding} {
		if v != "" {
			b = append(b, extraHeaderKeys[i]...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

var extraHeaderKeys = [3]string{"Content-Type", "Connection", "Transfer-Encoding"}

// writeHeader is net/http's chunkWriter.writeHeader: it settles the
// header from the handler's, the request and p (the first body bytes)
// and appends it to the connection's output.
func (cw *chunkWriter) writeHeader(p []byte) {
	if cw.wroteHeader {
		return
	}
	cw.wroteHeader = true
	w := cw.res
	const keepAlivesEnabled = true
	isHEAD := w.req.Method == "HEAD"

	header := cw.header
	owned := header != nil
	if !owned {
		header = w.handlerHeader
	}
	var excludeHeader map[string]bool
	delHeader := func(key string) {
		if owned {
			header.Del(key)
			return
		}
		if _, ok := header[key]; !ok {
			return
		}
		if excludeHeader == nil {
			excludeHeader = make(map[string]bool)
		}
		excludeHeader[key] = true
	}
	var setHeader extraHeader

	trailers := false
	for k := range cw.header {
		if strings.HasPrefix(k, trailerPrefix) {
			if excludeHeader == nil {
				excludeHeader = make(map[string]bool)
			}
			excludeHeader[k] = true
			trailers = true
		}
	}
	for _, v := range cw.header["Trailer"] {
		trailers = true
		foreachHeaderElement(v, w.declareTrailer)
	}

	te := hget(header, "Transfer-Encoding")
	hasTE := te != ""

	if w.handlerDone && !trailers && !hasTE && bodyAllowedForStatus(w.status) && !hhas(header, "Content-Length") && (!isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		setHeader.contentLength = strconv.AppendInt(w.clenBuf[:0], int64(len(p)), 10)
	}

	if w.wants10KeepAlive && keepAlivesEnabled {
		sentLength := hget(header, "Content-Length") != ""
		if sentLength && hget(header, "Connection") == "keep-alive" {
			w.closeAfterReply = false
		}
	}

	hasCL := w.contentLength != -1

	if w.wants10KeepAlive && (isHEAD || hasCL || !bodyAllowedForStatus(w.status)) {
		if _, set := header["Connection"]; !set {
			setHeader.connection = "keep-alive"
		}
	} else if !w.req.ProtoAtLeast(1, 1) || w.wantsClose {
		w.closeAfterReply = true
	}

	if hget(header, "Connection") == "close" || !keepAlivesEnabled {
		w.closeAfterReply = true
	}

	if ecr, ok := w.req.Body.(*continueBody); ok && !ecr.sawEOF {
		w.closeAfterReply = true
	}

	if w.req.ContentLength != 0 && !w.closeAfterReply {
		var discard, tooBig bool
		switch bdy := w.req.Body.(type) {
		case *continueBody:
		case *body:
			switch {
			case bdy.closed:
				if !bdy.sawEOF {
					w.closeAfterReply = true
				}
			case bdy.unread() >= maxPostHandlerReadBytes:
				tooBig = true
			default:
				discard = true
			}
		default:
			discard = true
		}
		if discard {
			_, err := io.CopyN(io.Discard, w.reqBody, maxPostHandlerReadBytes+1)
			switch err {
			case nil:
				tooBig = true
			case http.ErrBodyReadAfterClose:
			case io.EOF:
				if w.reqBody.Close() != nil {
					w.closeAfterReply = true
				}
			default:
				w.closeAfterReply = true
			}
		}
		if tooBig {
			w.requestTooLarge()
			delHeader("Connection")
			setHeader.connection = "close"
		}
	}

	code := w.status
	if bodyAllowedForStatus(code) {
		_, haveType := header["Content-Type"]
		hasCE := len(header.Get("Content-Encoding")) > 0
		if !hasCE && !haveType && !hasTE && len(p) > 0 {
			setHeader.contentType = http.DetectContentType(p)
		}
	} else {
		for _, k := range suppressedHeaders(code) {
			delHeader(k)
		}
	}

	if !hhas(header, "Date") {
		setHeader.date = w.conn.srv.now().UTC().AppendFormat(w.dateBuf[:0], http.TimeFormat)
	}

	if hasCL && hasTE && te != "identity" {
		w.conn.srv.logf("http: WriteHeader called with both Transfer-Encoding of %q and a Content-Length of %d", te, w.contentLength)
		delHeader("Content-Length")
		hasCL = false
	}

	switch {
	case w.req.Method == "HEAD" || !bodyAllowedForStatus(code) || code == http.StatusNoContent:
		delHeader("Transfer-Encoding")
	case hasCL:
		delHeader("Transfer-Encoding")
	case w.req.ProtoAtLeast(1, 1):
		if hasTE && te == "identity" {
			cw.chunking = false
			w.closeAfterReply = true
			delHeader("Transfer-Encoding")
		} else {
			cw.chunking = true
			setHeader.transferEncoding = "chunked"
			if hasTE && te == "chunked" {
				delHeader("Transfer-Encoding")
			}
		}
	default:
		w.closeAfterReply = true
		delHeader("Transfer-Encoding")
	}

	if cw.chunking {
		delHeader("Content-Length")
	}
	if !w.req.ProtoAtLeast(1, 0) {
		return
	}

	delConnectionHeader := w.closeAfterReply &&
		(!keepAlivesEnabled || !hasToken(hget(cw.header, "Connection"), "close")) &&
		!isProtocolSwitchResponse(w.status, header)
	if delConnectionHeader {
		delHeader("Connection")
		if w.req.ProtoAtLeast(1, 1) {
			setHeader.connection = "close"
		}
	}

	out := &w.conn.out
	*out = appendStatusLine(*out, w.req.ProtoAtLeast(1, 1), code)
	cw.header.WriteSubset(outWriter{out}, excludeHeader)
	*out = setHeader.appendTo(*out)
	*out = append(*out, "\r\n"...)
}

// appendStatusLine is net/http's writeStatusLine.
func appendStatusLine(b []byte, is11 bool, code int) []byte {
	if is11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	if text := http.StatusText(code); text != "" {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
		return append(b, "\r\n"...)
	}
	return fmt.Appendf(b, "%03d status code %d\r\n", code, code)
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == 204, status == 304:
		return false
	}
	return true
}

func suppressedHeaders(status int) []string {
	switch {
	case status == 304:
		return []string{"Content-Type", "Content-Length", "Transfer-Encoding"}
	case !bodyAllowedForStatus(status):
		return []string{"Content-Length", "Transfer-Encoding"}
	}
	return nil
}

func isProtocolSwitchResponse(code int, h http.Header) bool {
	return code == http.StatusSwitchingProtocols && h.Get("Upgrade") != "" && valuesContainToken(h["Connection"], "Upgrade")
}

// hget is http.Header's unexported get: the first value of a key given
// in canonical form.
func hget(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func hhas(h http.Header, key string) bool {
	_, ok := h[key]
	return ok
}

// hasToken is net/http's: whether token appears in v, ASCII
// case-insensitively, bounded by space, tab, comma or the ends.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if endPos := sp + len(token); endPos != len(v) && !isTokenBoundary(v[endPos]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// valuesContainToken is httpguts.HeaderValuesContainsToken.
func valuesContainToken(values []string, token string) bool {
	for _, v := range values {
		for {
			comma := strings.IndexByte(v, ',')
			part := v
			if comma >= 0 {
				part = v[:comma]
			}
			if tokenEqual(strings.Trim(part, " \t"), token) {
				return true
			}
			if comma < 0 {
				break
			}
			v = v[comma+1:]
		}
	}
	return false
}

func tokenEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 0x80 {
			return false
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func foreachHeaderElement(v string, fn func(string)) {
	v = textproto.TrimString(v)
	if v == "" {
		return
	}
	if !strings.Contains(v, ",") {
		fn(v)
		return
	}
	for f := range strings.SplitSeq(v, ",") {
		if f = textproto.TrimString(f); f != "" {
			fn(f)
		}
	}
}

// outWriter appends to a connection's output.
type outWriter struct{ b *[]byte }

func (o outWriter) Write(p []byte) (int, error) {
	*o.b = append(*o.b, p...)
	return len(p), nil
}

func (o outWriter) WriteString(s string) (int, error) {
	*o.b = append(*o.b, s...)
	return len(s), nil
}
