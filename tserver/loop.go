package tserver

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

// Loop is one of a server's event loops: a tevent context and the
// connections it owns.
type Loop struct {
	srv   *Server
	ev    *tevent.Context
	scope *tevent.Scope // the server's events on ev
	idx   int
	h     Handler

	proxy   *tevent.ThreadProxy
	drainFn func(ev *tevent.Context)
	fdFn    tevent.FDHandler

	rbuf  []byte // shared read buffer
	stage []byte // staged output of the connection in OnData
	cur   *Conn  // the connection whose OnData runs
	tlsct []byte // TLS: ciphertext on its way to Conn.output (tls.go)
	tlsOn bool   // Config.TLS is set: every Conn is in a tlsBox (tls.go)

	byFD []*Conn // connections by descriptor number
	// timers of connections with a deadline or an idle timeout of their
	// own (Conn.SetDeadline, SetIdleTimeout): kept here, not in Conn, so
	// that connections without one pay nothing for them.
	timers map[*Conn]*connTimer
	bufs   []*connBufs // recycled buffers
	all    connList    // every open connection, least recently active first
	// Connections lingering after a graceful close (Conn.Close), in the
	// order they began (so in the order their lingering ends), and the
	// one timer that ends them.
	lingering   connList
	lingerTimer *tevent.Timer
	lingerFn    tevent.TimerHandler
	lingerFor   time.Duration
	lingerMax   int
	base        time.Time // origin of Conn.last
	idle        int64     // IdleTimeout in ns, 0: off
	sweep       *tevent.Timer

	maxWrite, maxIn     int
	highWater, lowWater int
	wh                  WritableHandler // h, if it is one
	propagate           bool            // Config.PropagatePanics
	stats               loopStats

	nconns   atomic.Int32 // open + handed-off connections
	accepted atomic.Uint64

	mu        sync.Mutex
	inbox     []op
	spare     []op
	scheduled bool
	gone      bool

	shutting bool
	force    *tevent.Timer // Shutdown's forced close
	forceAt  time.Time
	finished bool
}

type opKind uint8

const (
	opWrite opKind = iota
	opClose
	opCloseWrite
	opDo
	opAccept
	opShutdown
	opCheck
	opLoopFn
	opTLS // a TLS handshake's Notify (tls.go)
)

// op is a call from another goroutine, run on the loop.
type op struct {
	kind     opKind
	c        *Conn
	fd       int
	b        []byte
	fn       func(*Conn)
	lfn      func(*Loop)
	deadline time.Time
	err      error // opShutdown: the close reason instead of ErrServerClosed
}

func newLoop(s *Server, ev *tevent.Context, idx int) (*Loop, error) {
	l := &Loop{srv: s, ev: ev, idx: idx, h: s.h,
		maxWrite: s.cfg.MaxWriteBuffer, maxIn: s.cfg.MaxInbound,
		highWater: s.cfg.WriteHighWater, lowWater: s.cfg.WriteLowWater,
		lingerFor: s.cfg.LingerTimeout, lingerMax: s.cfg.LingerMax,
		rbuf: make([]byte, s.cfg.ReadBufferSize)}
	l.tlsOn = s.cfg.TLS != nil
	l.wh, _ = s.h.(WritableHandler)
	l.propagate = s.cfg.PropagatePanics
	l.scope = ev.NewScope()
	p, err := ev.NewThreadProxy()
	if err != nil {
		l.scope.Free()
		return nil, err
	}
	l.proxy = p
	// The fd table is sized to the descriptor limit up front: its pages
	// are touched (and cost memory) only as descriptors are used, and it
	// never grows by copying.
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur > 0 && rl.Cur <= 1<<20 {
		l.byFD = make([]*Conn, rl.Cur)
	}
	l.drainFn = l.drain
	l.fdFn = l.onFD
	l.lingerFn = l.endLingering
	// The context freed under the server (Free from a handler, from
	// another goroutine, or the caller's own context freed): end the
	// loop as if stopped. After a normal finish this does nothing.
	l.scope.OnFree(func() { l.abandon(tevent.ErrFreed) })
	l.base = ev.Now()
	if d := s.cfg.IdleTimeout; d > 0 {
		l.idle = int64(d)
		iv := d / 8
		if iv < time.Millisecond {
			iv = time.Millisecond
		}
		l.sweep = l.scope.AddTimer(ev.Now().Add(iv), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
			l.sweepIdle(now)
			te.Update(now.Add(iv))
		})
	}
	return l, nil
}

// Context returns the loop's tevent context: add timers, proxies and
// requests to it from its handlers.
func (l *Loop) Context() *tevent.Context { return l.ev }

// Index returns the loop's position in Server.Loops.
func (l *Loop) Index() int { return l.idx }

// Server returns the loop's server.
func (l *Loop) Server() *Server { return l.srv }

// Schedule runs fn on the loop's goroutine (through the loop's thread
// proxy). Safe from any goroutine; ErrServerClosed once the loop is gone.
func (l *Loop) Schedule(fn func(l *Loop)) error {
	if fn == nil {
		panic("tserver: Loop.Schedule called with a nil function")
	}
	return l.post(op{kind: opLoopFn, lfn: fn})
}

// release frees the server's events on the loop, and closes the
// descriptors of connections handed to it that it never took.
func (l *Loop) release() {
	l.mu.Lock()
	l.gone = true
	ops := l.inbox
	l.inbox = nil
	l.mu.Unlock()
	for _, o := range ops {
		if o.kind == opAccept {
			unix.Close(o.fd)
			l.nconns.Add(-1)
		}
	}
	l.proxy.Free()
	l.scope.Free()
}

func (l *Loop) run() {
	defer l.srv.wg.Done()
	err := l.ev.LoopUntil(func() bool { return l.finished })
	if !l.finished {
		// Stopped (Stop), broken (an error), or freed under the server
		// (LoopUntil returns nil then, and the scope's OnFree already
		// ended the loop).
		if err == nil {
			err = tevent.ErrFreed
		}
		l.abandon(err)
	}
	l.ev.Free()
}

// abandon ends the loop because its context was stopped, failed or was
// freed (cause): every connection is closed with a reason saying so,
// loop 0 closes the listeners, the other loops are told to close, and
// Wait returns that reason.
func (l *Loop) abandon(cause error) {
	if l.finished {
		return
	}
	s := l.srv
	reason := fmt.Errorf("%w: loop %d's context ended: %w", ErrServerClosed, l.idx, cause)
	s.setErr(reason)
	s.stopping.Store(true)
	l.shutting = true
	if l.idx == 0 {
		s.closeListeners()
	}
	l.forceAll(reason)
	l.finish()
	for _, o := range s.loops {
		if o != l {
			o.post(op{kind: opShutdown, err: reason})
		}
	}
}

// post queues o for the loop; one proxy call drains a burst.
func (l *Loop) post(o op) error {
	l.mu.Lock()
	if l.gone {
		l.mu.Unlock()
		return ErrServerClosed
	}
	l.inbox = append(l.inbox, o)
	need := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if need {
		if err := l.proxy.Schedule(l.drainFn); err != nil {
			return ErrServerClosed
		}
	}
	return nil
}

func (l *Loop) drain(*tevent.Context) {
	l.mu.Lock()
	ops := l.inbox
	l.inbox = l.spare[:0]
	l.spare = nil
	l.scheduled = false
	l.mu.Unlock()
	for i := range ops {
		o := ops[i]
		ops[i] = op{}
		l.runOp(&o)
	}
	l.mu.Lock()
	if l.spare == nil && !l.gone {
		l.spare = ops[:0]
	}
	l.mu.Unlock()
}

func (l *Loop) runOp(o *op) {
	switch o.kind {
	case opAccept:
		if l.shutting || l.finished {
			unix.Close(o.fd)
			l.nconns.Add(-1)
			l.maybeFinish()
			return
		}
		l.addConn(o.fd, o.b)
	case opShutdown:
		l.beginShutdown(o.deadline, o.err)
	case opCheck:
		l.maybeFinish()
	case opLoopFn:
		if !l.finished {
			l.onLoopFn(o.lfn)
		}
	default:
		c := o.c
		if c.state == stClosed {
			if o.kind == opWrite {
				l.stats.dropped.Add(1)
			}
			return // closed since the call was made
		}
		switch o.kind {
		case opWrite:
			if _, err := c.Write(o.b); err != nil {
				l.stats.dropped.Add(1)
			}
		case opClose:
			c.Close()
		case opCloseWrite:
			c.CloseWrite()
		case opDo:
			l.onDo(c, o.fn)
		case opTLS:
			c.handshakeStep()
		}
	}
}

// acceptHandler makes the fd handler of a listener (one per listener).
func (l *Loop) acceptHandler(ln *listener) tevent.FDHandler {
	return func(ev *tevent.Context, fde *tevent.FD, fl tevent.FDFlags) {
		l.acceptSome(ln)
	}
}

// acceptSome accepts up to a batch of connections from ln.
func (l *Loop) acceptSome(ln *listener) {
	s := l.srv
	for i := 0; i < 64 && ln.fde != nil; i++ {
		fd, err := sockets.Accept(ln.fd)
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			// EMFILE, ENFILE, ENOBUFS, ENOMEM and the unexpected: pause
			// the listener instead of spinning on it.
			l.pauseListener(ln)
			return
		}
		ln.pause.Reset()
		s.tuneSocket(fd, ln.tcp)
		t := s.pick()
		t.nconns.Add(1)
		if t == l {
			l.addConn(fd, nil)
		} else if t.post(op{kind: opAccept, fd: fd}) != nil {
			unix.Close(fd)
			t.nconns.Add(-1)
		}
	}
}

func (l *Loop) pauseListener(ln *listener) {
	if ln.paused {
		return
	}
	ln.paused = true
	l.stats.backoffs.Add(1)
	ln.fde.SetFlags(0)
	ln.retry = l.scope.AddTimer(l.ev.Now().Add(ln.pause.Next()), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
		ln.retry = nil
		ln.paused = false
		if ln.fde != nil {
			ln.fde.SetFlags(tevent.FDRead)
		}
	})
}

// addConn sets a new connection up on the loop; nconns already counts
// it. initial, if any, is handed to OnData after OnOpen, as if read.
func (l *Loop) addConn(fd int, initial []byte) {
	fde, err := l.scope.AddFD(fd, tevent.FDRead, l.fdFn)
	if err != nil {
		unix.Close(fd)
		l.nconns.Add(-1)
		return
	}
	fde.SetAutoClose()
	c := l.newConn()
	c.fde = fde
	c.fd = int32(fd)
	c.state = stOpen
	if fd >= len(l.byFD) {
		n := 2 * len(l.byFD)
		if n <= fd {
			n = fd + 256
		}
		t := make([]*Conn, n)
		copy(t, l.byFD)
		l.byFD = t
	}
	l.byFD[fd] = c
	c.last = l.clock()
	l.all.pushBack(c)
	l.accepted.Add(1)
	if l.tlsOn { // TLS hook (tls.go): OnOpen after the handshake
		c.startTLS(initial)
		return
	}
	l.onOpen(c)
	if len(initial) > 0 && c.state == stOpen {
		b := c.bufs
		if b == nil {
			b = l.getBufs()
			c.bufs = b
		}
		b.in = append(b.in, initial...)
		l.stats.bytesIn.Add(uint64(len(initial)))
		c.deliver(b.in)
	}
}

func (l *Loop) clock() int64 { return int64(l.ev.Now().Sub(l.base)) }

// newConn allocates a Conn. Conns are not recycled: one kept by a handler
// after OnClose (or referred to by a ConnHandle) must stay the closed
// connection it was, never become the next one.
func (l *Loop) newConn() *Conn {
	if l.tlsOn { // TLS hook (tls.go): the Conn inside its TLS state
		return newTLSConn(l)
	}
	return &Conn{loop: l}
}

func (l *Loop) getBufs() *connBufs {
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs[n-1] = nil
		l.bufs = l.bufs[:n-1]
		return b
	}
	return new(connBufs)
}

// putBufs keeps a few drained buffers for reuse; big ones are dropped.
func (l *Loop) putBufs(b *connBufs) {
	if cap(b.in) > 4*len(l.rbuf) {
		b.in = nil
	}
	if cap(b.out) > 4*len(l.rbuf) {
		b.out = nil
	}
	b.in, b.out, b.outOff, b.lingered = b.in[:0], b.out[:0], 0, 0
	if len(l.bufs) < 64 {
		l.bufs = append(l.bufs, b)
	}
}

// onFD is the one fd handler of every connection on the loop.
func (l *Loop) onFD(ev *tevent.Context, fde *tevent.FD, fl tevent.FDFlags) {
	c := l.byFD[fde.Fd()]
	if fl&tevent.FDWrite != 0 {
		c.flushOut()
		if c.state == stClosed {
			return
		}
	}
	if fl&tevent.FDRead != 0 {
		switch c.state {
		case stOpen:
			c.readable()
		case stLinger:
			c.lingerRead()
		}
	}
}

// endLingering closes the connections whose lingering time is over.
func (l *Loop) endLingering(ev *tevent.Context, te *tevent.Timer, now time.Time) {
	t := int64(now.Sub(l.base))
	for {
		c := l.lingering.head
		if c == nil {
			l.lingerTimer = nil
			te.Free()
			return
		}
		if c.last > t {
			te.Update(l.base.Add(time.Duration(c.last)))
			return
		}
		// A peer that sent nothing since the close (and has nothing in
		// flight) cannot be reset by it: a clean close.
		var reason error
		if n, _ := sockets.Pending(int(c.fd)); c.bufs.lingered > 0 || n > 0 {
			reason = ErrLingerLimit
		}
		c.Abort(reason)
	}
}

func (l *Loop) sweepIdle(now time.Time) {
	t := int64(now.Sub(l.base))
	for skip := l.nconns.Load(); skip >= 0; {
		c := l.all.head
		if c == nil || c.last+l.idle > t {
			return
		}
		if c.ownIdle {
			// Its own idle timeout (SetIdleTimeout) governs it: out of
			// the way, to the back (bounded: each is moved once a sweep).
			l.all.moveBack(c)
			skip--
			continue
		}
		c.Abort(ErrIdleTimeout)
	}
}

func (l *Loop) beginShutdown(deadline time.Time, reason error) {
	if l.finished {
		return
	}
	if reason == nil {
		reason = ErrServerClosed
	}
	force := deadline.IsZero() || !deadline.After(time.Now())
	if l.idx == 0 {
		l.srv.closeListeners()
	}
	if !l.shutting {
		l.shutting = true
		if !force {
			// A snapshot: an OnClose may close other connections (a
			// proxy its partner), which unlinks them from the list
			// under a walk. Conns are never reused, so a closed one in
			// the snapshot is just skipped.
			open := make([]*Conn, 0, l.nconns.Load())
			for c := l.all.head; c != nil; c = c.lnext {
				open = append(open, c)
			}
			for _, c := range open {
				c.Close()
			}
		}
	}
	switch {
	case force:
		l.forceAll(reason)
	case l.force == nil:
		l.forceAt = deadline
		l.force = l.scope.AddTimer(deadline, func(*tevent.Context, *tevent.Timer, time.Time) {
			l.force = nil
			l.forceAll(ErrServerClosed)
			l.maybeFinish()
		})
	case deadline.Before(l.forceAt):
		// Later calls only move the forced close earlier.
		l.forceAt = deadline
		l.force.Update(deadline)
	}
	l.maybeFinish()
}

func (l *Loop) forceAll(err error) {
	for l.all.head != nil {
		l.all.head.Abort(err)
	}
	for l.lingering.head != nil {
		l.lingering.head.Abort(err)
	}
}

func (l *Loop) maybeFinish() {
	if !l.shutting || l.finished || l.nconns.Load() != 0 || !l.srv.acceptClosed.Load() {
		return
	}
	l.finish()
}

func (l *Loop) finish() {
	l.finished = true
	l.release()
	l.srv.loopDone()
}

// connList is an intrusive list of connections, least recently active
// first.
type connList struct{ head, tail *Conn }

func (q *connList) pushBack(c *Conn) {
	c.lprev, c.lnext = q.tail, nil
	if q.tail != nil {
		q.tail.lnext = c
	} else {
		q.head = c
	}
	q.tail = c
}

func (q *connList) remove(c *Conn) {
	if c.lprev != nil {
		c.lprev.lnext = c.lnext
	} else {
		q.head = c.lnext
	}
	if c.lnext != nil {
		c.lnext.lprev = c.lprev
	} else {
		q.tail = c.lprev
	}
	c.lprev, c.lnext = nil, nil
}

func (q *connList) moveBack(c *Conn) {
	if q.tail == c {
		return
	}
	q.remove(c)
	q.pushBack(c)
}
