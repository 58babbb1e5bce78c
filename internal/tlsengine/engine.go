package tlsengine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultHandshakeTimeout bounds a handshake when Config.HandshakeTimeout
// is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// MaxHandshakeInput bounds the ciphertext a handshake takes from the
// peer: a handshake needs a few KiB, a certificate chain some more, and
// crypto/tls accepts a Certificate message of up to 256 KiB. A handshake
// that has taken this much and asks for more fails with an error
// wrapping ErrHandshakeInput. The loop feeding an engine should stop
// reading once it has fed this much before the handshake ended (a peer
// may send more while the handshake goroutine is queued or busy): what a
// handshake holds is then bounded too. Bytes that follow the peer's last
// handshake record (application data sent right after its Finished) are
// not taken by the handshake and do not count.
const MaxHandshakeInput = 128 << 10

// Config configures an Engine.
type Config struct {
	// TLS is the crypto/tls configuration, used as given: certificates,
	// GetCertificate (SNI), NextProtos (ALPN), ClientAuth and ClientCAs,
	// session tickets and ClientSessionCache, versions and curves. Its
	// callbacks run on the handshake goroutine, not on the loop's: they
	// must not touch loop state. Required.
	TLS *tls.Config

	// Server selects the server side of the handshake.
	Server bool

	// Notify tells the loop it has something to do: after each flight of
	// handshake output (drain it with AppendOutput) and once when the
	// handshake ends (check Handshake). It is called from the handshake
	// goroutine, from the handshake timer's, or, when the handshake ends
	// at once (the Limiter is full; EOF fed before a server's first
	// byte), from inside Start, Feed or FeedEOF on the loop's own
	// goroutine. It is called with the engine's lock held: it must not
	// block and must not call the engine; it only wakes the loop (a
	// tevent ThreadProxy.Schedule of a function made once). It is never
	// called after Close returns, nor after the handshake ended.
	// Required.
	Notify func()

	// HandshakeTimeout bounds the handshake from Start, time queued
	// behind the Limiter included: zero means DefaultHandshakeTimeout,
	// a negative value no bound.
	HandshakeTimeout time.Duration

	// Limiter bounds the handshakes in flight; nil is a process-wide
	// limiter with DefaultMaxHandshakes and DefaultMaxQueuedHandshakes.
	Limiter *Limiter

	// LocalAddr and RemoteAddr are what the handshake's net.Conn reports
	// (tls.ClientHelloInfo.Conn, for instance); nil reports a placeholder.
	// The engine drops them once the handshake succeeded.
	LocalAddr, RemoteAddr net.Addr
}

// addrPair holds Config.LocalAddr and Config.RemoteAddr for the
// handshake.
type addrPair struct{ local, remote net.Addr }

// Engine is one TLS connection's state machine, driven by an event loop
// over standard crypto/tls. The loop moves bytes: it feeds the ciphertext
// it reads from the socket in with Feed (and the end of the stream with
// FeedEOF), and sends what AppendOutput (or AppendWrite) hands it.
//
// The handshake runs on a goroutine over a blocking adapter the loop
// feeds (crypto/tls's handshake cannot pause: its error is sticky), and
// the engine calls Config.Notify when it produced output or ended. After
// it, the loop reads and writes records itself, on its own goroutine,
// through a non-blocking adapter: Read returns ErrWouldBlock when no
// whole record is buffered, Write appends ciphertext to the output.
//
// Every method is for the loop's goroutine (one goroutine at a time);
// only Notify comes from elsewhere. Typical loop code:
//
//	e, _ := tlsengine.New(cfg)
//	e.Start()
//	on socket readable:  e.Feed(bytes); then as on Notify, and Read until ErrWouldBlock
//	on Notify:           out = e.AppendOutput(out); done, err := e.Handshake()
//	to send:             out, n, err = e.AppendWrite(out, plaintext)
//	to end:              e.CloseWrite(); out = e.AppendOutput(out); send it; e.Close()
type Engine struct {
	// mu guards ad, hs, hsDone, hsErr and closed while a handshake
	// goroutine or timer may run; once the loop has seen the handshake
	// succeed (ready), the loop alone touches ad, lock-free.
	mu      sync.Mutex
	ad      adapter
	tc      *tls.Conn
	pre     *hsParams  // from New until Start
	hs      *handshake // from Start until the handshake ends
	hsErr   error
	server  bool
	started bool
	hsDone  bool
	ready   bool // loop-only: the loop saw the handshake succeed
	// quiet (loop-only) is true when crypto/tls holds neither input
	// nor plaintext: its last Read asked for more, or returned a
	// record's plaintext without filling the caller's buffer (it holds
	// at most one record, see adapter). Read then answers ErrWouldBlock
	// itself until the adapter can make it progress: a would-block
	// probe through crypto/tls costs an allocation and a type switch.
	quiet bool
	// overhead is the record body's length minus its plaintext's when
	// the peer does not pad (TLS 1.3: the tag and the content type; 0,
	// unused, for TLS 1.2): once a record's plaintext has been read up
	// to lastLen - overhead it is all read, so a Read that exactly
	// fills the caller's buffer can leave crypto/tls quiet too.
	// plainLeft is what is left of the current record's plaintext by
	// that count; seenRecs is adapter.recs when it was set.
	overhead  int8
	closed    bool
	inQueue   bool // in the Limiter's queue (Limiter.mu)
	seenRecs  uint32
	plainLeft int32

	// The Limiter's queue, guarded by Limiter.mu.
	qprev, qnext *Engine
}

// hsParams are the handshake's parameters from New until Start: an idle
// engine keeps nothing of the handshake.
type hsParams struct {
	notify  func()
	limiter *Limiter
	timeout time.Duration
}

// handshake is the state that lives only while a handshake does.
type handshake struct {
	cond       sync.Cond // on Engine.mu: input, EOF or abort for the goroutine
	ctx        context.Context
	cancel     context.CancelCauseFunc
	timer      *time.Timer
	notify     func() // Config.Notify
	limiter    *Limiter
	abortCause error // why abort ended it (timeout, Close, input bound)
	taken      int   // ciphertext crypto/tls has taken (MaxHandshakeInput)
	launched   bool  // given to the Limiter
}

// New returns an engine for one connection. Nothing runs until Start.
func New(cfg Config) (*Engine, error) {
	if cfg.TLS == nil {
		return nil, errors.New("tlsengine: Config.TLS is nil")
	}
	if cfg.Notify == nil {
		return nil, errors.New("tlsengine: Config.Notify is nil")
	}
	pre := &hsParams{notify: cfg.Notify, limiter: cfg.Limiter, timeout: cfg.HandshakeTimeout}
	if pre.limiter == nil {
		pre.limiter = defaultLimiter
	}
	if pre.timeout == 0 {
		pre.timeout = DefaultHandshakeTimeout
	}
	e := &Engine{pre: pre, server: cfg.Server}
	e.ad.e = e
	if cfg.LocalAddr != nil || cfg.RemoteAddr != nil {
		e.ad.addrs = &addrPair{cfg.LocalAddr, cfg.RemoteAddr}
	}
	if cfg.Server {
		e.tc = tls.Server(&e.ad, cfg.TLS)
	} else {
		e.tc = tls.Client(&e.ad, cfg.TLS)
	}
	return e, nil
}

// Start begins the handshake and arms its timeout. A client's handshake
// goroutine starts now (its first flight follows through Notify); a
// server's when the first bytes are fed, so a peer that never speaks
// holds no goroutine. It fails with an error wrapping ErrHandshakeLimit
// when the Limiter is full (the handshake has then failed with that
// error), with ErrClosed after Close, and when called twice.
func (e *Engine) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.started {
		return errors.New("tlsengine: Start called twice")
	}
	e.started = true
	p := e.pre
	e.pre = nil
	hs := &handshake{notify: p.notify, limiter: p.limiter}
	hs.cond.L = &e.mu
	hs.ctx, hs.cancel = context.WithCancelCause(context.Background())
	e.hs = hs
	e.ad.blocking = true
	if p.timeout > 0 {
		cause := fmt.Errorf("%w after %v", ErrHandshakeTimeout, p.timeout)
		hs.timer = time.AfterFunc(p.timeout, func() { e.abort(cause) })
	}
	switch {
	case !e.server || e.ad.r < len(e.ad.in):
		return e.launchLocked()
	case e.ad.eof:
		e.endLocked(io.EOF) // the peer left before saying anything
	}
	return nil
}

// launchLocked hands the handshake to the Limiter; e.mu is held.
func (e *Engine) launchLocked() error {
	hs := e.hs
	hs.launched = true
	if hs.limiter.start(e) {
		return nil
	}
	err := fmt.Errorf("%w: %w", ErrHandshake, ErrHandshakeLimit)
	e.endLocked(err)
	return err
}

// runHandshake runs on a handshake goroutine.
func (e *Engine) runHandshake() {
	e.mu.Lock()
	hs := e.hs
	e.mu.Unlock()
	if hs == nil {
		return // ended while queued
	}
	e.finish(e.handshakeCall(hs.ctx))
}

// handshakeCall runs crypto/tls's handshake; a panic in a tls.Config
// callback becomes its error (it would otherwise end the process from a
// goroutine no caller can recover on).
func (e *Engine) handshakeCall(ctx context.Context) (err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("panic in a tls.Config callback: %v\n\n%s", x, debug.Stack())
		}
	}()
	return e.tc.HandshakeContext(ctx)
}

// abort ends a handshake in progress with cause (timeout, Close).
func (e *Engine) abort(cause error) {
	e.mu.Lock()
	hs := e.hs
	if e.hsDone || hs == nil {
		e.mu.Unlock()
		return
	}
	if hs.abortCause == nil {
		hs.abortCause = cause
	}
	e.ad.aborted = true
	hs.cond.Broadcast()
	launched := hs.launched
	e.mu.Unlock()
	hs.cancel(cause) // for tls.Config callbacks watching ClientHelloInfo.Context
	// A handshake not given to the Limiter, or still queued, has no
	// goroutine to end it: end it here. A running one ends on its own
	// now that its reads fail.
	if !launched || hs.limiter.remove(e) {
		e.finish(cause)
	}
}

// finish records the end of the handshake and notifies the loop.
func (e *Engine) finish(err error) {
	e.mu.Lock()
	e.endLocked(err)
	e.mu.Unlock()
}

// endLocked ends the handshake with err (nil: success); e.mu is held.
func (e *Engine) endLocked(err error) {
	if e.hsDone {
		return
	}
	hs := e.hs
	if hs.abortCause != nil {
		err = hs.abortCause // the handshake's own error is its consequence
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed), errors.Is(err, ErrHandshake):
	default:
		err = wrap(ErrHandshake, err)
	}
	e.hsDone, e.hsErr = true, err
	e.ad.blocking = false
	e.hs = nil
	if hs.timer != nil {
		hs.timer.Stop()
	}
	hs.cancel(context.Canceled)
	if !e.closed {
		hs.notify() // the last call: hs, and what Notify holds, go with it
	}
}

// notify wakes the loop during the handshake; e.mu is held.
func (e *Engine) notify() {
	if !e.closed {
		e.hs.notify()
	}
}

// Handshake reports the handshake's state: (false, nil) while it runs,
// (true, nil) once it succeeded (Read, Write and ConnectionState work
// from then on), (true, err) once it failed, err wrapping ErrHandshake
// (with crypto/tls's error, ErrHandshakeTimeout or ErrHandshakeLimit) or
// being ErrClosed. A failed handshake may leave an alert for the peer in
// the output. Once it succeeded, call Read even if nothing more is fed:
// application data that came in with the peer's last flight is already
// inside the engine.
func (e *Engine) Handshake() (done bool, err error) {
	if e.ready {
		return true, nil
	}
	switch err := e.sync(); err {
	case nil:
		return true, nil
	case ErrHandshakePending:
		return false, nil
	default:
		return true, err
	}
}

// sync takes the handshake's result; the engine is ready when it
// returns nil.
func (e *Engine) sync() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return ErrClosed
	case !e.hsDone:
		return ErrHandshakePending
	case e.hsErr != nil:
		return e.hsErr
	}
	e.ready = true
	e.ad.addrs = nil // the handshake goroutine is done with them
	if e.tc.ConnectionState().Version == tls.VersionTLS13 {
		e.overhead = 16 + 1 // every TLS 1.3 suite's tag, the inner content type
	}
	return nil
}

// Feed hands the engine ciphertext read from the socket; p is copied.
// The first bytes fed to a started server start its handshake goroutine,
// which can fail with an error wrapping ErrHandshakeLimit (the handshake
// has then failed). After Close it returns ErrClosed.
func (e *Engine) Feed(p []byte) error {
	if e.ready {
		if e.ad.closed {
			return ErrClosed
		}
		if len(p) > 0 { // an empty feed must not take a pooled buffer
			e.ad.feed(p)
		}
		return nil
	}
	if len(p) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.ad.feed(p)
	if hs := e.hs; hs != nil {
		if !hs.launched && !e.ad.aborted {
			return e.launchLocked()
		}
		hs.cond.Signal()
	}
	return nil
}

// FeedEOF tells the engine the peer's byte stream ended. A handshake
// then fails (with io.EOF wrapped); Read returns io.EOF if a close_notify
// came first, ErrTruncated otherwise.
func (e *Engine) FeedEOF() {
	if e.ready {
		e.ad.eof = true
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ad.eof = true
	if hs := e.hs; hs != nil {
		if !hs.launched && !e.ad.aborted {
			e.endLocked(io.EOF) // no goroutine needed to fail
			return
		}
		hs.cond.Signal()
	}
}

// AppendOutput appends the ciphertext waiting to be sent to dst (a
// handshake flight, an alert, a key update answer, close_notify, records
// written with Write) and returns the extended slice.
func (e *Engine) AppendOutput(dst []byte) []byte {
	if e.ready {
		return e.ad.drainOut(dst)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ad.drainOut(dst)
}

// OutputLen is the number of ciphertext bytes waiting for AppendOutput.
func (e *Engine) OutputLen() int {
	if e.ready {
		return len(e.ad.out)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ad.out)
}

// Read decrypts into p. It returns n > 0 with a nil error, or:
// ErrWouldBlock when no whole record is buffered (feed more); io.EOF
// after the peer's close_notify; ErrTruncated when the stream ended
// without one; an error wrapping ErrProtocol for a record that fails
// (garbage, a fatal alert from the peer): then an alert for the peer
// may be in the output. Errors other than ErrWouldBlock are final. The
// engine may hold more plaintext than p takes: call Read until it
// returns ErrWouldBlock. Before the handshake succeeded it returns
// ErrHandshakePending or the handshake's error.
func (e *Engine) Read(p []byte) (int, error) {
	if !e.ready || e.ad.closed {
		if err := e.sync(); err != nil {
			return 0, err
		}
	}
	if e.quiet && !e.ad.canProgress() {
		return 0, ErrWouldBlock
	}
	n, err := e.tc.Read(p)
	if err == nil || n > 0 {
		a := &e.ad
		if a.recs != e.seenRecs { // the plaintext comes from a new record
			e.seenRecs = a.recs
			e.plainLeft = int32(a.lastLen) - int32(e.overhead)
		}
		e.plainLeft -= int32(n)
		e.quiet = n < len(p) || (e.overhead != 0 && e.plainLeft == 0)
		return n, nil // a final error comes back on the next call
	}
	e.quiet = err == ErrWouldBlock
	return 0, e.readError(err)
}

// readError maps crypto/tls's Read errors.
func (e *Engine) readError(err error) error {
	switch {
	case err == ErrWouldBlock:
		return ErrWouldBlock
	case e.ad.closed:
		return ErrClosed
	case err == io.EOF && !e.ad.eofRead:
		return io.EOF // close_notify
	case err == io.EOF, err == io.ErrUnexpectedEOF:
		return ErrTruncated
	}
	return wrap(ErrProtocol, err)
}

// Write encrypts p into records and appends them to the output
// (AppendOutput takes them). It returns len(p) or an error: ErrClosed,
// ErrHandshakePending or the handshake's error, or one wrapping
// ErrProtocol (after CloseWrite, or after a fatal alert).
func (e *Engine) Write(p []byte) (int, error) {
	if !e.ready || e.ad.closed {
		if err := e.sync(); err != nil {
			return 0, err
		}
	}
	n, err := e.tc.Write(p)
	if err != nil {
		return n, e.writeError(err)
	}
	return n, nil
}

// AppendWrite appends the pending output, then the records of p, to dst
// and returns the extended slice: Write and AppendOutput in one step,
// with the records encrypted straight into dst (no copy through the
// engine's output). The returned n and error are Write's.
func (e *Engine) AppendWrite(dst, p []byte) ([]byte, int, error) {
	if !e.ready || e.ad.closed {
		if err := e.sync(); err != nil {
			return dst, 0, err
		}
	}
	a := &e.ad
	a.out, a.directOn = a.drainOut(dst), true // out is empty now
	n, err := e.tc.Write(p)
	dst = a.out
	a.out, a.directOn = nil, false
	if err != nil {
		return dst, n, e.writeError(err)
	}
	return dst, n, nil
}

func (e *Engine) writeError(err error) error {
	if e.ad.closed {
		return ErrClosed
	}
	return wrap(ErrProtocol, err)
}

// CloseWrite appends a close_notify alert to the output; later writes
// fail. The peer's data can still be read.
func (e *Engine) CloseWrite() error {
	if !e.ready || e.ad.closed {
		if err := e.sync(); err != nil {
			return err
		}
	}
	if err := e.tc.CloseWrite(); err != nil {
		return e.writeError(err)
	}
	return nil
}

// ConnectionState is crypto/tls's state of the connection (version,
// cipher suite, ALPN protocol, SNI server name, peer certificates,
// whether the session was resumed) once the handshake succeeded; the
// zero value before.
func (e *Engine) ConnectionState() tls.ConnectionState {
	if !e.ready && e.sync() != nil {
		return tls.ConnectionState{}
	}
	return e.tc.ConnectionState()
}

// Close releases the engine: a handshake in progress ends with ErrClosed
// and its goroutine exits promptly (a tls.Config callback that blocks
// delays that exit, not Close); Notify is not called after Close
// returns; buffered input and output are dropped (take a close_notify
// with CloseWrite and AppendOutput first). Idempotent.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.ad.closed = true
	e.ad.releaseIn()
	e.ad.releaseOut()
	running := e.hs != nil
	if running {
		e.hs.cond.Broadcast()
	}
	e.mu.Unlock()
	if running {
		e.abort(ErrClosed)
	}
}
