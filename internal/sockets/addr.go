package sockets

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// InetSockaddr converts an IP address and port to the kernel's form: an
// IPv4 address (not an IPv4-mapped IPv6 one) as sockaddr_in, the rest as
// sockaddr_in6, whose zone is an interface name or number.
func InetSockaddr(ap netip.AddrPort) (unix.Sockaddr, error) {
	ip := ap.Addr()
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		if n, err := strconv.Atoi(z); err == nil {
			sa.ZoneId = uint32(n)
		} else {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, fmt.Errorf("unknown zone %q", z)
			}
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, nil
}

// FromSockaddr decodes a kernel address: an inet one as ap (its zone the
// interface's name, or its number when no interface has it), a unix one
// as path with isUnix set (path "" for an unnamed socket). ok is false for
// other kinds of address, and nil.
func FromSockaddr(sa unix.Sockaddr) (ap netip.AddrPort, path string, isUnix, ok bool) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), "", false, true
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				ip = ip.WithZone(ifi.Name)
			} else {
				ip = ip.WithZone(strconv.Itoa(int(sa.ZoneId)))
			}
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port)), "", false, true
	case *unix.SockaddrUnix:
		return netip.AddrPort{}, sa.Name, true, true
	}
	return netip.AddrPort{}, "", false, false
}

// NetAddr converts a kernel address of a stream socket to a net.Addr: a
// *net.TCPAddr, or a *net.UnixAddr (network "unix", an empty Name for an
// unnamed socket); nil for other kinds.
func NetAddr(sa unix.Sockaddr) net.Addr {
	ap, path, isUnix, ok := FromSockaddr(sa)
	switch {
	case !ok:
		return nil
	case isUnix:
		return &net.UnixAddr{Name: path, Net: "unix"}
	}
	return net.TCPAddrFromAddrPort(ap)
}
