package tsocket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// Server is a set of loops that accept connections and serve them with an
// EventHandler. Create it with NewServer.
type Server struct {
	h     EventHandler
	cfg   ServerConfig
	loops []*Loop
	owned bool // the server created the contexts and drives them

	lns []*listener // touched on loop 0 only (or before Start)

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

type listener struct {
	fd     int
	fde    *tevent.FD
	addr   net.Addr
	path   string // unix socket path to remove at close
	tcp    bool
	paused bool
	retry  *tevent.Timer
}

func newServer(h EventHandler, cfg *ServerConfig) (*Server, error) {
	if h == nil {
		panic("tsocket: NewServer called with a nil EventHandler")
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
	if c.MaxInbound == 0 {
		c.MaxInbound = DefaultMaxInbound
	} else if c.MaxInbound < 0 {
		c.MaxInbound = int(^uint(0) >> 1)
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
				return nil, fmt.Errorf("tsocket: new loop: %w", err)
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

func (s *Server) listen(network, address string) (net.Addr, error) {
	if s.started.Load() && s.owned {
		return nil, fmt.Errorf("tsocket: Listen: %w", ErrServerStarted)
	}
	if s.stopping.Load() {
		return nil, ErrServerClosed
	}
	ln, err := openListener(network, address, s.cfg.Backlog)
	if err != nil {
		return nil, err
	}
	if err := s.addListener(ln); err != nil {
		return nil, err
	}
	return ln.addr, nil
}

func (s *Server) listenFD(fd int) error {
	if s.started.Load() && s.owned {
		return fmt.Errorf("tsocket: ListenFD: %w", ErrServerStarted)
	}
	if s.stopping.Load() {
		return ErrServerClosed
	}
	ln, err := adoptListener(fd)
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
		return fmt.Errorf("tsocket: listen: %w", err)
	}
	ln.fde = fde
	s.lns = append(s.lns, ln)
	s.addrMu.Lock()
	s.addrLst = append(s.addrLst, ln.addr)
	s.addrMu.Unlock()
	return nil
}

func (ln *listener) close() {
	if ln.retry != nil {
		ln.retry.Free()
		ln.retry = nil
	}
	if ln.fde != nil {
		ln.fde.Free() // auto-close is not set: close below
		ln.fde = nil
	}
	if ln.fd >= 0 {
		unix.Close(ln.fd)
		ln.fd = -1
	}
	if ln.path != "" {
		os.Remove(ln.path)
		ln.path = ""
	}
}

func (s *Server) start() error {
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

func (s *Server) wait() error {
	if s.owned && !s.started.Load() {
		return errors.New("tsocket: Wait before Start")
	}
	<-s.done
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Server) shutdown(deadline time.Time) {
	s.stopping.Store(true)
	for _, l := range s.loops {
		l.post(op{kind: opShutdown, deadline: deadline})
	}
}

func (s *Server) addrs() []net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return append([]net.Addr(nil), s.addrLst...)
}

func (s *Server) stats() Stats {
	var st Stats
	for _, l := range s.loops {
		x := l.loopStats()
		st.Conns += x.Conns
		st.Accepted += x.Accepted
	}
	return st
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
