package tsocket

import (
	"errors"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gotevent/tevent"
)

func TestConnectAcceptTCPAndUnix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		unixPath, _ := UnixAddress(filepath.Join(t.TempDir(), "s"))
		v4, _ := InetAddress("ipv4", "127.0.0.1", 0)
		for _, la := range []Address{v4, unixPath} {
			l, err := Listen(s, la, 0)
			if err != nil {
				t.Fatal(err)
			}
			if la.IsInet() && l.Addr().Port() == 0 {
				t.Errorf("Addr() kept port 0")
			}
			acc := l.Accept(s)
			if _, err := wait(t, ev, l.Accept(s)); !errors.Is(err, ErrBusy) {
				t.Errorf("second Accept: %v, want ErrBusy", err)
			}
			var local Address
			if la.IsInet() {
				local, _ = InetAddress("ipv4", "127.0.0.1", 0)
			}
			c := must(t, ev, Connect(s, local, l.Addr()))
			srv := must(t, ev, acc)
			must(t, ev, c.Writev(s, []byte("hi")))
			got := make([]byte, 2)
			must(t, ev, srv.Readv(s, got))
			if string(got) != "hi" {
				t.Errorf("%v: got %q", la, got)
			}
			if la.IsInet() {
				ca, _ := c.LocalAddr()
				sa, _ := srv.RemoteAddr()
				if ca != sa || ca.IsZero() {
					t.Errorf("client local %v != server remote %v", ca, sa)
				}
			}
			// Freeing the listener finishes a pending accept.
			acc = l.Accept(s)
			l.Free()
			if _, err := wait(t, ev, acc); !errors.Is(err, net.ErrClosed) {
				t.Errorf("accept after listener free: %v", err)
			}
			c.Free()
			srv.Free()
		}
	})
}

func TestConnectErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		// A port nobody listens on: bind one and close it.
		la, _ := InetAddress("ipv4", "127.0.0.1", 0)
		l, err := Listen(s, la, 0)
		if err != nil {
			t.Fatal(err)
		}
		dead := l.Addr()
		l.Free()
		_, err = wait(t, ev, Connect(s, Address{}, dead))
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) || oe.Op != "dial" {
			t.Errorf("connect refused: %v", err)
		}
		missing, _ := UnixAddress(filepath.Join(t.TempDir(), "none"))
		if _, err := wait(t, ev, Connect(s, Address{}, missing)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("unix connect to a missing path: %v", err)
		}
		if _, err := wait(t, ev, Connect(s, Address{}, Address{})); !errors.Is(err, ErrBadAddress) {
			t.Errorf("connect to no address: %v", err)
		}
		v6, _ := InetAddress("ipv6", "::1", 1)
		if _, err := wait(t, ev, Connect(s, la, v6)); !errors.Is(err, ErrInvalid) {
			t.Errorf("mixed families: %v", err)
		}
		// A pending connect that is cancelled closes its socket (the fd
		// count of the subtest checks it). 192.0.2.1 is TEST-NET: no answer.
		far, _ := InetAddress("ipv4", "192.0.2.1", 445)
		c := Connect(s, Address{}, far)
		if c.IsInProgress() {
			if !c.Cancel() {
				t.Error("Cancel of a pending connect returned false")
			}
			if _, err := wait(t, ev, c); !errors.Is(err, tevent.ErrCancelled) {
				t.Errorf("cancelled connect: %v", err)
			}
		} else {
			c.Free()
		}
		// Listening on an address in use.
		l2, err := Listen(s, la, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Free()
		p := filepath.Join(t.TempDir(), "u")
		ua, _ := UnixAddress(p)
		l3, err := Listen(s, ua, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l3.Free()
		if _, err := Listen(s, ua, 0); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("listen on a used path: %v", err)
		}
	})
}
