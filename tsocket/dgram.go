package tsocket

import (
	"fmt"
	"net"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

// Datagram is one received datagram: its bytes and its sender.
type Datagram struct {
	// Data holds the datagram, a prefix of the buffer given to RecvFrom.
	Data []byte
	// From is the sender (the zero Address for an unnamed unix socket).
	From Address
}

// MaxDatagram is the size of the buffer RecvFrom allocates when given none.
const MaxDatagram = 65536

// Dgram is a datagram socket on a loop (tdgram_context): UDP or unix
// datagrams. One RecvFrom and one SendTo are in flight at a time (ErrBusy
// for a second). It is owned by the scope it was made on; freeing it closes
// the socket and finishes pending requests with net.ErrClosed. Datagram
// errors are not sticky: each request reports its own.
type Dgram struct {
	scope  *tevent.Scope
	fde    *tevent.FD
	own    *ownedFD
	fd     int
	netw   string
	unix   bool // a unix datagram socket: see doSend
	closed bool
	flags  tevent.FDFlags

	// A unix datagram socket polls writable while a receiver it sends to
	// unconnected is full (its own buffer is empty): after EAGAIN there,
	// sends are retried on a growing back-off instead of on readiness.
	backoff sockets.Backoff
	retry   *tevent.Timer

	rd   *tevent.Req[Datagram]
	rbuf []byte

	wr  *tevent.Req[int]
	wb  []byte
	wsa unix.Sockaddr
	wto Address
}

// NewUDP opens a UDP socket bound to local (tdgram_inet_udp_socket); the
// zero local means any address and port of remote's family. A non-zero
// remote connects the socket: SendTo may then pass the zero Address, and
// only remote's datagrams are received.
func NewUDP(o tevent.Owner, local, remote Address) (*Dgram, error) {
	s := tevent.ScopeOf(o)
	return newInetDgram(s, local, remote, false)
}

// NewUDPBroadcast opens a UDP socket bound to local with SO_BROADCAST set
// (tdgram_inet_udp_broadcast_socket), for sending to broadcast addresses.
func NewUDPBroadcast(o tevent.Owner, local Address) (*Dgram, error) {
	s := tevent.ScopeOf(o)
	return newInetDgram(s, local, Address{}, true)
}

func newInetDgram(s *tevent.Scope, local, remote Address, bcast bool) (*Dgram, error) {
	if local.IsZero() {
		fam := "ipv4"
		if remote.IsInet() && remote.IP().Is6() {
			fam = "ipv6"
		}
		local, _ = InetAddress(fam, "", 0)
	}
	if !local.IsInet() || (!remote.IsZero() && (!remote.IsInet() || remote.domain() != local.domain())) {
		return nil, invalid("UDP needs inet addresses of one family, got %v and %v", local, remote)
	}
	return openDgram(s, local, remote, bcast)
}

// NewUnixDgram opens a unix datagram socket (tdgram_unix_socket), bound to
// local unless it is zero and connected to remote unless it is zero. A
// peer can only answer a socket that is bound.
func NewUnixDgram(o tevent.Owner, local, remote Address) (*Dgram, error) {
	s := tevent.ScopeOf(o)
	if (!local.IsZero() && !local.IsUnix()) || (!remote.IsZero() && !remote.IsUnix()) {
		return nil, invalid("unix datagrams need unix addresses, got %v and %v", local, remote)
	}
	return openDgram(s, local, remote, false)
}

func openDgram(s *tevent.Scope, local, remote Address, bcast bool) (*Dgram, error) {
	dom := local.domain()
	if local.IsZero() {
		dom = unix.AF_UNIX
	}
	netw := sockets.NetName(dom, unix.SOCK_DGRAM)
	fd, err := sockets.Socket(dom, unix.SOCK_DGRAM)
	if err != nil {
		return nil, sockets.OpError("listen", netw, -1, nil, nil, "socket", err)
	}
	fail := func(sysc string, err error) (*Dgram, error) {
		unix.Close(fd)
		return nil, sockets.OpError("listen", netw, -1, local.NetAddr(), remote.NetAddr(), sysc, err)
	}
	if bcast {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if !local.IsZero() {
		sa, err := local.sockaddr()
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fail("bind", err)
		}
	}
	if !remote.IsZero() {
		sa, err := remote.sockaddr()
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		if err := unix.Connect(fd, sa); err != nil {
			return fail("connect", err)
		}
	}
	d, err := newDgram(s, fd)
	if err != nil {
		unix.Close(fd)
	}
	return d, err
}

// NewDgram wraps an existing datagram socket; it takes the descriptor over
// (non-blocking, close-on-exec, closed when freed). Errors are as for
// NewStream.
func NewDgram(o tevent.Owner, fd int) (*Dgram, error) {
	s := tevent.ScopeOf(o)
	if _, err := prepareFD(fd, unix.SOCK_DGRAM); err != nil {
		return nil, err
	}
	return newDgram(s, fd)
}

// DgramPair returns two connected unix datagram sockets (socketpair(2)).
func DgramPair(o tevent.Owner) (*Dgram, *Dgram, error) {
	s := tevent.ScopeOf(o)
	fds, err := sockets.Socketpair(unix.SOCK_DGRAM)
	if err != nil {
		return nil, nil, sockets.OpError("socketpair", "unixgram", -1, nil, nil, "socketpair", err)
	}
	a, err := newDgram(s, fds[0])
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := newDgram(s, fds[1])
	if err != nil {
		a.Free()
		unix.Close(fds[1])
		return nil, nil, err
	}
	return a, b, nil
}

func newDgram(s *tevent.Scope, fd int) (*Dgram, error) {
	own, err := own(fd)
	if err != nil {
		return nil, err
	}
	ds := s.NewScope()
	dom := sockets.Domain(fd)
	d := &Dgram{scope: ds, fd: fd, own: own, netw: sockets.NetName(dom, unix.SOCK_DGRAM), unix: dom == unix.AF_UNIX,
		backoff: sockets.Backoff{Min: time.Millisecond, Max: 100 * time.Millisecond}}
	fde, err := ds.AddFD(fd, 0, d.handle)
	if err != nil {
		own.release()
		ds.Free()
		return nil, err
	}
	fde.SetCloseFn(func(_ *tevent.Context, _ *tevent.FD, fd int) {
		// Close the number only while it still names our socket.
		if own.stillOurs() {
			own.release()
			unix.Close(fd)
		}
	})
	d.fde = fde
	ds.OnFree(d.teardown)
	return d, nil
}

// Fd returns the descriptor (-1 once freed); the socket owns it.
func (d *Dgram) Fd() int {
	if d.closed {
		return -1
	}
	return d.fd
}

// LocalAddr returns the socket's bound address.
func (d *Dgram) LocalAddr() (Address, error) {
	if d.closed {
		return Address{}, net.ErrClosed
	}
	sa, err := unix.Getsockname(d.fd)
	if err != nil {
		return Address{}, sockets.OpError("getsockname", d.netw, -1, nil, nil, "getsockname", err)
	}
	return fromSockaddr(sa)
}

// Pending returns the bytes waiting to be received (FIONREAD; on Linux the
// size of the next datagram).
func (d *Dgram) Pending() (int, error) {
	if d.closed {
		return 0, net.ErrClosed
	}
	n, err := sockets.Pending(d.fd)
	if err != nil {
		return 0, sockets.OpError("ioctl", d.netw, d.fd, nil, nil, "ioctl FIONREAD", err)
	}
	return n, nil
}

// Free closes the socket; pending requests finish with net.ErrClosed.
// Idempotent.
func (d *Dgram) Free() { d.scope.Free() }

// Disconnect closes the socket as a request (tdgram_disconnect_send),
// finished on a later loop turn. It is refused with ErrBusy while a
// RecvFrom or SendTo is in flight, as in Samba; on a freed socket it
// fails with net.ErrClosed.
func (d *Dgram) Disconnect(o tevent.Owner) *tevent.Req[struct{}] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[struct{}](s)
	switch {
	case d.closed:
		req.Error(net.ErrClosed)
	case d.rd != nil || d.wr != nil:
		req.Error(ErrBusy)
	default:
		d.Free()
		req.Done(struct{}{})
	}
	return req.Post(nil)
}

// SetReadBuffer sets the socket's receive buffer (SO_RCVBUF; the kernel
// may round or double it): a burst of datagrams larger than the buffer
// is dropped by the kernel.
func (d *Dgram) SetReadBuffer(bytes int) error {
	if d.closed {
		return net.ErrClosed
	}
	return setBuffer(d.fd, d.netw, unix.SO_RCVBUF, bytes)
}

// SetWriteBuffer sets the socket's send buffer (SO_SNDBUF).
func (d *Dgram) SetWriteBuffer(bytes int) error {
	if d.closed {
		return net.ErrClosed
	}
	return setBuffer(d.fd, d.netw, unix.SO_SNDBUF, bytes)
}

// setBuffer sets SO_RCVBUF or SO_SNDBUF.
func setBuffer(fd int, netw string, opt, bytes int) error {
	if bytes <= 0 {
		return invalid("socket buffer of %d bytes", bytes)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, bytes); err != nil {
		return sockets.OpError("set", netw, fd, nil, nil, "setsockopt", err)
	}
	return nil
}

// RecvFrom receives one datagram into buf (tdgram_recvfrom_send); a nil
// buf means a fresh buffer of MaxDatagram bytes. A datagram longer than buf
// fails with ErrTruncated (it is consumed: the kernel keeps no rest). The
// request is tried at once; Cancel works until a datagram arrived.
func (d *Dgram) RecvFrom(o tevent.Owner, buf []byte) *tevent.Req[Datagram] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[Datagram](s)
	switch {
	case d.closed:
		req.Error(net.ErrClosed)
		return req.Post(nil)
	case d.rd != nil:
		req.Error(ErrBusy)
		return req.Post(nil)
	case buf == nil:
		buf = make([]byte, MaxDatagram)
	case len(buf) == 0:
		req.Error(invalid("receive buffer of length 0"))
		return req.Post(nil)
	}
	d.rd, d.rbuf = req, buf
	req.SetCancelFn(func(r *tevent.Req[Datagram]) bool {
		if d.rd != r {
			return false
		}
		d.rd, d.rbuf = nil, nil
		d.update()
		r.Error(tevent.ErrCancelled)
		return true
	})
	req.SetCleanupFn(func(r *tevent.Req[Datagram], _ tevent.ReqState) {
		if d.rd == r {
			d.rd, d.rbuf = nil, nil
			d.update()
		}
	})
	d.doRecv()
	d.update()
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// SendTo sends buf as one datagram to dst (tdgram_sendto_send); the zero
// dst sends on a connected socket. It finishes with len(buf) once the
// kernel took it; a datagram is never sent in part (EMSGSIZE comes back
// as a *net.OpError). The request is tried at once.
func (d *Dgram) SendTo(o tevent.Owner, buf []byte, dst Address) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[int](s)
	d.startSend(req, buf, dst)
	if !req.IsInProgress() {
		return req.Post(nil)
	}
	return req
}

// SendToQueue is SendTo behind q (tdgram_sendto_queue_send): datagrams
// queued on q leave in order, one in flight at a time.
func SendToQueue(o tevent.Owner, q *tevent.Queue, d *Dgram, buf []byte, dst Address) *tevent.Req[int] {
	s := tevent.ScopeOf(o)
	req := tevent.NewReq[int](s)
	q.Add(req, func(tevent.AnyReq) { d.startSend(req, buf, dst) })
	return req
}

func (d *Dgram) startSend(req *tevent.Req[int], buf []byte, dst Address) {
	var sa unix.Sockaddr
	if !dst.IsZero() {
		var err error
		if sa, err = dst.sockaddr(); req.Error(err) {
			return
		}
	}
	switch {
	case d.closed:
		req.Error(net.ErrClosed)
		return
	case d.wr != nil:
		req.Error(ErrBusy)
		return
	}
	d.wr, d.wb, d.wsa, d.wto = req, buf, sa, dst
	req.SetCancelFn(func(r *tevent.Req[int]) bool {
		if d.wr != r {
			return false
		}
		d.clearSend()
		d.update()
		r.Error(tevent.ErrCancelled)
		return true
	})
	req.SetCleanupFn(func(r *tevent.Req[int], _ tevent.ReqState) {
		if d.wr == r {
			d.clearSend()
			d.update()
		}
	})
	d.doSend()
	d.update()
}

func (d *Dgram) clearSend() {
	d.wr, d.wb, d.wsa, d.wto = nil, nil, nil, Address{}
	if d.retry != nil {
		d.retry.Free()
		d.retry = nil
	}
}

// retryLater arms the back-off timer for the send in flight, which then
// waits for it rather than for writability.
func (d *Dgram) retryLater() {
	if d.retry != nil {
		return
	}
	d.retry = d.scope.AddTimer(time.Now().Add(d.backoff.Next()), func(*tevent.Context, *tevent.Timer, time.Time) {
		d.retry = nil
		d.doSend()
		d.update()
	})
}

func (d *Dgram) doRecv() {
	for d.rd != nil {
		n, _, rflags, from, err := unix.Recvmsg(d.fd, d.rbuf, nil, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		}
		req, buf := d.rd, d.rbuf
		d.rd, d.rbuf = nil, nil
		if err != nil {
			req.Error(sockets.OpError("read", d.netw, d.fd, nil, nil, "recvmsg", err))
			return
		}
		if rflags&unix.MSG_TRUNC != 0 {
			req.Error(fmt.Errorf("%w: buffer of %d bytes", ErrTruncated, len(buf)))
			return
		}
		a, _ := fromSockaddr(from)
		req.Done(Datagram{Data: buf[:n], From: a})
		return
	}
}

func (d *Dgram) doSend() {
	for d.wr != nil {
		n, err := unix.SendmsgN(d.fd, d.wb, nil, d.wsa, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN || err == unix.ENOBUFS:
			if d.unix && d.wsa != nil {
				d.retryLater()
			}
			return
		}
		req, to := d.wr, d.wto
		d.clearSend()
		d.backoff.Reset()
		if err != nil {
			req.Error(sockets.OpError("write", d.netw, -1, nil, to.NetAddr(), "sendmsg", err))
			return
		}
		req.Done(n)
		return
	}
}

func (d *Dgram) handle(_ *tevent.Context, _ *tevent.FD, flags tevent.FDFlags) {
	if flags&tevent.FDWrite != 0 {
		d.doSend()
	}
	if flags&tevent.FDRead != 0 && !d.closed {
		d.doRecv()
	}
	d.update()
}

func (d *Dgram) update() {
	if d.closed {
		return
	}
	var f tevent.FDFlags
	if d.rd != nil {
		f |= tevent.FDRead
	}
	if d.wr != nil && d.retry == nil {
		f |= tevent.FDWrite
	}
	if f != d.flags {
		d.flags = f
		d.fde.SetFlags(f)
	}
}

func (d *Dgram) teardown() {
	d.closed = true
	if req := d.rd; req != nil {
		d.rd, d.rbuf = nil, nil
		req.Error(net.ErrClosed)
	}
	if req := d.wr; req != nil {
		d.clearSend()
		req.Error(net.ErrClosed)
	}
}
