//go:build linux || freebsd

package sockets

import "golang.org/x/sys/unix"

// Socket creates a non-blocking, close-on-exec socket.
func Socket(domain, typ int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// Socketpair creates a non-blocking, close-on-exec unix socket pair.
func Socketpair(typ int) ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// accept4 takes one connection as a non-blocking, close-on-exec socket,
// without asking for the peer's address: a raw accept4 allocates nothing.
func accept4(fd int) (int, error) {
	nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(nfd), nil
}
