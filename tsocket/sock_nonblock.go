//go:build linux || freebsd

package tsocket

import "golang.org/x/sys/unix"

// newSocket creates a non-blocking, close-on-exec socket.
func newSocket(domain, typ int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// newSocketpair creates a non-blocking, close-on-exec socket pair.
func newSocketpair(typ int) ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// acceptFD accepts a connection as a non-blocking, close-on-exec socket,
// without asking for the peer's address: a raw accept4 allocates nothing.
func acceptFD(fd int) (int, error) {
	nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(nfd), nil
}
