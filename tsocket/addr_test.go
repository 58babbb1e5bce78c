package tsocket

import (
	"errors"
	"net"
	"testing"
)

func TestAddressParse(t *testing.T) {
	good := []struct {
		fam, in string
		port    int
		want    string
	}{
		{"ip", "1.2.3.4", 445, "ipv4:1.2.3.4:445"},
		{"IPv4", "1.2.3.4", 0, "ipv4:1.2.3.4:0"},
		{"ipv6", "::1", 445, "ipv6:::1:445"},
		{"ip", "fe80::1", 139, "ipv6:fe80::1:139"},
		{"ip", "", 80, "ipv4:0.0.0.0:80"},
		{"ipv6", "", 80, "ipv6::::80"},
	}
	for _, c := range good {
		a, err := InetAddress(c.fam, c.in, c.port)
		if err != nil {
			t.Errorf("InetAddress(%q, %q, %d): %v", c.fam, c.in, c.port, err)
			continue
		}
		if a.String() != c.want {
			t.Errorf("InetAddress(%q, %q, %d) = %s, want %s", c.fam, c.in, c.port, a, c.want)
		}
		if !a.IsInet() || a.IsUnix() || a.IsZero() || a.Port() != c.port {
			t.Errorf("%s: wrong kind or port", a)
		}
	}
	hostports := []struct{ in, want string }{
		{"1.2.3.4:445", "ipv4:1.2.3.4:445"},
		{"1.2.3.4", "ipv4:1.2.3.4:99"},
		{"[::1]:445", "ipv6:::1:445"},
		{"[::1]", "ipv6:::1:99"},
		{"::1", "ipv6:::1:99"},
		{":8080", "ipv4:0.0.0.0:8080"},
	}
	for _, c := range hostports {
		a, err := ParseInet("ip", c.in, 99)
		if err != nil || a.String() != c.want {
			t.Errorf("ParseInet(%q) = %v, %v; want %s", c.in, a, err, c.want)
		}
	}
	bad := []struct{ fam, in string }{
		{"ipx", "1.2.3.4"}, {"ipv4", "::1"}, {"ipv6", "1.2.3.4"}, {"ip", "1.2.3.4.5"},
		{"ip", "1.2.3.4:99999"}, {"ip", "1.2.3.4:x"}, {"ip", "[::1"}, {"ip", "[::1]x"},
		{"ip", "[1.2.3.4]:1"}, {"ip", "1.2.3.4%"}, {"ip", "::1%"},
	}
	for _, c := range bad {
		if a, err := ParseInet(c.fam, c.in, 0); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseInet(%q, %q) = %v, %v; want ErrBadAddress", c.fam, c.in, a, err)
		}
	}
	if _, err := InetAddress("ip", "1.2.3.4", -1); !errors.Is(err, ErrBadAddress) {
		t.Errorf("negative port: %v", err)
	}
	if _, err := InetAddress("ip", "1.2.3.4", 65536); !errors.Is(err, ErrBadAddress) {
		t.Errorf("port 65536: %v", err)
	}
	for _, name := range []string{"localhost", "example.com", "smb-server"} {
		_, err := ParseInet("ip", name+":445", 0)
		if !errors.Is(err, ErrHostName) || !errors.Is(err, ErrBadAddress) {
			t.Errorf("host name %q: %v, want ErrHostName", name, err)
		}
	}
}

func TestAddressUnixAndNetAddr(t *testing.T) {
	u, err := UnixAddress("/tmp/sock")
	if err != nil || u.String() != "unix:/tmp/sock" || !u.IsUnix() || u.Path() != "/tmp/sock" {
		t.Fatalf("UnixAddress: %v %v", u, err)
	}
	if ua, ok := u.NetAddr().(*net.UnixAddr); !ok || ua.Name != "/tmp/sock" || ua.Network() != "unix" {
		t.Errorf("unix NetAddr = %#v", u.NetAddr())
	}
	for _, p := range []string{"", string(make([]byte, 200)), "a\x00b"} {
		if _, err := UnixAddress(p); !errors.Is(err, ErrBadAddress) {
			t.Errorf("UnixAddress(%q): %v", p, err)
		}
	}
	a, _ := InetAddress("ip", "::1", 445)
	ta, ok := a.NetAddr().(*net.TCPAddr)
	if !ok || ta.String() != "[::1]:445" {
		t.Errorf("TCP NetAddr = %v", a.NetAddr())
	}
	if a.UDPAddr().String() != "[::1]:445" {
		t.Errorf("UDPAddr = %v", a.UDPAddr())
	}
	back, err := AddressFromNetAddr(ta)
	if err != nil || back != a {
		t.Errorf("AddressFromNetAddr(%v) = %v, %v", ta, back, err)
	}
	b, err := AddressFromNetAddr(&net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 53})
	if err != nil || b.String() != "ipv4:10.0.0.1:53" {
		t.Errorf("from UDPAddr: %v %v", b, err)
	}
	if _, err := AddressFromNetAddr(nil); !errors.Is(err, ErrBadAddress) {
		t.Errorf("nil net.Addr: %v", err)
	}
	p, err := a.WithPort(139)
	if err != nil || p.Port() != 139 || a.Port() != 445 {
		t.Errorf("WithPort: %v %v", p, err)
	}
	if _, err := u.WithPort(1); !errors.Is(err, ErrBadAddress) {
		t.Errorf("WithPort on unix: %v", err)
	}
	var z Address
	if !z.IsZero() || z.String() != "none" || z.NetAddr() != nil {
		t.Errorf("zero address: %v", z)
	}
}
