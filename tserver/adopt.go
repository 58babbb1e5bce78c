package tserver

import (
	"fmt"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// Adopt hands the server a connected stream socket accepted elsewhere
// (by a net.Listener, another server, a socket activation), to serve as
// if its own listener had accepted it: OnOpen is called on the loop that
// gets it. Safe from any goroutine, before or after Start.
//
// The server owns fd from the call on: it makes it non-blocking and
// close-on-exec, applies Config's socket options, and closes it at the
// end, also when Adopt fails because the server is shutting down
// (ErrServerClosed). If fd is not a stream socket, Adopt returns an error
// (wrapping tevent.ErrBadFD for a bad descriptor) and leaves it to the
// caller.
//
// Taking a connection from package net: duplicate its descriptor and
// close the net.Conn, so that the server and the runtime's poller never
// share one descriptor:
//
//	rc, _ := tcpConn.SyscallConn()
//	var fd int
//	var derr error
//	rc.Control(func(s uintptr) { fd, derr = unix.Dup(int(s)) })
//	tcpConn.Close()
//	if derr == nil { err = srv.AdoptWith(fd, buffered) }
//
// (Not (*net.TCPConn).File's *os.File: its Fd puts the descriptor in
// blocking mode and its finalizer closes it.) Bytes already read from
// the connection and buffered on the Go side, such as those a
// bufio.Reader holds, are not in the socket any more: pass them with
// AdoptWith, or they are lost.
func (s *Server) Adopt(fd int) error { return s.AdoptWith(fd, nil) }

// AdoptWith is Adopt with bytes already read from the connection
// (initial, copied): they are handed to OnData right after OnOpen, before
// anything read from the socket. For a bufio.Reader br over the
// connection: initial, _ := br.Peek(br.Buffered()).
func (s *Server) AdoptWith(fd int, initial []byte) error {
	if fd < 0 {
		return fmt.Errorf("tserver: Adopt: %w: descriptor %d", tevent.ErrBadFD, fd)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		if err == unix.EBADF {
			return fmt.Errorf("tserver: Adopt: %w: descriptor %d: %w", tevent.ErrBadFD, fd, err)
		}
		return fmt.Errorf("tserver: Adopt: descriptor %d is not a socket: %w", fd, err)
	}
	if typ != unix.SOCK_STREAM {
		return fmt.Errorf("tserver: Adopt: descriptor %d is not a stream socket (type %d)", fd, typ)
	}
	if _, err := unix.Getpeername(fd); err != nil {
		return fmt.Errorf("tserver: Adopt: descriptor %d is not connected: %w", fd, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("tserver: Adopt: %w", err)
	}
	unix.CloseOnExec(fd)
	sa, _ := unix.Getsockname(fd)
	_, isUnix := sa.(*unix.SockaddrUnix)
	s.tuneSocket(fd, !isUnix)
	var cp []byte
	if len(initial) > 0 {
		cp = append([]byte(nil), initial...)
	}
	if s.stopping.Load() {
		unix.Close(fd)
		return ErrServerClosed
	}
	t := s.pick()
	t.nconns.Add(1)
	if t.post(op{kind: opAccept, fd: fd, b: cp}) != nil {
		unix.Close(fd)
		t.nconns.Add(-1)
		return ErrServerClosed
	}
	return nil
}

// tuneSocket applies Config's socket options to an accepted or adopted
// socket.
func (s *Server) tuneSocket(fd int, tcp bool) {
	if tcp && !s.cfg.Delay {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if n := s.cfg.SocketReadBuffer; n > 0 {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
	}
	if n := s.cfg.SocketWriteBuffer; n > 0 {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n)
	}
}
