package tserver

import (
	"errors"
	"io"
	"sync/atomic"

	"github.com/gotevent/tevent"
)

// Stats is a snapshot of a server's or a loop's counters.
type Stats struct {
	Conns    int    // open connections (lingering ones included)
	Accepted uint64 // connections accepted (or adopted) since start
	BytesIn  uint64 // bytes read from connections (lingering drains included)
	BytesOut uint64 // bytes written to connections
	// AcceptBackoffs counts the pauses of a listener after accept failed
	// for lack of descriptors or memory (Config.AcceptBackoff).
	AcceptBackoffs uint64
	// DroppedWrites counts ConnHandle writes accepted (nil returned)
	// whose connection closed, or started closing, before they reached
	// the loop: their bytes were not sent.
	DroppedWrites uint64
	// Panics counts handler panics contained (Config.PropagatePanics
	// unset).
	Panics uint64
	Closes CloseStats // connections closed, by reason (the Handler's: TLS handshake failures not included)

	// TLSHandshakes counts the TLS handshakes that succeeded (Config.TLS).
	TLSHandshakes uint64
	// TLSHandshakeErrors counts the TLS connections closed before their
	// handshake succeeded: a failed handshake (bad certificate, garbage,
	// unsupported versions), its timeout, the handshake limit, a peer
	// that left, Shutdown. The Handler never sees these connections;
	// nothing is logged for them (a scanner must not fill the log).
	TLSHandshakeErrors uint64
}

// CloseStats counts closed connections by the reason OnClose got.
type CloseStats struct {
	PeerEOF      uint64 // io.EOF: the peer closed
	Local        uint64 // nil: this side closed (Conn.Close, Abort(nil))
	IdleTimeout  uint64 // ErrIdleTimeout
	Deadline     uint64 // ErrDeadline
	WriteLimit   uint64 // ErrWriteLimit
	InboundLimit uint64 // ErrInboundLimit
	LingerLimit  uint64 // ErrLingerLimit
	Server       uint64 // ErrServerClosed: Server.Close, a Shutdown deadline, a loop's context ended
	Panic        uint64 // a *tevent.PanicError
	Error        uint64 // a kernel error (a *net.OpError) or a reason given to Abort
}

// loopStats are a loop's counters: written by the loop, read from any
// goroutine.
type loopStats struct {
	bytesIn, bytesOut                      atomic.Uint64
	backoffs, dropped, panics              atomic.Uint64
	eof, local, idle, deadline, writeLimit atomic.Uint64
	inLimit, linger, server, panicked, err atomic.Uint64
	tlsHandshakes, tlsHandshakeErrors      atomic.Uint64
}

// countClose counts a close by its reason.
func (s *loopStats) countClose(err error) {
	var pe *tevent.PanicError
	switch {
	case err == io.EOF:
		s.eof.Add(1)
	case err == nil:
		s.local.Add(1)
	case err == ErrIdleTimeout:
		s.idle.Add(1)
	case err == ErrDeadline:
		s.deadline.Add(1)
	case err == ErrWriteLimit:
		s.writeLimit.Add(1)
	case err == ErrInboundLimit:
		s.inLimit.Add(1)
	case err == ErrLingerLimit:
		s.linger.Add(1)
	case errors.Is(err, ErrServerClosed):
		s.server.Add(1)
	case errors.As(err, &pe):
		s.panicked.Add(1)
	default:
		s.err.Add(1)
	}
}

// Stats returns the loop's counters. Safe from any goroutine.
func (l *Loop) Stats() Stats {
	s := &l.stats
	return Stats{
		Conns:          int(l.nconns.Load()),
		Accepted:       l.accepted.Load(),
		BytesIn:        s.bytesIn.Load(),
		BytesOut:       s.bytesOut.Load(),
		AcceptBackoffs: s.backoffs.Load(),
		DroppedWrites:  s.dropped.Load(),
		Panics:         s.panics.Load(),
		Closes: CloseStats{
			PeerEOF: s.eof.Load(), Local: s.local.Load(), IdleTimeout: s.idle.Load(),
			Deadline: s.deadline.Load(), WriteLimit: s.writeLimit.Load(),
			InboundLimit: s.inLimit.Load(), LingerLimit: s.linger.Load(),
			Server: s.server.Load(), Panic: s.panicked.Load(), Error: s.err.Load(),
		},
		TLSHandshakes:      s.tlsHandshakes.Load(),
		TLSHandshakeErrors: s.tlsHandshakeErrors.Load(),
	}
}

// Stats sums the loops' counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	var st Stats
	for _, l := range s.loops {
		st.add(l.Stats())
	}
	return st
}

func (st *Stats) add(x Stats) {
	st.Conns += x.Conns
	st.Accepted += x.Accepted
	st.BytesIn += x.BytesIn
	st.BytesOut += x.BytesOut
	st.AcceptBackoffs += x.AcceptBackoffs
	st.DroppedWrites += x.DroppedWrites
	st.Panics += x.Panics
	st.TLSHandshakes += x.TLSHandshakes
	st.TLSHandshakeErrors += x.TLSHandshakeErrors
	c, y := &st.Closes, x.Closes
	c.PeerEOF += y.PeerEOF
	c.Local += y.Local
	c.IdleTimeout += y.IdleTimeout
	c.Deadline += y.Deadline
	c.WriteLimit += y.WriteLimit
	c.InboundLimit += y.InboundLimit
	c.LingerLimit += y.LingerLimit
	c.Server += y.Server
	c.Panic += y.Panic
	c.Error += y.Error
}
