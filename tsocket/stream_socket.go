package tsocket

import (
	"fmt"
	"io"
	"net"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

// sockOps is the socket implementation of StreamOps (Samba's
// tstream_bsd): non-blocking readv/writev on the descriptor, readiness
// from an fd event of the loop. Its fd event lives in a scope of its own,
// beside the Stream's, so that the ops outlive a Stream that TakeOps
// emptied.
type sockOps struct {
	scope *tevent.Scope
	fde   *tevent.FD
	own   *ownedFD
	fd    int
	netw  string
	n     StreamNotifier

	flags     tevent.FDFlags // as last given to fde
	wantR     bool
	wantW     bool
	watch     bool  // ErrorWatcher on
	errOnly   bool  // this wake-up had FDError without FDWrite
	wnoErr    bool  // FDError showed a half-closed peer: wait for FDWrite only
	failFirst bool  // FailReadvFirstError
	hupErr    error // failFirst: the error or hang-up seen, reads fail with it
	verify    bool  // check the descriptor's identity on the next wake-up
	everyWake bool  // the backend watches numbers, not files: check each wake-up
	dropR     bool  // a wake-up for a read nobody waits for: stop keeping FDRead
	lostFD    bool
	closed    bool
	peek      [1]byte
}

// NewStream wraps an existing connected stream socket
// (tstream_bsd_existing_socket). The stream takes the descriptor over: it
// makes it non-blocking and close-on-exec and closes it when freed. A
// closed or negative fd fails with tevent.ErrBadFD, a descriptor that is
// not a stream socket with ErrNotSocket, one that another Stream or Dgram
// owns with ErrFDInUse; the fd is then left alone.
//
// To hand a socket from Go's net package to the loop, duplicate it
// ((*net.TCPConn).File, then File.Fd and unix.Dup, or SyscallConn().Control
// with unix.Dup) and pass the duplicate; close the net.Conn and the File.
func NewStream(o tevent.Owner, fd int) (*Stream, error) {
	s := tevent.ScopeOf(o)
	if err := s.Context().CheckOnLoop("tsocket.NewStream"); err != nil {
		return nil, err
	}
	if _, err := prepareFD(fd, unix.SOCK_STREAM); err != nil {
		return nil, err
	}
	return newSocketStream(s, fd)
}

// newSocketStream wraps a prepared non-blocking socket. On failure fd is
// not closed.
func newSocketStream(s *tevent.Scope, fd int) (*Stream, error) {
	if s.Freed() {
		return nil, fmt.Errorf("tsocket: stream on a freed scope: %w", tevent.ErrFreed)
	}
	own, err := own(fd)
	if err != nil {
		return nil, err
	}
	ops := &sockOps{fd: fd, own: own, netw: sockets.NetName(sockets.Domain(fd), unix.SOCK_STREAM)}
	ops.scope = s.NewScope()
	fde, err := ops.scope.AddFD(fd, 0, ops.handle)
	if err != nil {
		own.release()
		ops.scope.Free()
		return nil, err
	}
	fde.SetCloseFn(ops.closeFD)
	ops.fde = fde
	ops.everyWake = s.Context().Backend() != "epoll"
	ops.scope.OnFree(ops.gone)
	return newStreamOn(s, ops), nil
}

// StreamPair returns the two connected ends of a unix stream socket pair
// (socketpair(2)), both owned by s.
func StreamPair(o tevent.Owner) (*Stream, *Stream, error) {
	s := tevent.ScopeOf(o)
	if err := s.Context().CheckOnLoop("tsocket.StreamPair"); err != nil {
		return nil, nil, err
	}
	fds, err := sockets.Socketpair(unix.SOCK_STREAM)
	if err != nil {
		return nil, nil, sockets.OpError("socketpair", "unix", -1, nil, nil, "socketpair", err)
	}
	a, err := newSocketStream(s, fds[0])
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := newSocketStream(s, fds[1])
	if err != nil {
		a.Free()
		unix.Close(fds[1])
		return nil, nil, err
	}
	return a, b, nil
}

// closeFD is the fd event's close function: it closes the number only if
// it still names the socket the stream took over.
func (o *sockOps) closeFD(_ *tevent.Context, _ *tevent.FD, fd int) {
	if o.lostFD || !o.own.stillOurs() {
		o.lostFD = true
		return
	}
	o.own.release()
	unix.Close(fd)
}

// gone runs when the ops' scope is freed: by Close, or by the owner the
// stream was made on after TakeOps handed the ops to another layer, which
// is told so.
func (o *sockOps) gone() {
	if o.closed {
		return
	}
	o.closed = true
	if o.n != nil && (o.wantR || o.wantW) {
		o.n.Ready(o.wantR, o.wantW)
	}
}

// loseFD gives the number up for good: the fd event goes without closing
// it.
func (o *sockOps) loseFD() {
	o.lostFD = true
	o.own.lose()
	o.fde.SetCloseFn(nil)
	o.fde.Free()
	o.flags = 0
}

func (o *sockOps) Attach(n StreamNotifier) { o.n = n }

// ShortIODrains: a short readv or writev means the kernel had no more.
func (o *sockOps) ShortIODrains() {}

// errClosed is what the ops return once closed or lost.
func (o *sockOps) errGone() error {
	if o.lostFD {
		return fmt.Errorf("%w: descriptor %d", ErrFDLost, o.fd)
	}
	return net.ErrClosed
}

func (o *sockOps) Readv(iov [][]byte) (int, error) {
	if o.closed || o.lostFD {
		return 0, o.errGone()
	}
	if o.hupErr != nil {
		return 0, o.hupErr
	}
	for {
		n, err := sockets.Readv(o.fd, iov)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, ErrWouldBlock
		}
		return 0, sockets.OpError("read", o.netw, o.fd, nil, nil, "readv", err)
	}
}

func (o *sockOps) Writev(iov [][]byte) (int, error) {
	if o.closed || o.lostFD {
		return 0, o.errGone()
	}
	for {
		n, err := sockets.Writev(o.fd, iov)
		switch {
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if o.errOnly {
				// FDError alone, and the socket is not writable: the peer
				// shut down its side but may still read. Stop asking for
				// FDError until this write finishes, or the loop would spin.
				o.wnoErr = true
			}
			return 0, ErrWouldBlock
		}
		return 0, sockets.OpError("write", o.netw, o.fd, nil, nil, "writev", err)
	}
}

func (o *sockOps) Wait(read, write bool) {
	o.wantR, o.wantW = read, write
	if !write {
		o.wnoErr = false
	}
	o.update()
}

func (o *sockOps) WatchErrors(on bool) {
	o.watch = on
	o.update()
}

func (o *sockOps) SetFailReadvFirstError(on bool) bool {
	old := o.failFirst
	o.failFirst = on
	o.update()
	return old
}

// Pending is FIONREAD; at zero, a peek tells an idle socket from one at
// end of stream or failed.
func (o *sockOps) Pending() (int, error) {
	if o.closed || o.lostFD {
		return 0, o.errGone()
	}
	n, err := sockets.Pending(o.fd)
	if err != nil {
		return 0, sockets.OpError("ioctl", o.netw, o.fd, nil, nil, "ioctl FIONREAD", err)
	}
	if n > 0 {
		return n, nil
	}
	for {
		m, _, err := unix.Recvfrom(o.fd, o.peek[:], unix.MSG_PEEK)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, sockets.OpError("read", o.netw, o.fd, nil, nil, "recvfrom", err)
		case m == 0:
			return 0, io.EOF
		}
		return m, nil
	}
}

func (o *sockOps) CloseWrite() error {
	if o.closed || o.lostFD {
		return o.errGone()
	}
	if err := unix.Shutdown(o.fd, unix.SHUT_WR); err != nil {
		return sockets.OpError("shutdown", o.netw, o.fd, nil, nil, "shutdown", err)
	}
	return nil
}

func (o *sockOps) Close() error {
	if !o.closed {
		o.closed = true
		o.scope.Free()
	}
	return nil
}

func (o *sockOps) Fd() int {
	if o.closed || o.lostFD {
		return -1
	}
	return o.fd
}

func (o *sockOps) LocalAddr() (Address, error) {
	if o.closed || o.lostFD {
		return Address{}, o.errGone()
	}
	sa, err := unix.Getsockname(o.fd)
	if err != nil {
		return Address{}, sockets.OpError("getsockname", o.netw, -1, nil, nil, "getsockname", err)
	}
	return fromSockaddr(sa)
}

func (o *sockOps) RemoteAddr() (Address, error) {
	if o.closed || o.lostFD {
		return Address{}, o.errGone()
	}
	sa, err := unix.Getpeername(o.fd)
	if err != nil {
		return Address{}, sockets.OpError("getpeername", o.netw, -1, nil, nil, "getpeername", err)
	}
	return fromSockaddr(sa)
}

// sockErr is the socket's pending error (SO_ERROR), io.EOF for none: the
// peer hung up.
func (o *sockOps) sockErr() error {
	soerr, err := unix.GetsockoptInt(o.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		return sockets.OpError("read", o.netw, o.fd, nil, nil, "read", err)
	}
	return io.EOF
}

// handle is the fd event's handler.
func (o *sockOps) handle(_ *tevent.Context, fde *tevent.FD, flags tevent.FDFlags) {
	if o.closed || o.lostFD {
		return
	}
	if fde.Flags() != o.flags {
		// The loop disabled the event: the descriptor was closed behind
		// our back or refused. Whatever the number names now, check it.
		o.flags = fde.Flags()
		o.verify = true
	}
	if o.verify || o.everyWake {
		// A number-watching backend reports whatever file has the number
		// now, and a new registration (after the flags changed) may have
		// gone to a file that took a closed socket's number: check that
		// the number is still our socket before reading from it.
		o.verify = false
		if !o.own.stillOurs() {
			o.loseFD()
			if o.watch {
				o.watch = false
				o.n.Failed(o.errGone())
			}
			o.n.Ready(o.wantR, o.wantW)
			return
		}
	}
	if flags&tevent.FDError != 0 {
		if o.failFirst && o.hupErr == nil && o.wantR {
			o.hupErr = o.sockErr()
		}
		if o.watch && !o.wantR && !o.wantW {
			o.watch = false
			o.update()
			o.n.Failed(o.sockErr())
			return
		}
	}
	if flags&tevent.FDRead != 0 && !o.wantR {
		o.dropR = true // kept lazily, and readable: drop it now, or it would spin
	}
	o.errOnly = flags&tevent.FDError != 0 && flags&tevent.FDWrite == 0
	r := o.wantR && flags&(tevent.FDRead|tevent.FDError) != 0
	w := o.wantW && flags&(tevent.FDWrite|tevent.FDError) != 0
	o.n.Ready(r, w)
	o.errOnly = false
	o.update()
	o.dropR = false
}

// update asks the loop for what the stream waits for.
func (o *sockOps) update() {
	if o.closed || o.lostFD {
		return
	}
	var f tevent.FDFlags
	if o.wantR {
		f |= tevent.FDRead
		if o.failFirst {
			f |= tevent.FDError
		}
	} else if o.flags&tevent.FDRead != 0 && !o.dropR {
		// Keep read interest between reads, as Samba's tstream_bsd does:
		// the next read usually comes at once, and an unchanged
		// registration costs no system call (nor an identity check).
		f |= tevent.FDRead
	}
	if o.wantW {
		f |= tevent.FDWrite
		if !o.wnoErr {
			f |= tevent.FDError
		}
	}
	if o.watch {
		f |= tevent.FDError
	}
	if f != o.flags {
		o.flags = f
		o.fde.SetFlags(f)
		o.verify = true
	}
}

const (
	unixSORcvbuf = unix.SO_RCVBUF
	unixSOSndbuf = unix.SO_SNDBUF
)
