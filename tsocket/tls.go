package tsocket

// The TLS stream (Samba's tstream_tls, source4/lib/tls/tls_tstream.c):
// a StreamOps implementation stacked on another stream's ops, taken over
// with TakeOps, driven by internal/tlsengine over standard crypto/tls.
//
// The handshake runs on a goroutine of the engine over a blocking adapter
// the loop feeds: the loop reads ciphertext from the lower ops when they
// are readable and feeds it in, and sends what the engine produces; the
// engine's Notify reaches the loop through a ThreadProxy made for the
// handshake and freed when it ends. After the handshake everything runs
// on the loop: Readv decrypts what the engine holds and, when it holds no
// whole record, reads what the lower ops have (one readv into a pooled
// buffer, fed to the engine); Writev encrypts straight into a pooled
// output buffer that is written to the lower ops at once, and what they
// do not take is written as they drain.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/tlsengine"
)

// Errors of TLS streams, matched with errors.Is. A handshake failure
// wraps ErrTLSHandshake and crypto/tls's error (match a
// *tls.CertificateVerificationError or a tls.AlertError with errors.As);
// a failure of the record layer after it wraps ErrTLSProtocol.
var (
	// ErrTLSHandshake is wrapped by every failure of TLSConnect and
	// TLSAccept's handshake: a bad certificate, a protocol error, the
	// peer's alert (with ErrTLSPeerAlert), the lower stream's end or
	// failure, ErrTLSHandshakeTimeout, ErrTLSHandshakeLimit.
	ErrTLSHandshake = tlsengine.ErrHandshake
	// ErrTLSHandshakeTimeout is wrapped (with ErrTLSHandshake) when the
	// handshake did not finish within TLSOptions.HandshakeTimeout
	// (DefaultTLSHandshakeTimeout), time queued behind the limiter
	// included.
	ErrTLSHandshakeTimeout = tlsengine.ErrHandshakeTimeout
	// ErrTLSHandshakeLimit is wrapped (with ErrTLSHandshake) when the
	// TLSLimiter already has as many handshakes running and queued as it
	// allows: the connection should be dropped.
	ErrTLSHandshakeLimit = tlsengine.ErrHandshakeLimit
	// ErrTLSProtocol is wrapped by a record-layer failure after the
	// handshake: a record that does not decrypt (garbage from the peer),
	// an alert the peer sent (with ErrTLSPeerAlert), a write after
	// CloseWrite.
	ErrTLSProtocol = tlsengine.ErrProtocol
	// ErrTLSPeerAlert is wrapped, with ErrTLSHandshake or ErrTLSProtocol,
	// when the failure is a fatal alert the peer sent (it rejected our
	// certificate, or a record).
	ErrTLSPeerAlert = tlsengine.ErrPeerAlert
	// ErrTLSTruncated is the read error of a TLS stream whose peer's byte
	// stream ended without a close_notify alert: the data may have been
	// cut by an attacker. It wraps io.ErrUnexpectedEOF. A clean end
	// (close_notify received) is io.EOF.
	ErrTLSTruncated = tlsengine.ErrTruncated
	// ErrTLSHandshakeInput is wrapped (with ErrTLSHandshake) when the
	// handshake took MaxTLSHandshakeInput bytes from the peer and asked
	// for more: a peer streaming an endless handshake message.
	ErrTLSHandshakeInput = tlsengine.ErrHandshakeInput
)

// Defaults of TLS streams.
const (
	// DefaultTLSHandshakeTimeout bounds a handshake when
	// TLSOptions.HandshakeTimeout is zero.
	DefaultTLSHandshakeTimeout = tlsengine.DefaultHandshakeTimeout
	// DefaultTLSMaxHandshakes is how many handshakes of the process-wide
	// limiter run at once, each on a goroutine.
	DefaultTLSMaxHandshakes = tlsengine.DefaultMaxHandshakes
	// DefaultTLSMaxQueuedHandshakes is how many more the process-wide
	// limiter queues, without a goroutine, before refusing with
	// ErrTLSHandshakeLimit.
	DefaultTLSMaxQueuedHandshakes = tlsengine.DefaultMaxQueuedHandshakes
	// MaxTLSHandshakeInput bounds the ciphertext a handshake reads from
	// the lower stream (the same bound as tserver's): once that much came
	// in before the handshake ended, reading pauses until it ends (the
	// handshake timeout ends a peer that stalls it), and a handshake that
	// has taken that much and wants more fails with ErrTLSHandshakeInput.
	// What the peer sends after its last handshake record is not
	// handshake input: it waits, decrypted once the stream is read.
	MaxTLSHandshakeInput = tlsengine.MaxHandshakeInput
)

// TLSLimiter bounds the TLS handshakes in flight across the streams that
// share it: at most maxRunning run at once, each on a goroutine parked
// between the peer's flights; up to maxQueued more wait in FIFO order
// without a goroutine; beyond that a handshake fails at once with
// ErrTLSHandshakeLimit. A server's handshake takes its place only once the
// client's first bytes arrive. Safe for concurrent use.
type TLSLimiter struct{ l *tlsengine.Limiter }

// NewTLSLimiter returns a limiter of maxRunning (at least 1) handshakes
// at once and maxQueued (at least 0) waiting; other values panic.
func NewTLSLimiter(maxRunning, maxQueued int) *TLSLimiter {
	return &TLSLimiter{l: tlsengine.NewLimiter(maxRunning, maxQueued)}
}

// InFlight reports how many handshakes run and how many are queued.
func (l *TLSLimiter) InFlight() (running, queued int) { return l.l.InFlight() }

// TLSOptions are the options of a TLS handshake beyond the tls.Config;
// the zero value gives the defaults (TLSConnect, TLSAccept).
type TLSOptions struct {
	// HandshakeTimeout bounds the handshake from its start, time queued
	// behind the limiter included: zero means DefaultTLSHandshakeTimeout
	// (10 s), a negative value no bound (the request's own SetEndtime
	// still works).
	HandshakeTimeout time.Duration
	// Limiter bounds the handshakes in flight; nil is the process-wide
	// limiter (DefaultTLSMaxHandshakes running, DefaultTLSMaxQueuedHandshakes
	// queued).
	Limiter *TLSLimiter
}

// TLSConnect starts a TLS client handshake over st
// (tstream_tls_connect_send) with TLSOptions' defaults. See
// TLSOptions.Connect.
func TLSConnect(o tevent.Owner, st *Stream, cfg *tls.Config) *tevent.Req[*Stream] {
	return TLSOptions{}.Connect(o, st, cfg)
}

// TLSAccept starts a TLS server handshake over st
// (tstream_tls_accept_send) with TLSOptions' defaults. See
// TLSOptions.Accept.
func TLSAccept(o tevent.Owner, st *Stream, cfg *tls.Config) *tevent.Req[*Stream] {
	return TLSOptions{}.Accept(o, st, cfg)
}

// Connect starts a TLS client handshake over st and finishes with the TLS
// stream, owned by o (not by the request: it outlives Result). The TLS
// stream takes st's implementation over (TakeOps): st is empty from then
// on, and freeing the TLS stream closes what was under st. It is refused
// with ErrBusy while st has a request in flight, and with st's sticky
// error. cfg is used as crypto/tls takes it (ServerName, RootCAs,
// Certificates, NextProtos, ClientSessionCache ...); its callbacks run on
// the handshake goroutine, not the loop's.
//
// Failures wrap ErrTLSHandshake (see the TLS errors); an alert for the
// peer is sent best-effort before the lower stream is closed. Cancel, a
// timeout or freeing the request before it finished closes everything.
//
// Once the handshake is done, reads decrypt and writes encrypt on the
// loop, with the Stream rules unchanged: io.EOF after the peer's
// close_notify, ErrTLSTruncated when the peer's stream ended without one,
// an error wrapping ErrTLSProtocol for a record that fails. CloseWrite
// sends close_notify; freeing (or Disconnect) sends it best-effort, as
// far as the lower stream takes it at once. Pending reports the
// plaintext a read would return now (it decrypts ahead to know).
func (opts TLSOptions) Connect(o tevent.Owner, st *Stream, cfg *tls.Config) *tevent.Req[*Stream] {
	return opts.start(o, st, cfg, false, "tsocket.TLSConnect")
}

// Accept starts a TLS server handshake over st and finishes with the TLS
// stream (tstream_tls_accept_send); as Connect otherwise. cfg gives the
// certificates (Certificates, or GetCertificate to choose by SNI),
// NextProtos (ALPN), ClientAuth and ClientCAs, session tickets. A client
// that never speaks holds no goroutine: its handshake times out.
func (opts TLSOptions) Accept(o tevent.Owner, st *Stream, cfg *tls.Config) *tevent.Req[*Stream] {
	return opts.start(o, st, cfg, true, "tsocket.TLSAccept")
}

// TLSState returns the TLS connection state of a TLS stream made by
// TLSConnect or TLSAccept (version, cipher suite, negotiated ALPN
// protocol, SNI server name, peer certificates, whether the session was
// resumed); ok is false for any other stream, or once it is freed.
func TLSState(st *Stream) (state tls.ConnectionState, ok bool) {
	if st == nil {
		return tls.ConnectionState{}, false
	}
	t, ok := st.Ops().(*tlsOps)
	if !ok || t.closed {
		return tls.ConnectionState{}, false
	}
	return t.e.ConnectionState(), true
}

// Buffer sizes of the TLS stream; all buffers are pooled and held only
// while they hold bytes, so an idle TLS stream holds none of them.
const (
	// tlsReadBuf takes what one lower readv returns: a TLS record of the
	// largest size, with room to spare.
	tlsReadBuf = 16384 + 2048 + 5
	// tlsMaxPlain is the plaintext encrypted in one call of the engine.
	tlsMaxPlain = 16384
	// tlsFlushAt is the ciphertext gathered before it is written to the
	// lower ops.
	tlsFlushAt = 32768
	// tlsOutBuf holds tlsFlushAt plus a record and its overhead.
	tlsOutBuf = tlsFlushAt + tlsMaxPlain + 2048
)

var (
	tlsReadPool  = sync.Pool{New: func() any { b := make([]byte, tlsReadBuf); return &b }}
	tlsOutPool   = sync.Pool{New: func() any { b := make([]byte, 0, tlsOutBuf); return &b }}
	tlsPlainPool = sync.Pool{New: func() any { b := make([]byte, 0, tlsMaxPlain); return &b }}
)

// tlsOps is the TLS implementation of StreamOps.
type tlsOps struct {
	lower   StreamOps
	ldrains bool           // the lower ops declare ShortIODrains
	n       StreamNotifier // the TLS Stream's, from Attach (nil during the handshake)
	e       *tlsengine.Engine

	// the handshake, until it ends
	hs    *tevent.Req[*Stream]
	owner *tevent.Scope
	tp    *tevent.ThreadProxy
	wake  func(*tevent.Context)

	out    []byte  // ciphertext not yet taken by the lower ops: out[outOff:]
	outp   *[]byte // its pool slot
	outOff int

	stash    []byte // plaintext Pending decrypted ahead: stash[stashOff:]
	stashp   *[]byte
	stashOff int

	kick   *tevent.Immediate // reports readiness the lower ops will not
	kickR  bool
	kickW  bool
	kickFn tevent.ImmediateHandler

	upR, upW   bool  // interest of the stream above
	lowR, lowW bool  // interest last given to the lower ops
	lowEOF     bool  // the lower ops reported end of stream (fed to the engine)
	rerr       error // a lower read failure, returned once the data before it is read
	werr       error // a lower write failure: sticky
	watch      bool  // ErrorWatcher on
	lingering  bool  // freed, flushing close_notify before closing the lower ops
	linger     *tevent.Timer
	notified   bool // close_notify queued
	closed     bool
	hsIn       int       // ciphertext fed during the handshake (MaxTLSHandshakeInput)
	iov1       [1][]byte // the vector of a lower readv or writev
	piov       [1][]byte // Pending's vector
}

// tlsLowerNotifier is the face a TLS stream shows the ops under it.
type tlsLowerNotifier tlsOps

func (l *tlsLowerNotifier) Ready(read, write bool) { (*tlsOps)(l).lowerReady(read, write) }
func (l *tlsLowerNotifier) Failed(err error) {
	if t := (*tlsOps)(l); !t.closed && t.n != nil && t.watch {
		t.n.Failed(err)
	}
}

func (opts TLSOptions) start(o tevent.Owner, st *Stream, cfg *tls.Config, server bool, what string) *tevent.Req[*Stream] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[*Stream](s)
	ev := s.Context()
	if err := ev.CheckOnLoop(what); err != nil {
		req.Error(err)
		return req.Post(nil)
	}
	switch {
	case st == nil:
		req.Error(invalid("%s of a nil stream", what))
		return req.Post(nil)
	case cfg == nil:
		req.Error(invalid("%s with a nil tls.Config", what))
		return req.Post(nil)
	case !tevent.SameLoop(st.ev, ev):
		req.Error(fmt.Errorf("%w: %s over a stream of another context", tevent.ErrWrongContext, what))
		return req.Post(nil)
	case s.Freed():
		req.Error(fmt.Errorf("tsocket: %s on a freed scope: %w", what, tevent.ErrFreed))
		return req.Post(nil)
	}
	var laddr, raddr net.Addr
	if f, ok := st.Ops().(FDStreamOps); ok {
		if a, err := f.LocalAddr(); err == nil {
			laddr = a.NetAddr()
		}
		if a, err := f.RemoteAddr(); err == nil {
			raddr = a.NetAddr()
		}
	}
	lower, err := st.TakeOps()
	if err != nil {
		req.Error(err)
		return req.Post(nil)
	}
	t := &tlsOps{lower: lower, owner: s, hs: req}
	_, t.ldrains = lower.(ShortIODrains)
	lower.Attach((*tlsLowerNotifier)(t))
	t.tp, err = ev.NewThreadProxy()
	if err != nil {
		lower.Close()
		req.Error(err)
		return req.Post(nil)
	}
	t.wake = t.handshakeWake
	var lim *tlsengine.Limiter
	if opts.Limiter != nil {
		lim = opts.Limiter.l
	}
	t.e, err = tlsengine.New(tlsengine.Config{
		TLS:              cfg,
		Server:           server,
		Notify:           t.notify,
		HandshakeTimeout: opts.HandshakeTimeout,
		Limiter:          lim,
		LocalAddr:        laddr,
		RemoteAddr:       raddr,
	})
	if err != nil {
		t.tp.Free()
		lower.Close()
		req.Error(invalid("%s: %v", what, err))
		return req.Post(nil)
	}
	req.SetCancelFn(func(r *tevent.Req[*Stream]) bool {
		if t.hs != r {
			return false
		}
		t.hs = nil
		t.shutdown()
		r.Error(tevent.ErrCancelled)
		return true
	})
	req.SetCleanupFn(func(r *tevent.Req[*Stream], _ tevent.ReqState) {
		if t.hs == r { // timed out or freed before it finished
			t.hs = nil
			t.shutdown()
		}
	})
	if err := t.e.Start(); err != nil {
		t.endHandshake(err)
		return req.Post(nil)
	}
	t.updateLower()
	return req.Post(nil) // the callback never runs inside the caller
}

// notify is the engine's Notify: any goroutine, the engine's lock held.
func (t *tlsOps) notify() { t.tp.Schedule(t.wake) }

// handshakeWake runs on the loop after a Notify.
func (t *tlsOps) handshakeWake(*tevent.Context) {
	if t.hs != nil && !t.closed {
		t.handshakeStep(false)
	}
}

// handshakeStep moves the handshake on: input from the lower ops if they
// are readable, the engine's output to them, and its end.
func (t *tlsOps) handshakeStep(readable bool) {
	if readable {
		for !t.lowEOF && t.hsIn < MaxTLSHandshakeInput {
			got, drained, err := t.pull()
			if err != nil {
				t.endHandshake(fmt.Errorf("%w: %w", ErrTLSHandshake, err))
				return
			}
			if !got || drained {
				break
			}
		}
	}
	// The state first, then the output: what the engine wrote before it
	// finished is taken with it.
	done, err := t.e.Handshake()
	t.takeOutput()
	t.flush()
	switch {
	case t.werr != nil:
		t.endHandshake(fmt.Errorf("%w: %w", ErrTLSHandshake, t.werr))
	case done:
		t.endHandshake(err)
	default:
		t.updateLower()
	}
}

// endHandshake finishes the handshake request: with the TLS stream, or
// with err after the alert went out as far as it can at once.
func (t *tlsOps) endHandshake(err error) {
	req := t.hs
	t.hs = nil
	if err == nil {
		t.tp.Free()
		t.tp, t.wake = nil, nil
		t.takeOutput()
		t.flush()
		st, nerr := NewCustomStream(t.owner, t)
		if nerr == nil {
			t.updateLower()
			req.Done(st)
			return
		}
		err = nerr
	}
	t.takeOutput()
	t.flush()
	t.shutdown()
	req.Error(err)
}

// shutdown releases everything: the engine (a handshake in progress ends,
// its goroutine exits), the proxy, the lower ops and the buffers.
func (t *tlsOps) shutdown() {
	if t.closed {
		return
	}
	t.closed = true
	t.e.Close() // Notify is not called after this returns
	if t.tp != nil {
		t.tp.Free()
		t.tp, t.wake = nil, nil
	}
	if t.kick != nil {
		t.kick.Free()
		t.kick = nil
	}
	if t.linger != nil {
		t.linger.Free()
		t.linger = nil
	}
	t.lower.Wait(false, false)
	t.lower.Close()
	t.releaseOut()
	t.releaseStash()
	t.n = nil
}

// pull reads what the lower ops have now, once, and feeds it to the
// engine. got says bytes came; drained that a short read showed the lower
// ops had no more. The end of the lower stream is fed to the engine and
// is not an error.
func (t *tlsOps) pull() (got, drained bool, err error) {
	if t.rerr != nil {
		return false, false, t.rerr
	}
	bp := tlsReadPool.Get().(*[]byte)
	t.iov1[0] = *bp
	n, err := t.lower.Readv(t.iov1[:])
	t.iov1[0] = nil
	switch {
	case err == ErrWouldBlock:
		tlsReadPool.Put(bp)
		return false, true, nil
	case err == io.EOF || (err == nil && n == 0):
		tlsReadPool.Put(bp)
		t.lowEOF = true
		t.e.FeedEOF()
		t.updateLower()
		return true, true, nil
	case err != nil:
		tlsReadPool.Put(bp)
		t.rerr = err
		return false, false, err
	}
	t.e.Feed((*bp)[:n]) // copied; an error here ends the handshake, which reports it
	tlsReadPool.Put(bp)
	if t.hs != nil {
		t.hsIn += n
	}
	return true, t.ldrains && n < tlsReadBuf, nil
}

// takeOutput moves the engine's pending ciphertext to out.
func (t *tlsOps) takeOutput() {
	if t.e.OutputLen() == 0 {
		return
	}
	t.ensureOut()
	t.out = t.e.AppendOutput(t.out)
}

func (t *tlsOps) ensureOut() {
	if t.out == nil {
		t.outp = tlsOutPool.Get().(*[]byte)
		t.out, t.outOff = (*t.outp)[:0], 0
	}
}

func (t *tlsOps) releaseOut() {
	if t.outp != nil && cap(t.out) <= 2*tlsOutBuf {
		*t.outp = t.out[:0]
		tlsOutPool.Put(t.outp)
	}
	t.out, t.outp, t.outOff = nil, nil, 0
}

func (t *tlsOps) releaseStash() {
	if t.stashp != nil {
		*t.stashp = t.stash[:0]
		tlsPlainPool.Put(t.stashp)
	}
	t.stash, t.stashp, t.stashOff = nil, nil, 0
}

func (t *tlsOps) pendingOut() bool { return t.outOff < len(t.out) }

// flush writes out to the lower ops until they take no more. A failure is
// sticky (werr) and drops the output.
func (t *tlsOps) flush() {
	for t.pendingOut() && t.werr == nil {
		t.iov1[0] = t.out[t.outOff:]
		n, err := t.lower.Writev(t.iov1[:])
		t.iov1[0] = nil
		switch {
		case err == ErrWouldBlock || (err == nil && n == 0):
			return
		case err != nil:
			t.werr = err
			t.releaseOut()
			return
		}
		t.outOff += n
		if t.ldrains && t.pendingOut() {
			return // short: wait until writable
		}
	}
	if t.out != nil && !t.pendingOut() {
		t.releaseOut()
	}
}

// updateLower gives the lower ops the interest the TLS stream needs:
// readable while the handshake runs or the stream above reads, writable
// while ciphertext waits.
func (t *tlsOps) updateLower() {
	if t.closed {
		return
	}
	hsRead := t.hs != nil && t.hsIn < MaxTLSHandshakeInput // paused at the bound
	r := (hsRead || t.upR || (t.watch && t.stash == nil)) && !t.lowEOF && t.rerr == nil
	w := t.pendingOut() && t.werr == nil
	if r != t.lowR || w != t.lowW {
		t.lowR, t.lowW = r, w
		t.lower.Wait(r, w)
	}
}

// lowerReady is the lower ops' readiness report, from a loop handler.
func (t *tlsOps) lowerReady(read, write bool) {
	if t.closed {
		return
	}
	if write && t.pendingOut() {
		t.flush()
		if t.werr != nil && t.watch && t.n != nil {
			t.n.Failed(t.werr)
		}
	}
	switch {
	case t.lingering:
		if !t.pendingOut() || t.werr != nil {
			t.shutdown()
		}
		return
	case t.hs != nil:
		t.handshakeStep(read)
		return
	case read && t.watch && !t.upR && t.n != nil:
		// Monitor with no read in flight: decrypt ahead (bounded by the
		// stash) to see the peer's close_notify, alert or hang-up.
		if _, err := t.Pending(); err != nil {
			t.watch = false
			t.updateLower()
			t.n.Failed(err)
			return
		}
	}
	upR := read && t.upR
	upW := t.upW && (!t.pendingOut() || t.werr != nil)
	t.updateLower()
	if (upR || upW) && t.n != nil {
		t.n.Ready(upR, upW)
	}
}

// kickLater reports readiness to the stream above on the next loop turn:
// for a short read or write whose remainder (an error, the end) the
// engine holds, which no lower readiness would announce.
func (t *tlsOps) kickLater(read, write bool) {
	if t.kick == nil {
		t.kick = t.owner.NewImmediate()
		t.kickFn = func(*tevent.Context, *tevent.Immediate) {
			r, w := t.kickR, t.kickW
			t.kickR, t.kickW = false, false
			if !t.closed && t.n != nil {
				t.n.Ready(r, w)
			}
		}
	}
	t.kickR = t.kickR || read
	t.kickW = t.kickW || write
	t.kick.Schedule(t.kickFn)
}

// Attach is the StreamOps method: n is the TLS Stream's notifier.
func (t *tlsOps) Attach(n StreamNotifier) { t.n = n }

// ShortIODrains: a short Readv or Writev of a TLS stream means the lower
// ops had no more to give or take (anything else is reported with
// kickLater).
func (t *tlsOps) ShortIODrains() {}

// Readv decrypts into iov: what Pending stashed, what the engine holds,
// then what the lower ops have.
func (t *tlsOps) Readv(iov [][]byte) (int, error) {
	if t.closed {
		return 0, net.ErrClosed
	}
	total, i, off := 0, 0, 0
	if t.stash != nil {
		for i < len(iov) && t.stashOff < len(t.stash) {
			n := copy(iov[i][off:], t.stash[t.stashOff:])
			t.stashOff += n
			total += n
			if off += n; off == len(iov[i]) {
				i, off = i+1, 0
			}
		}
		if t.stashOff == len(t.stash) {
			t.releaseStash()
		}
	}
	lowerDone := false
	for i < len(iov) {
		n, err := t.e.Read(iov[i][off:])
		if n > 0 {
			total += n
			if off += n; off == len(iov[i]) {
				i, off = i+1, 0
			}
			continue
		}
		if err != tlsengine.ErrWouldBlock {
			if total > 0 {
				t.kickLater(true, false) // the engine returns err again
				return total, nil
			}
			return 0, t.readError(err)
		}
		if lowerDone || t.lowEOF {
			break
		}
		got, drained, err := t.pull()
		if err != nil {
			if total > 0 {
				t.kickLater(true, false)
				return total, nil
			}
			return 0, err
		}
		lowerDone = drained || !got
	}
	if total == 0 {
		return 0, ErrWouldBlock
	}
	return total, nil
}

// readError finishes a failed read: an alert the engine wrote for the
// peer goes out as far as it can.
func (t *tlsOps) readError(err error) error {
	if errors.Is(err, ErrTLSProtocol) {
		t.takeOutput()
		t.flush()
		t.updateLower()
	}
	return err
}

// Writev encrypts iov into out and writes out to the lower ops. It takes
// no plaintext while ciphertext of an earlier write waits.
func (t *tlsOps) Writev(iov [][]byte) (int, error) {
	switch {
	case t.closed:
		return 0, net.ErrClosed
	case t.werr != nil:
		return 0, t.werr
	}
	if t.pendingOut() {
		t.flush()
		switch {
		case t.werr != nil:
			return 0, t.werr
		case t.pendingOut():
			return 0, ErrWouldBlock
		}
	}
	total, i, off := 0, 0, 0
	for i < len(iov) {
		t.ensureOut()
		for i < len(iov) && len(t.out) < tlsFlushAt {
			var chunk []byte
			var plainp *[]byte
			if rest := iov[i][off:]; len(rest) >= tlsMaxPlain || i == len(iov)-1 {
				chunk = rest[:min(len(rest), tlsMaxPlain)]
				if off += len(chunk); off == len(iov[i]) {
					i, off = i+1, 0
				}
			} else {
				// Small vectors go into one record, not one each.
				plainp = tlsPlainPool.Get().(*[]byte)
				chunk = (*plainp)[:0]
				for i < len(iov) && len(chunk) < tlsMaxPlain {
					k := min(len(iov[i])-off, tlsMaxPlain-len(chunk))
					chunk = append(chunk, iov[i][off:off+k]...)
					if off += k; off == len(iov[i]) {
						i, off = i+1, 0
					}
				}
			}
			out, n, err := t.e.AppendWrite(t.out, chunk)
			t.out = out
			if plainp != nil {
				*plainp = chunk[:0]
				tlsPlainPool.Put(plainp)
			}
			if err != nil {
				t.flush()
				if total > 0 {
					t.kickLater(false, true)
					return total, nil
				}
				return 0, err
			}
			total += n
		}
		t.flush()
		if t.werr != nil {
			if total > 0 {
				t.kickLater(false, true)
				return total, nil
			}
			return 0, t.werr
		}
		if t.pendingOut() {
			break // the lower ops are full: the rest when they drain
		}
	}
	t.updateLower()
	return total, nil
}

// Wait is the StreamOps method.
func (t *tlsOps) Wait(read, write bool) {
	t.upR, t.upW = read, write
	t.updateLower()
}

// Pending decrypts what it can ahead into a stash and returns its size:
// crypto/tls does not say how much plaintext it holds.
func (t *tlsOps) Pending() (int, error) {
	if t.closed {
		return 0, net.ErrClosed
	}
	if t.stash != nil {
		return len(t.stash) - t.stashOff, nil
	}
	p := tlsPlainPool.Get().(*[]byte)
	buf := (*p)[:cap(*p)]
	t.piov[0] = buf
	n, err := t.Readv(t.piov[:])
	t.piov[0] = nil
	if err != ErrWouldBlock && t.upR {
		// What a read in flight waits for is here now, not in the lower
		// ops: they will not report it.
		t.kickLater(true, false)
	}
	if n > 0 {
		t.stash, t.stashp, t.stashOff = buf[:n], p, 0
		t.updateLower()
		return n, nil
	}
	*p = buf[:0]
	tlsPlainPool.Put(p)
	if err == ErrWouldBlock {
		return 0, nil
	}
	return 0, err
}

// CloseWrite queues close_notify and sends it (the rest as the lower ops
// drain).
func (t *tlsOps) CloseWrite() error {
	switch {
	case t.closed:
		return net.ErrClosed
	case t.werr != nil:
		return t.werr
	}
	if err := t.e.CloseWrite(); err != nil {
		return err
	}
	t.notified = true
	t.takeOutput()
	t.flush()
	t.updateLower()
	return t.werr
}

// Close sends close_notify as far as the lower ops take it now, then
// closes the engine and the lower ops.
func (t *tlsOps) Close() error {
	if t.closed {
		return nil
	}
	if !t.notified && t.werr == nil && t.hs == nil {
		if t.e.CloseWrite() == nil {
			t.notified = true
			t.takeOutput()
		}
	}
	t.flush()
	if t.pendingOut() && t.werr == nil {
		t.startLinger()
		return nil
	}
	t.shutdown()
	return nil
}

// tlsCloseLinger bounds how long a freed TLS stream keeps its lower ops
// open to flush the close_notify (and data before it) they did not take
// at once.
const tlsCloseLinger = 2 * time.Second

// startLinger keeps the lower ops open until they took the output, fail,
// or tlsCloseLinger passed; everything else is released now.
func (t *tlsOps) startLinger() {
	t.lingering = true
	t.n, t.upR, t.upW, t.watch = nil, false, false, false
	t.e.Close()
	t.releaseStash()
	if t.kick != nil {
		t.kick.Free()
		t.kick = nil
	}
	t.updateLower()
	t.linger = t.owner.Context().AddTimer(time.Now().Add(tlsCloseLinger), func(*tevent.Context, *tevent.Timer, time.Time) {
		t.linger = nil
		t.shutdown()
	})
}

// WatchErrors is the ErrorWatcher capability, passed to the lower ops.
func (t *tlsOps) WatchErrors(on bool) {
	t.watch = on
	if w, ok := t.lower.(ErrorWatcher); ok && !t.closed {
		w.WatchErrors(on)
	}
	t.updateLower()
}

// Fd is the lower ops' descriptor, if they have one.
func (t *tlsOps) Fd() int {
	if f, ok := t.lower.(FDStreamOps); ok && !t.closed {
		return f.Fd()
	}
	return -1
}

// LocalAddr is the lower ops' local address.
func (t *tlsOps) LocalAddr() (Address, error) {
	if t.closed {
		return Address{}, net.ErrClosed
	}
	if f, ok := t.lower.(FDStreamOps); ok {
		return f.LocalAddr()
	}
	return Address{}, fmt.Errorf("tsocket: LocalAddr of a TLS stream over a stream without a socket: %w", errors.ErrUnsupported)
}

// RemoteAddr is the lower ops' peer address.
func (t *tlsOps) RemoteAddr() (Address, error) {
	if t.closed {
		return Address{}, net.ErrClosed
	}
	if f, ok := t.lower.(FDStreamOps); ok {
		return f.RemoteAddr()
	}
	return Address{}, fmt.Errorf("tsocket: RemoteAddr of a TLS stream over a stream without a socket: %w", errors.ErrUnsupported)
}
