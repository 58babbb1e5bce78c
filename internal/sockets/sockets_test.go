package sockets

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: time.Second}
	var got []time.Duration
	for i := 0; i < 9; i++ {
		got = append(got, b.Next())
	}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1280, 1280}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("pause %d: %v, want %v", i, got[i], want[i]*time.Millisecond)
		}
	}
	b.Reset()
	if d := b.Next(); d != 10*time.Millisecond {
		t.Fatalf("after Reset: %v", d)
	}
	fixed := Backoff{Min: time.Second, Max: time.Second}
	for i := 0; i < 3; i++ {
		if d := fixed.Next(); d != time.Second {
			t.Fatalf("fixed pause %d: %v", i, d)
		}
	}
}

func TestSockaddrRoundTrip(t *testing.T) {
	for _, s := range []string{"127.0.0.1:445", "[::1]:80", "[::ffff:1.2.3.4]:1", "[fe80::1%7]:9"} {
		ap := netip.MustParseAddrPort(s)
		sa, err := InetSockaddr(ap)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		back, _, isUnix, ok := FromSockaddr(sa)
		if !ok || isUnix {
			t.Fatalf("%s: FromSockaddr ok=%v unix=%v", s, ok, isUnix)
		}
		// A zone number with no interface comes back as the number; one
		// with an interface comes back as its name.
		if back.Addr().WithZone("") != ap.Addr().WithZone("") || back.Port() != ap.Port() {
			t.Errorf("%s: round trip gave %v", s, back)
		}
	}
	if _, err := InetSockaddr(netip.MustParseAddrPort("[fe80::1%no-such-if0]:1")); err == nil {
		t.Error("unknown zone name accepted")
	}
	if a := NetAddr(&unix.SockaddrUnix{Name: "/x"}); a.String() != "/x" || a.Network() != "unix" {
		t.Errorf("NetAddr(unix /x) = %v %v", a.Network(), a)
	}
	if _, _, _, ok := FromSockaddr(nil); ok {
		t.Error("FromSockaddr(nil) ok")
	}
}

// TestListenAcceptOpError listens, accepts, and checks the errors: EAGAIN
// with nothing waiting, a *net.OpError wrapping the errno otherwise.
func TestListenAcceptOpError(t *testing.T) {
	domain, sa, v6only, err := ParseListenAddr("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Listen("tcp4", domain, sa, v6only, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := Accept(fd); err != unix.EAGAIN {
		t.Fatalf("Accept on an empty queue: %v, want EAGAIN", err)
	}
	lsa, _ := unix.Getsockname(fd)
	if _, err := Listen("tcp4", domain, lsa, false, 0); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen on the same port: %v, want EADDRINUSE", err)
	} else if oe := new(net.OpError); !errors.As(err, &oe) || oe.Op != "listen" || oe.Source == nil {
		t.Fatalf("second Listen: %#v, want a *net.OpError naming the address", err)
	}
	if _, err := AdoptListener(fd); err != nil {
		t.Fatalf("AdoptListener on a listening socket: %v", err)
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, err := AdoptListener(int(r.Fd())); err == nil {
		t.Error("AdoptListener on a pipe succeeded")
	}
	for _, c := range [][2]string{{"tcp", "localhost:80"}, {"udp", "127.0.0.1:0"}, {"tcp4", "[::1]:0"}, {"unix", ""}} {
		if _, _, _, err := ParseListenAddr(c[0], c[1]); err == nil {
			t.Errorf("ParseListenAddr(%q, %q) succeeded", c[0], c[1])
		}
	}
}
