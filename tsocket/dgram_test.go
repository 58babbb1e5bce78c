package tsocket

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

func TestUDP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		lo, _ := InetAddress("ipv4", "127.0.0.1", 0)
		srv, err := NewUDP(s, lo, Address{})
		if err != nil {
			t.Fatal(err)
		}
		sa, _ := srv.LocalAddr()
		cli, err := NewUDP(s, lo, sa)
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := cli.LocalAddr()
		r := srv.RecvFrom(s, make([]byte, 100))
		if _, err := wait(t, ev, srv.RecvFrom(s, nil)); !errors.Is(err, ErrBusy) {
			t.Errorf("second RecvFrom: %v", err)
		}
		if n := must(t, ev, cli.SendTo(s, []byte("ping"), Address{})); n != 4 {
			t.Errorf("SendTo = %d", n)
		}
		d := must(t, ev, r)
		if string(d.Data) != "ping" || d.From != ca {
			t.Errorf("got %q from %v, want ping from %v", d.Data, d.From, ca)
		}
		// The answer goes to the sender's address; nil buffer allocates.
		must(t, ev, srv.SendTo(s, []byte("pong"), d.From))
		back := must(t, ev, cli.RecvFrom(s, nil))
		if string(back.Data) != "pong" || back.From != sa {
			t.Errorf("reply %q from %v", back.Data, back.From)
		}
		// Truncation is an error, and the next datagram is intact.
		must(t, ev, cli.SendTo(s, []byte("0123456789"), Address{}))
		must(t, ev, cli.SendTo(s, []byte("ok"), Address{}))
		if _, err := wait(t, ev, srv.RecvFrom(s, make([]byte, 4))); !errors.Is(err, ErrTruncated) {
			t.Errorf("truncated datagram: %v, want ErrTruncated", err)
		}
		if d := must(t, ev, srv.RecvFrom(s, make([]byte, 4))); string(d.Data) != "ok" {
			t.Errorf("after truncation got %q", d.Data)
		}
		if _, err := wait(t, ev, srv.RecvFrom(s, []byte{})); !errors.Is(err, ErrInvalid) {
			t.Errorf("empty buffer: %v", err)
		}
		// Queued sends keep their order.
		q := s.NewQueue("udp")
		var sends []*tevent.Req[int]
		for _, m := range []string{"a", "b", "c"} {
			sends = append(sends, SendToQueue(s, q, cli, []byte(m), Address{}))
		}
		for _, w := range sends {
			must(t, ev, w)
		}
		for _, want := range []string{"a", "b", "c"} {
			if d := must(t, ev, srv.RecvFrom(s, nil)); string(d.Data) != want {
				t.Errorf("queued datagram %q, want %q", d.Data, want)
			}
		}
		// Cancel, then free with a receive pending.
		r = srv.RecvFrom(s, nil)
		if !r.Cancel() {
			t.Error("Cancel of a pending receive returned false")
		}
		if _, err := wait(t, ev, r); !errors.Is(err, tevent.ErrCancelled) {
			t.Errorf("cancelled receive: %v", err)
		}
		r = srv.RecvFrom(s, nil)
		srv.Free()
		if _, err := wait(t, ev, r); !errors.Is(err, net.ErrClosed) {
			t.Errorf("receive after Free: %v", err)
		}
		if _, err := wait(t, ev, srv.SendTo(s, []byte("x"), ca)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("send after Free: %v", err)
		}
		cli.Free()
		v6, _ := InetAddress("ipv6", "::1", 0)
		if _, err := NewUDP(s, lo, v6); !errors.Is(err, ErrInvalid) {
			t.Errorf("mixed families: %v", err)
		}
	})
}

func TestUDPBroadcastAndUnixDgram(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		any4, _ := InetAddress("ipv4", "", 0)
		b, err := NewUDPBroadcast(s, any4)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := unix.GetsockoptInt(b.Fd(), unix.SOL_SOCKET, unix.SO_BROADCAST); err != nil || v == 0 {
			t.Errorf("SO_BROADCAST = %d, %v", v, err)
		}
		b.Free()

		dir := t.TempDir()
		pa, _ := UnixAddress(filepath.Join(dir, "a"))
		pb, _ := UnixAddress(filepath.Join(dir, "b"))
		x, err := NewUnixDgram(s, pa, Address{})
		if err != nil {
			t.Fatal(err)
		}
		y, err := NewUnixDgram(s, pb, Address{})
		if err != nil {
			t.Fatal(err)
		}
		must(t, ev, y.SendTo(s, []byte("to a"), pa))
		d := must(t, ev, x.RecvFrom(s, nil))
		if string(d.Data) != "to a" || d.From != pb {
			t.Errorf("unix datagram %q from %v", d.Data, d.From)
		}
		if p, err := x.Pending(); err != nil || p != 0 {
			t.Errorf("Pending = %d, %v", p, err)
		}
		x.Free()
		y.Free()
		lo, _ := InetAddress("ipv4", "127.0.0.1", 0)
		if _, err := NewUnixDgram(s, lo, Address{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("unix dgram on an inet address: %v", err)
		}
		// A socket pair whose peer never reads: sends stay pending.
		p, q, err := DgramPair(s)
		if err != nil {
			t.Fatal(err)
		}
		var w *tevent.Req[int]
		for i := 0; i < 100000; i++ {
			w = p.SendTo(s, make([]byte, 1000), Address{})
			if w.IsInProgress() {
				break
			}
			must(t, ev, w)
		}
		if !w.IsInProgress() {
			t.Fatal("peer never reads, yet sends never blocked")
		}
		if _, err := wait(t, ev, p.SendTo(s, []byte("x"), Address{})); !errors.Is(err, ErrBusy) {
			t.Errorf("second send: %v", err)
		}
		// Reading frees room: the pending send goes out.
		buf := make([]byte, 2000)
		drive(t, ev, func() bool {
			if w.IsInProgress() {
				if d := must(t, ev, q.RecvFrom(s, buf)); len(d.Data) != 1000 {
					t.Fatalf("datagram of %d bytes", len(d.Data))
				}
			}
			return !w.IsInProgress()
		})
		must(t, ev, w)
		p.Free()
		q.Free()
		// Existing descriptors: stream socket refused.
		fds := rawPair(t)
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		if _, err := NewDgram(s, fds[0]); !errors.Is(err, ErrNotSocket) {
			t.Errorf("stream fd as datagram socket: %v", err)
		}
	})
}
