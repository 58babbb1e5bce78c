package tsocket

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// openListener makes a non-blocking listening socket.
func openListener(network, address string, backlog int) (*listener, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	v6only := false
	tcp := true
	switch network {
	case "tcp", "tcp4", "tcp6":
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("tsocket: listen %s %q: %w", network, address, err)
		}
		pn, err := net.LookupPort("tcp", port)
		if err != nil {
			return nil, fmt.Errorf("tsocket: listen %s %q: bad port: %w", network, address, err)
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
				return nil, fmt.Errorf("tsocket: listen %s %q: host must be a numeric IP address (resolve names first): %w", network, address, err)
			}
		}
		ip = ip.Unmap()
		switch {
		case ip.Is4() && network != "tcp6":
			a := &unix.SockaddrInet4{Port: pn}
			a.Addr = ip.As4()
			sa = a
		case ip.Is6() && network != "tcp4":
			family = unix.AF_INET6
			a := &unix.SockaddrInet6{Port: pn}
			a.Addr = ip.As16()
			sa = a
			v6only = network == "tcp6"
		default:
			return nil, fmt.Errorf("tsocket: listen %s %q: address family does not match the network", network, address)
		}
	case "unix":
		if address == "" {
			return nil, errors.New("tsocket: listen unix: empty path")
		}
		family, tcp = unix.AF_UNIX, false
		sa = &unix.SockaddrUnix{Name: address}
	default:
		return nil, fmt.Errorf("tsocket: listen: unknown network %q (tcp, tcp4, tcp6, unix)", network)
	}
	fd, err := socketCloexec(family, unix.SOCK_STREAM)
	if err != nil {
		return nil, opErrNet("socket", network, err)
	}
	fail := func(op string, err error) (*listener, error) {
		unix.Close(fd)
		return nil, opErrNet(op, network, err)
	}
	if tcp {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
		if family == unix.AF_INET6 {
			v := 0
			if v6only {
				v = 1
			}
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	ln := &listener{fd: fd, tcp: tcp}
	if !tcp {
		ln.path = address
	}
	if lsa, err := unix.Getsockname(fd); err == nil {
		ln.addr = sockaddrToAddr(lsa)
	}
	return ln, nil
}

func opErrNet(op, network string, err error) error {
	return &net.OpError{Op: op, Net: network, Err: fmt.Errorf("%s: %w", op, err)}
}

// adoptListener takes a listening socket the caller made.
func adoptListener(fd int) (*listener, error) {
	if fd < 0 {
		return nil, fmt.Errorf("tsocket: ListenFD: bad descriptor %d", fd)
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return nil, fmt.Errorf("tsocket: ListenFD %d: not a socket: %w", fd, err)
	}
	if v == 0 {
		return nil, fmt.Errorf("tsocket: ListenFD %d: socket is not listening", fd)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("tsocket: ListenFD %d: %w", fd, err)
	}
	unix.CloseOnExec(fd)
	ln := &listener{fd: fd}
	if lsa, err := unix.Getsockname(fd); err == nil {
		ln.addr = sockaddrToAddr(lsa)
		_, isUnix := lsa.(*unix.SockaddrUnix)
		ln.tcp = !isUnix
	}
	return ln, nil
}
