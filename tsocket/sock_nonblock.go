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

// acceptFD accepts a connection as a non-blocking, close-on-exec socket.
func acceptFD(fd int) (int, error) {
	nfd, _, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	return nfd, err
}
