package tlsengine

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// adapter is the net.Conn crypto/tls reads ciphertext from and writes
// ciphertext to. It has two modes:
//
//   - blocking, during the handshake, used by the handshake goroutine: Read
//     waits (on the handshake's condition variable, under Engine.mu) until
//     the loop feeds bytes, feeds EOF, or the handshake is aborted; Write
//     appends to the pending output and notifies the loop.
//   - non-blocking, after it, used by the loop goroutine only, without a
//     lock: Read returns ErrWouldBlock when nothing is buffered; Write
//     appends to the pending output, or straight into the caller's buffer
//     during AppendWrite.
//
// Its buffers are nil while empty: the input buffer goes back to a pool
// as soon as crypto/tls has taken the last byte, the output buffer as
// soon as the loop has drained it.
//
// Read hands crypto/tls at most the rest of the record it is reading
// (the adapter follows the record framing of the bytes it hands: hdr,
// hdrN, body): crypto/tls asks for more only when its record input
// holds less than a record, so it never holds more than the record it
// is working on. Once it has returned that record's plaintext it holds
// nothing, and the engine can tell that a Read would block without
// asking it (Engine.quiet, adapter.canProgress).
type adapter struct {
	e *Engine

	in   []byte  // fed and not yet read: in[r:]
	inp  *[]byte // in's pool slot, nil for a buffer not from the pool
	r    int
	body int     // bytes of the current record's body not yet handed
	hdrN uint8   // bytes of the current record's header handed (0: at a record boundary)
	hdr  [5]byte // the current record's header, as far as handed
	// recs counts the records handed whole; lastLen is the body length
	// of the last one (Engine.Read's plainLeft).
	recs    uint32
	lastLen uint16
	out     []byte // pending output
	outp    *[]byte

	directOn bool      // AppendWrite runs: out is its caller's buffer (outp nil)
	blocking bool      // handshake mode; changed only under Engine.mu
	eof      bool      // the loop fed EOF
	eofRead  bool      // Read has returned io.EOF to crypto/tls
	aborted  bool      // the handshake was aborted (timeout, Close)
	closed   bool      // the engine is closed
	addrs    *addrPair // during the handshake; nil: placeholders
}

// poolBufSize holds a TLS 1.2 record of the largest size with room to
// spare; bigger buffers are not pooled.
const (
	poolBufSize = 16384 + 2048 + 5
	maxPooled   = 4 * poolBufSize
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, poolBufSize); return &b }}

// getBuf takes an empty buffer from the pool.
func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns b (the slice that was taken as *p, maybe grown) to the
// pool.
func putBuf(p *[]byte, b []byte) {
	if p == nil || cap(b) > maxPooled {
		return
	}
	*p = b[:0]
	bufPool.Put(p)
}

// feed appends p to the input. During the handshake the buffer is an
// exact-size allocation (a queued handshake must not pin a pooled
// record-sized buffer); after it, a pooled one.
func (a *adapter) feed(p []byte) {
	if len(a.in) == a.r && a.in != nil {
		a.in, a.r = a.in[:0], 0
	}
	if a.in == nil && !a.blocking {
		a.inp = getBuf()
		a.in = *a.inp
	}
	if a.r > 0 && len(a.in)+len(p) > cap(a.in) {
		k := copy(a.in, a.in[a.r:])
		a.in, a.r = a.in[:k], 0
	}
	a.in = append(a.in, p...)
}

// TLS record framing, as the adapter follows it.
const (
	recordHeaderLen = 5
	// maxCiphertext is the largest record body crypto/tls accepts (TLS
	// 1.2's bound; TLS 1.3's is smaller).
	maxCiphertext = 16384 + 2048
)

// recordRest returns how many of the buffered bytes b belong to the
// record being handed (up to its end), and whether that end is in b. A
// header not yet complete in b makes all of b count, not whole.
func (a *adapter) recordRest(b []byte) (n int, whole bool) {
	if a.hdrN == 0 && len(b) >= recordHeaderLen { // at a header, all of it here
		rest := recordHeaderLen + (int(b[3])<<8 | int(b[4]))
		if rest > len(b) {
			return len(b), false
		}
		return rest, true
	}
	if a.hdrN < recordHeaderLen {
		need := recordHeaderLen - int(a.hdrN)
		if len(b) < need {
			return len(b), false
		}
		var h [recordHeaderLen]byte
		copy(h[copy(h[:], a.hdr[:a.hdrN]):], b[:need])
		rest := need + (int(h[3])<<8 | int(h[4]))
		if rest > len(b) {
			return len(b), false
		}
		return rest, true
	}
	if a.body > len(b) {
		return len(b), false
	}
	return a.body, true
}

// advance follows the framing over b, the bytes just handed (never past
// the end of the current record).
func (a *adapter) advance(b []byte) {
	if a.hdrN < recordHeaderLen {
		k := copy(a.hdr[a.hdrN:], b)
		a.hdrN += uint8(k)
		b = b[k:]
		if a.hdrN < recordHeaderLen {
			return
		}
		a.body = int(a.hdr[3])<<8 | int(a.hdr[4])
	}
	a.body -= len(b)
	if a.body <= 0 {
		a.hdrN, a.body = 0, 0 // at the next record's header
		a.recs++
		a.lastLen = uint16(a.hdr[3])<<8 | uint16(a.hdr[4])
	}
}

// canProgress reports whether crypto/tls, holding no input, could do
// anything but ask for more: a whole record is buffered, the stream
// ended, or the buffered header is one crypto/tls rejects at once (a
// record type or version it never accepts after the handshake, a
// length beyond any record), which must reach it now, not after its
// announced length has arrived.
func (a *adapter) canProgress() bool {
	if a.eof || a.closed {
		return true
	}
	b := a.in[a.r:]
	if _, whole := a.recordRest(b); whole {
		return true
	}
	if a.hdrN != 0 || len(b) < recordHeaderLen {
		return false // inside a record crypto/tls already checked; a header not all here
	}
	typ, major, length := b[0], b[1], int(b[3])<<8|int(b[4])
	return typ < 20 || typ > 23 || major != 3 || length > maxCiphertext
}

// take copies buffered input into p, up to the end of the current
// record, and releases the buffer once empty.
func (a *adapter) take(p []byte) int {
	b := a.in[a.r:]
	rest, _ := a.recordRest(b)
	n := copy(p, b[:rest])
	a.advance(b[:n])
	a.r += n
	if a.r == len(a.in) {
		a.releaseIn()
	}
	return n
}

func (a *adapter) releaseIn() {
	putBuf(a.inp, a.in)
	a.in, a.inp, a.r = nil, nil, 0
}

// appendOut adds ciphertext to the pending output.
func (a *adapter) appendOut(p []byte) {
	if a.out == nil && !a.blocking && len(p) <= poolBufSize {
		a.outp = getBuf()
		a.out = *a.outp
	}
	a.out = append(a.out, p...)
}

// drainOut appends the pending output to dst and releases its buffer.
func (a *adapter) drainOut(dst []byte) []byte {
	if len(a.out) == 0 {
		if a.outp != nil {
			a.releaseOut() // an empty pooled buffer
		}
		return dst
	}
	dst = append(dst, a.out...)
	a.releaseOut()
	return dst
}

func (a *adapter) releaseOut() {
	putBuf(a.outp, a.out)
	a.out, a.outp = nil, nil
}

// Read gives crypto/tls buffered ciphertext.
func (a *adapter) Read(p []byte) (int, error) {
	if a.blocking {
		return a.readBlocking(p)
	}
	if a.r < len(a.in) {
		return a.take(p), nil
	}
	switch {
	case a.closed:
		return 0, ErrClosed
	case a.eof:
		a.eofRead = true
		return 0, io.EOF
	}
	return 0, ErrWouldBlock
}

// readBlocking is Read on the handshake goroutine.
func (a *adapter) readBlocking(p []byte) (int, error) {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	hs := e.hs
	if hs.taken >= MaxHandshakeInput && !a.aborted {
		// crypto/tls wants more than a handshake may take: end it.
		if hs.abortCause == nil {
			hs.abortCause = fmt.Errorf("%w (%d bytes)", ErrHandshakeInput, MaxHandshakeInput)
		}
		a.aborted = true
	}
	for a.r == len(a.in) && !a.eof && !a.aborted && !a.closed {
		hs.cond.Wait()
	}
	switch {
	case a.aborted || a.closed:
		return 0, net.ErrClosed
	case a.r < len(a.in):
		n := a.take(p)
		hs.taken += n
		return n, nil
	}
	a.eofRead = true
	return 0, io.EOF
}

// Write takes ciphertext from crypto/tls.
func (a *adapter) Write(p []byte) (int, error) {
	if a.blocking {
		return a.writeBlocking(p)
	}
	if a.closed {
		return 0, ErrClosed
	}
	if a.directOn {
		a.out = append(a.out, p...)
	} else {
		a.appendOut(p)
	}
	return len(p), nil
}

// writeBlocking is Write on the handshake goroutine: one flight of
// handshake messages (crypto/tls buffers a flight into one Write).
func (a *adapter) writeBlocking(p []byte) (int, error) {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if a.aborted || a.closed {
		return 0, net.ErrClosed
	}
	a.appendOut(p)
	e.notify()
	return len(p), nil
}

// Close is called by crypto/tls when the handshake's context is
// cancelled: it unblocks a waiting Read. The engine's own state is
// unchanged (Engine.Close closes the engine).
func (a *adapter) Close() error {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.hsDone && e.hs != nil {
		a.aborted = true
		e.hs.cond.Broadcast()
	}
	return nil
}

// LocalAddr is Config.LocalAddr, or a placeholder.
func (a *adapter) LocalAddr() net.Addr {
	if a.addrs != nil && a.addrs.local != nil {
		return a.addrs.local
	}
	return noAddr{}
}

// RemoteAddr is Config.RemoteAddr, or a placeholder.
func (a *adapter) RemoteAddr() net.Addr {
	if a.addrs != nil && a.addrs.remote != nil {
		return a.addrs.remote
	}
	return noAddr{}
}

// SetDeadline is a no-op: the engine's handshake timeout and the loop's
// timers bound the waiting.
func (a *adapter) SetDeadline(time.Time) error { return nil }

// SetReadDeadline is a no-op, as SetDeadline.
func (a *adapter) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline is a no-op: writes never block.
func (a *adapter) SetWriteDeadline(time.Time) error { return nil }

// noAddr is the address of an engine given none.
type noAddr struct{}

func (noAddr) Network() string { return "tlsengine" }
func (noAddr) String() string  { return "tlsengine" }
