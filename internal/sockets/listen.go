package sockets

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Listen makes a non-blocking, close-on-exec stream socket of domain,
// bound to sa and listening with backlog (<= 0: the system's maximum). An
// inet socket gets SO_REUSEADDR, an IPv6 one IPV6_V6ONLY set to v6only
// (false: the any address takes IPv4 too, as package net does). Errors
// are OpError's, with op "listen" on network netw.
func Listen(netw string, domain int, sa unix.Sockaddr, v6only bool, backlog int) (int, error) {
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	fd, err := Socket(domain, unix.SOCK_STREAM)
	if err != nil {
		return -1, OpError("listen", netw, -1, nil, nil, "socket", err)
	}
	fail := func(sysc string, err error) (int, error) {
		unix.Close(fd)
		return -1, OpError("listen", netw, -1, NetAddr(sa), nil, sysc, err)
	}
	if domain != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if domain == unix.AF_INET6 {
		v := 0
		if v6only {
			v = 1
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// ParseListenAddr parses the address of a listener given as package net
// does: network "tcp", "tcp4" or "tcp6" with a numeric "host:port" (an
// empty host is the any address; the port may be a service name), or
// "unix" with a path. It returns what Listen takes.
func ParseListenAddr(network, address string) (domain int, sa unix.Sockaddr, v6only bool, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return 0, nil, false, fmt.Errorf("listen %s %q: %w", network, address, err)
		}
		pn, err := net.LookupPort("tcp", port)
		if err != nil {
			return 0, nil, false, fmt.Errorf("listen %s %q: bad port: %w", network, address, err)
		}
		var ip netip.Addr
		if host == "" {
			if network == "tcp4" {
				ip = netip.IPv4Unspecified()
			} else {
				ip = netip.IPv6Unspecified()
			}
		} else {
			ip, err = netip.ParseAddr(host)
			if err != nil {
				return 0, nil, false, fmt.Errorf("listen %s %q: host must be a numeric IP address (resolve names first): %w", network, address, err)
			}
		}
		ip = ip.Unmap()
		switch {
		case ip.Is4() && network != "tcp6":
			domain = unix.AF_INET
		case ip.Is6() && network != "tcp4":
			domain = unix.AF_INET6
		default:
			return 0, nil, false, fmt.Errorf("listen %s %q: address family does not match the network", network, address)
		}
		sa, err := InetSockaddr(netip.AddrPortFrom(ip, uint16(pn)))
		if err != nil {
			return 0, nil, false, fmt.Errorf("listen %s %q: %w", network, address, err)
		}
		return domain, sa, network == "tcp6", nil
	case "unix":
		if address == "" {
			return 0, nil, false, errors.New("listen unix: empty path")
		}
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: address}, false, nil
	}
	return 0, nil, false, fmt.Errorf("listen: unknown network %q (tcp, tcp4, tcp6, unix)", network)
}

// AdoptListener takes over fd, a listening stream socket the caller made:
// it checks that fd listens, and makes it non-blocking and close-on-exec.
// isUnix tells a unix socket from an inet one.
func AdoptListener(fd int) (isUnix bool, err error) {
	if fd < 0 {
		return false, fmt.Errorf("bad descriptor %d", fd)
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return false, fmt.Errorf("descriptor %d: not a socket: %w", fd, err)
	}
	if v == 0 {
		return false, fmt.Errorf("descriptor %d: socket is not listening", fd)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return false, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	unix.CloseOnExec(fd)
	return Domain(fd) == unix.AF_UNIX, nil
}
