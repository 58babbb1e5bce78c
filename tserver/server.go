package tserver

import (
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"github.com/gotevent/tevent/internal/tlsengine"
)

// Server is a set of loops that accept connections and serve them with a
// Handler. Create it with New.
type Server struct {
	h     Handler
	cfg   Config
	loops []*Loop
	owned bool // the server created the contexts and drives them

	lns []*listener // touched on loop 0 only (or before Start)

	tlsLimiter *tlsengine.Limiter // Config.TLSMaxHandshakes's; nil: the process-wide one

	started      atomic.Bool
	stopping     atomic.Bool
	acceptClosed atomic.Bool // loop 0 closed its listeners: no more hand-offs
	left         atomic.Int32
	done         chan struct{}
	wg           sync.WaitGroup

	errMu sync.Mutex
	err   error

	addrMu  sync.Mutex
	addrLst []net.Addr
}

// New creates a server that calls h for its connections, with its
// loops (created, or taken from cfg.Contexts) ready; add listeners with
// Listen or ListenFD, then Run (or Start and Wait).
func New(h Handler, cfg *Config) (*Server, error) {
	if h == nil {
		panic("tserver: New called with a nil Handler")
	}
	s := &Server{h: h, done: make(chan struct{})}
	if cfg != nil {
		s.cfg = *cfg
	}
	c := &s.cfg
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultReadBufferSize
	}
	if c.MaxWriteBuffer == 0 {
		c.MaxWriteBuffer = DefaultMaxWriteBuffer
	} else if c.MaxWriteBuffer < 0 {
		c.MaxWriteBuffer = int(^uint(0) >> 1)
	}
	if c.WriteHighWater <= 0 {
		c.WriteHighWater = DefaultWriteHighWater
	}
	c.WriteHighWater = min(c.WriteHighWater, c.MaxWriteBuffer)
	if c.WriteLowWater <= 0 {
		c.WriteLowWater = DefaultWriteLowWater
	}
	if c.WriteLowWater >= c.WriteHighWater {
		c.WriteLowWater = c.WriteHighWater / 4
	}
	if c.MaxInbound == 0 {
		c.MaxInbound = DefaultMaxInbound
	} else if c.MaxInbound < 0 {
		c.MaxInbound = int(^uint(0) >> 1)
	}
	if c.LingerTimeout == 0 {
		c.LingerTimeout = DefaultLingerTimeout
	}
	if c.LingerMax <= 0 {
		c.LingerMax = DefaultLingerMax
	}
	if c.AcceptBackoff <= 0 {
		c.AcceptBackoff = DefaultAcceptBackoff
	}
	if c.Backlog <= 0 {
		c.Backlog = DefaultBacklog
	}
	if c.IdleTimeout < 0 {
		c.IdleTimeout = 0
	}
	if err := s.configTLS(); err != nil { // TLS hook (tls.go)
		return nil, err
	}
	evs := c.Contexts
	if len(evs) == 0 {
		n := c.Loops
		if n <= 0 {
			n = 1
		}
		s.owned = true
		var opts []tevent.Option
		if c.Backend != "" {
			opts = append(opts, tevent.WithBackend(c.Backend))
		}
		for i := 0; i < n; i++ {
			ev, err := tevent.New(opts...)
			if err != nil {
				for _, e := range evs {
					e.Free()
				}
				return nil, fmt.Errorf("tserver: new loop: %w", err)
			}
			evs = append(evs, ev)
		}
	}
	for i, ev := range evs {
		l, err := newLoop(s, ev, i)
		if err != nil {
			for _, l := range s.loops {
				l.release()
			}
			if s.owned {
				for _, e := range evs {
					e.Free()
				}
			}
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	s.left.Store(int32(len(s.loops)))
	return s, nil
}

func (s *Server) setErr(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
}

// Listen opens a listening socket ("tcp", "tcp4", "tcp6" with a numeric
// host:port, or "unix" with a path) and accepts on it; it returns the bound
// address (useful with port 0). Call it before Start, or from loop 0.
func (s *Server) Listen(network, address string) (net.Addr, error) {
	if s.started.Load() && s.owned {
		return nil, fmt.Errorf("tserver: Listen: %w", ErrServerStarted)
	}
	if s.stopping.Load() {
		return nil, ErrServerClosed
	}
	ln, err := openListener(network, address, s.cfg.Backlog, s.acceptPause())
	if err != nil {
		return nil, err
	}
	if err := s.addListener(ln); err != nil {
		return nil, err
	}
	return ln.addr, nil
}

// ListenFD accepts on fd, a listening socket the caller made (or took from
// a net.Listener with File). The server owns fd from then on: it makes it
// non-blocking and closes it at shutdown.
func (s *Server) ListenFD(fd int) error {
	if s.started.Load() && s.owned {
		return fmt.Errorf("tserver: ListenFD: %w", ErrServerStarted)
	}
	if s.stopping.Load() {
		return ErrServerClosed
	}
	ln, err := adoptListener(fd, s.acceptPause())
	if err != nil {
		return err
	}
	return s.addListener(ln)
}

func (s *Server) addListener(ln *listener) error {
	l0 := s.loops[0]
	fde, err := l0.scope.AddFD(ln.fd, tevent.FDRead, l0.acceptHandler(ln))
	if err != nil {
		ln.close()
		return fmt.Errorf("tserver: listen: %w", err)
	}
	ln.fde = fde
	s.lns = append(s.lns, ln)
	s.addrMu.Lock()
	s.addrLst = append(s.addrLst, ln.addr)
	s.addrMu.Unlock()
	return nil
}

// Start starts the loops the server created on goroutines of their own.
// With cfg.Contexts it does nothing: the caller drives the loops.
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrServerStarted
	}
	if !s.owned {
		return nil
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go l.run()
	}
	return nil
}

// Wait blocks until the server has shut down: listeners closed, every
// connection closed, and the goroutines of the loops it created returned.
// It returns the first error a loop returned.
func (s *Server) Wait() error {
	if s.owned && !s.started.Load() {
		return errors.New("tserver: Wait before Start")
	}
	<-s.done
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Run is Start followed by Wait.
func (s *Server) Run() error {
	if err := s.Start(); err != nil {
		return err
	}
	return s.Wait()
}

// Shutdown stops accepting and closes every connection once its pending
// output is written (their OnClose gets nil, or io.EOF when the peer went
// first); connections still open at deadline are closed with
// ErrServerClosed. It returns at once; Wait waits for the end. Safe from
// any goroutine, handlers included; later calls can only move the deadline
// earlier.
func (s *Server) Shutdown(deadline time.Time) {
	s.stopping.Store(true)
	for _, l := range s.loops {
		l.post(op{kind: opShutdown, deadline: deadline})
	}
}

// Close stops accepting and closes every connection now, with
// ErrServerClosed, dropping unsent output. Safe from any goroutine. It
// returns at once; Wait waits for the end.
func (s *Server) Close() { s.Shutdown(time.Time{}) }

// Loops returns the server's loops, in order.
func (s *Server) Loops() []*Loop { return s.loops }

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return append([]net.Addr(nil), s.addrLst...)
}

// logf logs to Config.ErrorLog, or with log.Printf without one.
func (s *Server) logf(format string, args ...any) {
	if s.cfg.ErrorLog != nil {
		s.cfg.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// acceptPause is a listener's pause after a failed accept: a fixed
// Config.AcceptBackoff.
func (s *Server) acceptPause() sockets.Backoff {
	return sockets.Backoff{Min: s.cfg.AcceptBackoff, Max: s.cfg.AcceptBackoff}
}

// loopDone is called once per loop when it has finished.
func (s *Server) loopDone() {
	if s.left.Add(-1) == 0 {
		close(s.done)
	}
}

// pick returns the least-loaded loop.
func (s *Server) pick() *Loop {
	best := s.loops[0]
	if len(s.loops) == 1 {
		return best
	}
	bn := best.nconns.Load()
	for _, l := range s.loops[1:] {
		if n := l.nconns.Load(); n < bn {
			best, bn = l, n
		}
	}
	return best
}

// closeListeners runs on loop 0.
func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.close()
	}
	s.lns = nil
	if !s.acceptClosed.Swap(true) {
		for _, l := range s.loops[1:] {
			l.post(op{kind: opCheck})
		}
	}
}
