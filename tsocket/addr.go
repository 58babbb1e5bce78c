package tsocket

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

type addrKind uint8

const (
	kindNone addrKind = iota
	kindInet
	kindUnix
)

// Address is a socket address (tsocket_address): an IPv4 or IPv6 address
// with a port, or a unix socket path. It is a small comparable value; the
// zero Address is "no address" (for example, no local bind in Connect).
//
// Addresses are made from numeric strings only: a host name is refused
// with ErrHostName, because resolving one would block the loop. Resolve
// names first (on a pool goroutine with tevent.Go, or before the loop
// starts) and pass the numeric result.
type Address struct {
	ap   netip.AddrPort
	path string
	kind addrKind
}

// InetAddress returns the IP address host with port (Samba's
// tsocket_address_inet_from_strings). family is "ip" (either version),
// "ipv4" or "ipv6", in any case; an empty host is the any address
// (0.0.0.0, or :: for "ipv6"). host must be numeric; an IPv6 host may
// carry a zone ("fe80::1%eth0"). Bad input fails with ErrBadAddress, a host
// name with ErrHostName as well.
func InetAddress(family, host string, port int) (Address, error) {
	fam, err := parseFamily(family)
	if err != nil {
		return Address{}, err
	}
	if port < 0 || port > 65535 {
		return Address{}, fmt.Errorf("%w: port %d out of range", ErrBadAddress, port)
	}
	var ip netip.Addr
	if host == "" {
		if fam == 6 {
			ip = netip.IPv6Unspecified()
		} else {
			ip = netip.IPv4Unspecified()
		}
	} else {
		ip, err = netip.ParseAddr(host)
		if err != nil {
			if looksLikeHostName(host) {
				return Address{}, fmt.Errorf("%w: %w: %q", ErrBadAddress, ErrHostName, host)
			}
			return Address{}, fmt.Errorf("%w: %q is not a numeric IP address", ErrBadAddress, host)
		}
	}
	switch {
	case fam == 4 && !ip.Is4():
		return Address{}, fmt.Errorf("%w: %q is not an IPv4 address", ErrBadAddress, host)
	case fam == 6 && !ip.Is6():
		return Address{}, fmt.Errorf("%w: %q is not an IPv6 address", ErrBadAddress, host)
	}
	return Address{ap: netip.AddrPortFrom(ip, uint16(port)), kind: kindInet}, nil
}

// ParseInet parses "host", "host:port", "[v6]" or "[v6]:port" (Samba's
// tsocket_address_inet_from_hostport_strings); a bare IPv6 address
// without brackets is a host without port. defaultPort is used when the
// string has no port. family and host are as for InetAddress.
func ParseInet(family, hostport string, defaultPort int) (Address, error) {
	host, port := hostport, defaultPort
	switch {
	case strings.HasPrefix(hostport, "["):
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return Address{}, fmt.Errorf("%w: missing ']' in %q", ErrBadAddress, hostport)
		}
		host = hostport[1:end]
		rest := hostport[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return Address{}, fmt.Errorf("%w: junk after ']' in %q", ErrBadAddress, hostport)
			}
			p, err := parsePort(rest[1:])
			if err != nil {
				return Address{}, err
			}
			port = p
		}
		if !strings.Contains(host, ":") {
			return Address{}, fmt.Errorf("%w: brackets around a non-IPv6 host in %q", ErrBadAddress, hostport)
		}
	case strings.Count(hostport, ":") == 1:
		i := strings.IndexByte(hostport, ':')
		host = hostport[:i]
		p, err := parsePort(hostport[i+1:])
		if err != nil {
			return Address{}, err
		}
		port = p
	}
	return InetAddress(family, host, port)
}

// UnixAddress returns the unix socket address path (Samba's
// tsocket_address_unix_from_path). An empty path is refused, as is one too
// long for sun_path, with ErrBadAddress.
func UnixAddress(path string) (Address, error) {
	var raw unix.RawSockaddrUnix
	if path == "" {
		return Address{}, fmt.Errorf("%w: empty unix socket path", ErrBadAddress)
	}
	if len(path) >= len(raw.Path) || strings.IndexByte(path, 0) >= 0 {
		return Address{}, fmt.Errorf("%w: unix socket path %q too long or with a NUL byte", ErrBadAddress, path)
	}
	return Address{path: path, kind: kindUnix}, nil
}

// AddressFromNetAddr converts a *net.TCPAddr, *net.UDPAddr, *net.IPAddr or
// *net.UnixAddr (as returned by Go's net package) to an Address.
func AddressFromNetAddr(a net.Addr) (Address, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return fromAddrPort(a.AddrPort()), nil
	case *net.UDPAddr:
		return fromAddrPort(a.AddrPort()), nil
	case *net.IPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return Address{}, fmt.Errorf("%w: %v", ErrBadAddress, a)
		}
		return fromAddrPort(netip.AddrPortFrom(ip.Unmap().WithZone(a.Zone), 0)), nil
	case *net.UnixAddr:
		return UnixAddress(a.Name)
	}
	return Address{}, fmt.Errorf("%w: unsupported net.Addr %T", ErrBadAddress, a)
}

func fromAddrPort(ap netip.AddrPort) Address {
	ip := ap.Addr()
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	return Address{ap: netip.AddrPortFrom(ip, ap.Port()), kind: kindInet}
}

func parseFamily(family string) (int, error) {
	switch strings.ToLower(family) {
	case "ip":
		return 0, nil
	case "ipv4":
		return 4, nil
	case "ipv6":
		return 6, nil
	}
	return 0, fmt.Errorf("%w: unknown address family %q (want \"ip\", \"ipv4\" or \"ipv6\")", ErrBadAddress, family)
}

func parsePort(s string) (int, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: bad port %q", ErrBadAddress, s)
	}
	return int(p), nil
}

// looksLikeHostName reports whether s is made of the characters of a DNS
// name and has a letter in it, so that the error can say to resolve it.
func looksLikeHostName(s string) bool {
	letter := false
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			letter = true
		case c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return letter
}

// IsZero reports whether a is the zero Address (no address).
func (a Address) IsZero() bool { return a.kind == kindNone }

// IsInet reports whether a is an IP address with a port.
func (a Address) IsInet() bool { return a.kind == kindInet }

// IsInetFamily reports whether a is an inet address of family
// (tsocket_address_is_inet): "ip" matches IPv4 and IPv6, "ipv4" and
// "ipv6" only their own (case-insensitive, as in Samba); any other family,
// or an address that is not inet, gives false. An IPv4-mapped IPv6
// address is IPv6.
func (a Address) IsInetFamily(family string) bool {
	if a.kind != kindInet {
		return false
	}
	switch strings.ToLower(family) {
	case "ip":
		return true
	case "ipv4":
		return a.ap.Addr().Is4()
	case "ipv6":
		return a.ap.Addr().Is6()
	}
	return false
}

// IsUnix reports whether a is a unix socket path.
func (a Address) IsUnix() bool { return a.kind == kindUnix }

// IP returns the IP address of an inet address (the zero netip.Addr
// otherwise).
func (a Address) IP() netip.Addr { return a.ap.Addr() }

// Port returns the port of an inet address (0 otherwise).
func (a Address) Port() int { return int(a.ap.Port()) }

// AddrPort returns an inet address as a netip.AddrPort.
func (a Address) AddrPort() netip.AddrPort { return a.ap }

// WithPort returns a copy of an inet address with another port
// (tsocket_address_inet_set_port).
func (a Address) WithPort(port int) (Address, error) {
	if a.kind != kindInet {
		return Address{}, fmt.Errorf("%w: not an inet address", ErrBadAddress)
	}
	if port < 0 || port > 65535 {
		return Address{}, fmt.Errorf("%w: port %d out of range", ErrBadAddress, port)
	}
	a.ap = netip.AddrPortFrom(a.ap.Addr(), uint16(port))
	return a, nil
}

// Path returns the path of a unix address ("" otherwise).
func (a Address) Path() string { return a.path }

// String prints the address the way Samba's tsocket_address_string does:
// "ipv4:1.2.3.4:445", "ipv6:::1:445" (no brackets, as Samba prints it),
// "unix:/path"; the zero Address prints as "none".
func (a Address) String() string {
	switch a.kind {
	case kindInet:
		prefix := "ipv4:"
		if a.ap.Addr().Is6() {
			prefix = "ipv6:"
		}
		return prefix + a.ap.Addr().String() + ":" + strconv.Itoa(int(a.ap.Port()))
	case kindUnix:
		return "unix:" + a.path
	}
	return "none"
}

// NetAddr returns the address as a net.Addr: a *net.TCPAddr for an inet
// address, a *net.UnixAddr (network "unix") for a path, nil for the zero
// Address.
func (a Address) NetAddr() net.Addr {
	switch a.kind {
	case kindInet:
		return net.TCPAddrFromAddrPort(a.ap)
	case kindUnix:
		return &net.UnixAddr{Name: a.path, Net: "unix"}
	}
	return nil
}

// UDPAddr returns an inet address as a *net.UDPAddr (nil otherwise).
func (a Address) UDPAddr() *net.UDPAddr {
	if a.kind != kindInet {
		return nil
	}
	return net.UDPAddrFromAddrPort(a.ap)
}

// sockaddr converts a to the kernel's form.
func (a Address) sockaddr() (unix.Sockaddr, error) {
	switch a.kind {
	case kindInet:
		sa, err := sockets.InetSockaddr(a.ap)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadAddress, err)
		}
		return sa, nil
	case kindUnix:
		return &unix.SockaddrUnix{Name: a.path}, nil
	}
	return nil, fmt.Errorf("%w: no address", ErrBadAddress)
}

// domain returns the socket domain for a.
func (a Address) domain() int {
	switch {
	case a.kind == kindUnix:
		return unix.AF_UNIX
	case a.ap.Addr().Is4():
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// fromSockaddr converts a kernel address; an unnamed unix socket gives the
// zero Address.
func fromSockaddr(sa unix.Sockaddr) (Address, error) {
	if sa == nil {
		return Address{}, nil
	}
	ap, path, isUnix, ok := sockets.FromSockaddr(sa)
	switch {
	case !ok:
		return Address{}, fmt.Errorf("%w: unsupported socket address %T", ErrBadAddress, sa)
	case !isUnix:
		return Address{ap: ap, kind: kindInet}, nil
	case path == "":
		return Address{}, nil
	}
	return Address{path: path, kind: kindUnix}, nil
}
