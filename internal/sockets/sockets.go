// Package sockets holds the socket system calls that tsocket (Samba's
// request layer) and tserver (the server fast path) share, per operating
// system: non-blocking close-on-exec socket, socketpair and accept;
// readv, writev, read and write; the conversion of addresses to and from
// the kernel's form; pending bytes; and the policies both layers follow:
// one errno-to-error function (OpError), one listen (Listen, with
// ParseListenAddr for "network, address" strings and AdoptListener for a
// descriptor the caller made), one accept (Accept) with its back-off
// after a descriptor or memory shortage (Backoff).
package sockets

import "golang.org/x/sys/unix"

// NetName names the network of a socket of domain and type typ, as
// package net does ("tcp", "udp", "unix", "unixgram"), for *net.OpError.
func NetName(domain, typ int) string {
	switch {
	case domain == unix.AF_UNIX && typ == unix.SOCK_STREAM:
		return "unix"
	case domain == unix.AF_UNIX:
		return "unixgram"
	case typ == unix.SOCK_STREAM:
		return "tcp"
	}
	return "udp"
}

// Domain returns the domain of the socket fd (AF_INET, AF_INET6, AF_UNIX),
// AF_UNSPEC if unknown.
func Domain(fd int) int {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return unix.AF_UNSPEC
	}
	switch sa.(type) {
	case *unix.SockaddrInet4:
		return unix.AF_INET
	case *unix.SockaddrInet6:
		return unix.AF_INET6
	case *unix.SockaddrUnix:
		return unix.AF_UNIX
	}
	return unix.AF_UNSPEC
}

// Pending returns how many bytes can be read from fd without blocking
// (FIONREAD).
func Pending(fd int) (int, error) {
	return unix.IoctlGetInt(fd, fionread)
}
