package sockets

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// OpError is the one errno policy of the socket layers (Samba's
// tsocket_bsd_error_from_errno): the error that system call sysc failing
// with errno during op on a socket of network netw is reported as. It is a
// *net.OpError wrapping an *os.SyscallError wrapping errno, so that
// errors.Is(err, syscall.ECONNRESET) works and the text reads as package
// net's. local and remote are the addresses to name; when fd >= 0, those
// left nil are taken from the socket (getsockname, getpeername). It is
// called on error paths only: the look-ups cost system calls.
//
// EINTR and EAGAIN are not errors to report: callers retry or wait on them
// before calling OpError.
func OpError(op, netw string, fd int, local, remote net.Addr, sysc string, errno error) error {
	oe := &net.OpError{Op: op, Net: netw, Source: local, Addr: remote, Err: os.NewSyscallError(sysc, errno)}
	if fd >= 0 {
		if oe.Source == nil {
			oe.Source = namedAddr(unix.Getsockname(fd))
		}
		if oe.Addr == nil {
			oe.Addr = namedAddr(unix.Getpeername(fd))
		}
	}
	return oe
}

// namedAddr is NetAddr of a socket's address, nil on error or for an
// unnamed unix socket.
func namedAddr(sa unix.Sockaddr, err error) net.Addr {
	if err != nil {
		return nil
	}
	if u, ok := sa.(*unix.SockaddrUnix); ok && u.Name == "" {
		return nil
	}
	return NetAddr(sa)
}
