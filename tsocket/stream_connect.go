package tsocket

import (
	"fmt"
	"net"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

// Connect opens a stream to remote: TCP for an inet address, a unix stream
// socket for a path (tstream_inet_tcp_connect_send,
// tstream_unix_connect_send). A non-zero local is bound first; it must be
// of the same family as remote. The request finishes with the connected
// Stream, owned by s (not by the request: it outlives Result). Kernel errors
// are *net.OpError with Op "dial" (errors.Is(err, syscall.ECONNREFUSED)).
// Cancel, a timeout or freeing the request before it finishes closes the
// socket.
func Connect(o tevent.Owner, local, remote Address) *tevent.Req[*Stream] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[*Stream](s)
	if remote.IsZero() {
		req.Error(fmt.Errorf("%w: no remote address", ErrBadAddress))
		return req.Post(nil)
	}
	if !local.IsZero() && local.domain() != remote.domain() {
		req.Error(invalid("local address %v and remote address %v are of different families", local, remote))
		return req.Post(nil)
	}
	rsa, err := remote.sockaddr()
	if req.Error(err) {
		return req.Post(nil)
	}
	netw := sockets.NetName(remote.domain(), unix.SOCK_STREAM)
	fd, err := sockets.Socket(remote.domain(), unix.SOCK_STREAM)
	if err != nil {
		req.Error(sockets.OpError("dial", netw, -1, nil, nil, "socket", err))
		return req.Post(nil)
	}
	if !local.IsZero() {
		lsa, err := local.sockaddr()
		if err == nil {
			if local.IsInet() {
				unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}
			if err = unix.Bind(fd, lsa); err != nil {
				err = sockets.OpError("dial", netw, -1, nil, nil, "bind", err)
			}
		}
		if err != nil {
			unix.Close(fd)
			req.Error(err)
			return req.Post(nil)
		}
	}
	for {
		err = unix.Connect(fd, rsa)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
		st, err := newSocketStream(s, fd)
		if err != nil {
			unix.Close(fd)
			req.Error(err)
		} else {
			req.Done(st)
		}
		return req.Post(nil)
	case unix.EINPROGRESS, unix.EALREADY:
	default:
		unix.Close(fd)
		req.Error(sockets.OpError("dial", netw, -1, nil, remote.NetAddr(), "connect", err))
		return req.Post(nil)
	}
	c := &connector{req: req, s: s, fd: fd, netw: netw, remote: remote}
	fde, err := req.Scope().AddFD(fd, tevent.FDWrite|tevent.FDError, c.handle)
	if err != nil {
		c.release()
		req.Error(err)
		return req.Post(nil)
	}
	c.fde = fde
	req.SetCancelFn(c.cancel)
	req.SetCleanupFn(c.cleanup)
	return req
}

// connector is a Connect waiting for the kernel to finish connecting its
// socket (tstream_bsd_connect_state): it owns the socket until the stream
// is made, and closes it when the request is cancelled, times out or is
// freed first.
type connector struct {
	req    *tevent.Req[*Stream]
	s      *tevent.Scope // owns the stream
	fd     int           // -1 once closed or handed to the stream
	fde    *tevent.FD    // watches fd for writability
	netw   string
	remote Address
}

// handle runs when the socket is writable: the connect finished, well or
// not (SO_ERROR says which).
func (c *connector) handle(*tevent.Context, *tevent.FD, tevent.FDFlags) {
	soerr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		c.release()
		c.req.Error(sockets.OpError("dial", c.netw, -1, nil, c.remote.NetAddr(), "connect", err))
		return
	}
	c.fde.Free()
	c.fde = nil
	st, err := newSocketStream(c.s, c.fd)
	if err != nil {
		c.release()
		c.req.Error(err)
		return
	}
	c.fd = -1
	c.req.Done(st)
}

// cancel is the request's cancel function: it closes the socket.
func (c *connector) cancel(r *tevent.Req[*Stream]) bool {
	c.release()
	r.Error(tevent.ErrCancelled)
	return true
}

// cleanup is the request's cleanup function: whatever the request ends
// in, the socket it still holds is closed.
func (c *connector) cleanup(*tevent.Req[*Stream], tevent.ReqState) { c.release() }

// release stops watching the socket and closes it, unless the stream has
// it. Idempotent.
func (c *connector) release() {
	if c.fde != nil {
		c.fde.Free()
		c.fde = nil
	}
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// Listener is a listening stream socket on a loop. Accept requests take
// its connections one at a time. It is owned by the scope it was made on;
// freeing it closes the socket and finishes a pending Accept with
// net.ErrClosed.
type Listener struct {
	scope   *tevent.Scope
	fde     *tevent.FD
	fd      int
	netw    string
	addr    Address
	closed  bool
	acc     *tevent.Req[*Stream]
	accS    *tevent.Scope
	backoff sockets.Backoff
	until   time.Time
	timer   *tevent.Timer
}

// Listen binds a stream socket to addr and listens on it (backlog <= 0
// means the system's maximum). An inet address gets SO_REUSEADDR, an IPv6
// one IPV6_V6ONLY off (the any address :: takes IPv4 too); port 0 picks a
// free port (see Addr). A unix path must not exist yet: remove a
// stale socket file first.
func Listen(o tevent.Owner, addr Address, backlog int) (*Listener, error) {
	s := tevent.ScopeOf(o)
	sa, err := addr.sockaddr()
	if err != nil {
		return nil, err
	}
	netw := sockets.NetName(addr.domain(), unix.SOCK_STREAM)
	fd, err := sockets.Listen(netw, addr.domain(), sa, false, backlog)
	if err != nil {
		return nil, err
	}
	if bsa, err := unix.Getsockname(fd); err == nil {
		if a, err := fromSockaddr(bsa); err == nil && !a.IsZero() {
			addr = a
		}
	}
	ls := s.NewScope()
	l := &Listener{scope: ls, fd: fd, netw: netw, addr: addr,
		backoff: sockets.Backoff{Min: 10 * time.Millisecond, Max: time.Second}}
	fde, err := ls.AddFD(fd, 0, l.handle)
	if err != nil {
		ls.Free()
		unix.Close(fd)
		return nil, err
	}
	fde.SetAutoClose()
	l.fde = fde
	ls.OnFree(l.teardown)
	return l, nil
}

// Addr returns the address the listener is bound to, with the port the
// kernel picked for port 0.
func (l *Listener) Addr() Address { return l.addr }

// Fd returns the listening descriptor (-1 once freed); the listener owns it.
func (l *Listener) Fd() int {
	if l.closed {
		return -1
	}
	return l.fd
}

// Free closes the listening socket. A pending Accept finishes with
// net.ErrClosed. Idempotent.
func (l *Listener) Free() { l.scope.Free() }

// Accept takes the next connection, as a Stream owned by s. One Accept is
// in flight at a time (ErrBusy). It is tried at once. A connection that
// was reset before it was taken is skipped. When the process or system
// is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the
// request fails with that error (a *net.OpError, errors.Is(err,
// syscall.EMFILE)) and the listener backs off: the next Accept waits 10 ms,
// doubling up to 1 s while the shortage lasts, before asking the kernel
// again, so that no loop spins on a connection it cannot take (unlike
// async_sock's accept_send, whose callers retry at once).
func (l *Listener) Accept(o tevent.Owner) *tevent.Req[*Stream] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[*Stream](s)
	switch {
	case l.closed:
		req.Error(net.ErrClosed)
		return req.Post(nil)
	case l.acc != nil:
		req.Error(ErrBusy)
		return req.Post(nil)
	}
	l.acc, l.accS = req, s
	req.SetCancelFn(func(r *tevent.Req[*Stream]) bool {
		if l.acc != r {
			return false
		}
		l.release()
		r.Error(tevent.ErrCancelled)
		return true
	})
	req.SetCleanupFn(func(r *tevent.Req[*Stream], _ tevent.ReqState) {
		if l.acc == r {
			l.release()
		}
	})
	if now := time.Now(); now.Before(l.until) {
		l.timer = req.Scope().AddTimer(l.until, func(*tevent.Context, *tevent.Timer, time.Time) {
			l.timer = nil
			l.try()
		})
		return req
	}
	l.try()
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// release forgets the accept in flight.
func (l *Listener) release() {
	l.acc, l.accS = nil, nil
	if l.timer != nil {
		l.timer.Free()
		l.timer = nil
	}
	if !l.closed {
		l.fde.SetFlags(0)
	}
}

func (l *Listener) handle(*tevent.Context, *tevent.FD, tevent.FDFlags) { l.try() }

// try accepts for the request in flight, or waits for readability.
func (l *Listener) try() {
	req := l.acc
	if req == nil {
		return
	}
	nfd, err := sockets.Accept(l.fd)
	switch {
	case err == nil:
		s := l.accS
		l.release()
		l.backoff.Reset()
		st, err := newSocketStream(s, nfd)
		if err != nil {
			unix.Close(nfd)
			req.Error(err)
			return
		}
		req.Done(st)
		return
	case err == unix.EAGAIN:
		l.fde.SetFlags(tevent.FDRead)
		return
	case sockets.Shortage(err):
		l.until = time.Now().Add(l.backoff.Next())
	}
	l.release()
	req.Error(sockets.OpError("accept", l.netw, l.fd, nil, nil, "accept", err))
}

func (l *Listener) teardown() {
	l.closed = true
	if req := l.acc; req != nil {
		l.release()
		req.Error(net.ErrClosed)
	}
}
