package tsocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

func TestStreamReadvWritev(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		s := &ev.Scope
		w := a.Writev(s, []byte("hel"), nil, []byte("lo, "), []byte("world"))
		h, m := make([]byte, 5), make([]byte, 7)
		r := b.Readv(s, h, nil, m)
		if n := must(t, ev, w); n != 12 {
			t.Errorf("writev wrote %d", n)
		}
		if n := must(t, ev, r); n != 12 || string(h)+string(m) != "hello, world" {
			t.Errorf("readv: %d %q %q", n, h, m)
		}
		// Readv fills exactly: bytes beyond the vectors stay for the next read.
		must(t, ev, a.Writev(s, []byte("abcdef")))
		x := make([]byte, 2)
		must(t, ev, b.Readv(s, x))
		if p, err := b.Pending(); err != nil || p != 4 {
			t.Errorf("Pending = %d, %v; want 4", p, err)
		}
		y := make([]byte, 4)
		must(t, ev, b.Readv(s, y))
		if string(x)+string(y) != "abcdef" {
			t.Errorf("got %q %q", x, y)
		}
	})
}

func TestStreamBusyAndInvalid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		s := &ev.Scope
		r1 := b.Readv(s, make([]byte, 3))
		r2 := b.Readv(s, make([]byte, 3))
		if _, err := wait(t, ev, r2); !errors.Is(err, ErrBusy) {
			t.Errorf("second readv: %v, want ErrBusy", err)
		}
		if _, err := wait(t, ev, b.Readv(s, nil, []byte{})); !errors.Is(err, ErrInvalid) {
			t.Errorf("empty readv: %v, want ErrInvalid", err)
		}
		if _, err := wait(t, ev, b.Disconnect(s)); !errors.Is(err, ErrBusy) {
			t.Errorf("disconnect with a read pending: %v, want ErrBusy", err)
		}
		if n := must(t, ev, a.Writev(s)); n != 0 {
			t.Errorf("empty writev = %d", n)
		}
		must(t, ev, a.Writev(s, []byte("xyz")))
		if n := must(t, ev, r1); n != 3 {
			t.Errorf("first readv = %d", n)
		}
		// A peer that never reads: a big write stays pending, a second is busy.
		big := make([]byte, 8<<20)
		w1 := a.Writev(s, big)
		if !w1.IsInProgress() {
			t.Fatal("8 MiB write finished without a reader")
		}
		if _, err := wait(t, ev, a.Writev(s, []byte("x"))); !errors.Is(err, ErrBusy) {
			t.Errorf("second writev: %v, want ErrBusy", err)
		}
		if err := a.CloseWrite(); !errors.Is(err, ErrBusy) {
			t.Errorf("CloseWrite with a write pending: %v", err)
		}
		if _, err := wait(t, ev, a.Disconnect(s)); !errors.Is(err, ErrBusy) {
			t.Errorf("disconnect with a write pending: %v, want ErrBusy", err)
		}
		// The writer gives up: half written, the stream is broken for writes.
		w1.SetEndtime(ev, time.Now().Add(20*time.Millisecond))
		if _, err := wait(t, ev, w1); !errors.Is(err, tevent.ErrTimeout) {
			t.Errorf("stuck write: %v, want ErrTimeout", err)
		}
		if _, err := wait(t, ev, a.Writev(s, []byte("x"))); !errors.Is(err, ErrBroken) {
			t.Errorf("write after a half-done write timed out: %v, want ErrBroken", err)
		}
		must(t, ev, a.Disconnect(s))
		if _, err := wait(t, ev, a.Readv(s, make([]byte, 1))); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after disconnect: %v, want net.ErrClosed", err)
		}
		if a.Fd() != -1 {
			t.Errorf("Fd after disconnect = %d", a.Fd())
		}
	})
}

func TestStreamLargeWriteChunkedReader(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		a, b := pair(t, ev)
		s := &ev.Scope
		unix.SetsockoptInt(a.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(i * 7)
		}
		w := a.Writev(s, data[:1000], data[1000:])
		got := make([]byte, 0, len(data))
		buf := make([]byte, 3000)
		for len(got) < len(data) {
			n := min(len(buf), len(data)-len(got))
			must(t, ev, b.Readv(s, buf[:n]))
			got = append(got, buf[:n]...)
		}
		if n := must(t, ev, w); n != len(data) || !bytes.Equal(got, data) {
			t.Fatalf("large write: n=%d equal=%v", n, bytes.Equal(got, data))
		}
	})
}

func TestStreamEOF(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		a, b := pair(t, ev)
		a.Free()
		if _, err := wait(t, ev, b.Readv(s, make([]byte, 4))); err != io.EOF {
			t.Errorf("EOF before any byte: %v, want io.EOF", err)
		}
		if _, err := wait(t, ev, b.Readv(s, make([]byte, 4))); err != io.EOF {
			t.Errorf("EOF is sticky: %v", err)
		}
		c, d := pair(t, ev)
		must(t, ev, c.Writev(s, []byte("ab")))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := wait(t, ev, d.Readv(s, make([]byte, 4))); err != io.ErrUnexpectedEOF {
			t.Errorf("EOF mid-read: %v, want io.ErrUnexpectedEOF", err)
		}
		// Half-close: d can still write to c.
		must(t, ev, d.Writev(s, []byte("ok")))
		got := make([]byte, 2)
		must(t, ev, c.Readv(s, got))
		if string(got) != "ok" {
			t.Errorf("after half-close got %q", got)
		}
	})
}

func TestStreamResetIsOpError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		c, srv := tcpPair(t, ev)
		// SO_LINGER 0 makes close send a reset.
		if err := unix.SetsockoptLinger(srv.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			t.Fatal(err)
		}
		r := c.Readv(s, make([]byte, 10))
		w := c.Writev(s, make([]byte, 16<<20)) // pending: nobody reads
		srv.Free()
		_, err := wait(t, ev, r)
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) {
			t.Errorf("read after reset: %v, want *net.OpError ECONNRESET", err)
		}
		if _, err := wait(t, ev, w); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("pending write after reset: %v, want ECONNRESET", err)
		}
		if _, err := wait(t, ev, c.Writev(s, []byte("x"))); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("errors are sticky: %v", err)
		}
		if !errors.Is(c.Err(), syscall.ECONNRESET) {
			t.Errorf("Err() = %v", c.Err())
		}
	})
}

func TestStreamFreeFinishesPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		a, _ := pair(t, ev)
		r := a.Readv(s, make([]byte, 1))
		w := a.Writev(s, make([]byte, 8<<20))
		var order []string
		r.SetCallback(func(*tevent.Req[int]) { order = append(order, "read") })
		w.SetCallback(func(*tevent.Req[int]) { order = append(order, "write") })
		a.Free()
		a.Free()
		if len(order) != 2 {
			t.Fatalf("callbacks after Free: %v", order)
		}
		if _, err := r.Result(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read: %v, want net.ErrClosed", err)
		}
		if _, err := w.Result(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write: %v, want net.ErrClosed", err)
		}
		// Freeing the owning scope does the same.
		sc := ev.NewScope()
		c, _, err := StreamPair(sc)
		if err != nil {
			t.Fatal(err)
		}
		r2 := c.Readv(s, make([]byte, 1))
		sc.Free()
		if _, err := wait(t, ev, r2); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after scope free: %v", err)
		}
	})
}

func TestStreamCancelAndEndtime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		a, b := pair(t, ev)
		r := b.Readv(s, make([]byte, 4))
		if !r.Cancel() {
			t.Fatal("Cancel before any byte returned false")
		}
		if _, err := wait(t, ev, r); !errors.Is(err, tevent.ErrCancelled) {
			t.Errorf("cancelled read: %v", err)
		}
		// Nothing lost: the next read gets the bytes.
		must(t, ev, a.Writev(s, []byte("ab")))
		buf := make([]byte, 4)
		r = b.Readv(s, buf)
		drive(t, ev, func() bool { p, _ := b.Pending(); return p == 0 })
		if r.Cancel() {
			t.Error("Cancel after bytes arrived returned true")
		}
		// A timeout on a fresh read costs nothing ...
		must(t, ev, a.Writev(s, []byte("cd")))
		if n := must(t, ev, r); n != 4 || string(buf) != "abcd" {
			t.Errorf("read after failed cancel: %d %q", n, buf)
		}
		r = b.Readv(s, make([]byte, 4))
		r.SetEndtime(ev, time.Now().Add(10*time.Millisecond))
		if _, err := wait(t, ev, r); !errors.Is(err, tevent.ErrTimeout) {
			t.Errorf("timed out read: %v", err)
		}
		must(t, ev, a.Writev(s, []byte("ef")))
		two := make([]byte, 2)
		must(t, ev, b.Readv(s, two))
		if string(two) != "ef" {
			t.Errorf("after a clean timeout got %q", two)
		}
		// ... but half done it breaks the stream.
		must(t, ev, a.Writev(s, []byte("g")))
		r = b.Readv(s, make([]byte, 4))
		drive(t, ev, func() bool { p, _ := b.Pending(); return p == 0 })
		r.SetEndtime(ev, time.Now())
		if _, err := wait(t, ev, r); !errors.Is(err, tevent.ErrTimeout) {
			t.Errorf("half-done read: %v", err)
		}
		if _, err := wait(t, ev, b.Readv(s, make([]byte, 1))); !errors.Is(err, ErrBroken) {
			t.Errorf("read after a half-done read timed out: %v, want ErrBroken", err)
		}
		// Freeing a half-done read breaks it too.
		c, d := pair(t, ev)
		must(t, ev, c.Writev(s, []byte("h")))
		r = d.Readv(s, make([]byte, 2))
		drive(t, ev, func() bool { p, _ := d.Pending(); return p == 0 })
		r.Free()
		if !errors.Is(d.Err(), ErrBroken) {
			t.Errorf("Err after freeing a half-done read: %v", d.Err())
		}
		// Cancel on a write that has not moved a byte.
		w := c.Writev(s, make([]byte, 8<<20))
		if w.Cancel() {
			t.Error("Cancel of a half-written write returned true")
		}
		w.Free()
		if !errors.Is(c.Err(), ErrBroken) {
			t.Errorf("Err after freeing a half-done write: %v", c.Err())
		}
	})
}

func TestNewStreamBadFDs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		if _, err := NewStream(s, -1); !errors.Is(err, tevent.ErrBadFD) {
			t.Errorf("fd -1: %v", err)
		}
		fds := rawPair(t)
		unix.Close(fds[1])
		unix.Close(fds[0])
		if _, err := NewStream(s, fds[0]); !errors.Is(err, tevent.ErrBadFD) {
			t.Errorf("closed fd: %v", err)
		}
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(p[0])
		defer unix.Close(p[1])
		if _, err := NewStream(s, p[0]); !errors.Is(err, ErrNotSocket) {
			t.Errorf("pipe: %v, want ErrNotSocket", err)
		}
		if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFD, 0); err != nil {
			t.Errorf("a refused fd was closed: %v", err)
		}
		dg, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(dg)
		if _, err := NewStream(s, dg); !errors.Is(err, ErrNotSocket) {
			t.Errorf("datagram socket as stream: %v, want ErrNotSocket", err)
		}
		// An existing blocking socket is made non-blocking and close-on-exec.
		raw := rawPair(t)
		unix.FcntlInt(uintptr(raw[0]), unix.F_SETFD, 0)
		st, err := NewStream(s, raw[0])
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(raw[1])
		fl, _ := unix.FcntlInt(uintptr(raw[0]), unix.F_GETFL, 0)
		fdfl, _ := unix.FcntlInt(uintptr(raw[0]), unix.F_GETFD, 0)
		if fl&unix.O_NONBLOCK == 0 || fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("flags not set: fl=%#x fd=%#x", fl, fdfl)
		}
		unix.Write(raw[1], []byte("hi"))
		got := make([]byte, 2)
		must(t, ev, st.Readv(s, got))
		if string(got) != "hi" {
			t.Errorf("got %q", got)
		}
		st.Free()
	})
}

func TestStreamFromNetConn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		s := &ev.Scope
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		// net -> loop: dup the descriptor, then close the net.Conn.
		var dup int
		var derr error
		rc, _ := sc.(*net.TCPConn).SyscallConn()
		rc.Control(func(fd uintptr) { dup, derr = unix.Dup(int(fd)) })
		sc.Close()
		if derr != nil {
			t.Fatal(derr)
		}
		st, err := NewStream(s, dup)
		if err != nil {
			t.Fatal(err)
		}
		if ra, err := st.RemoteAddr(); err != nil || ra.NetAddr().String() != cc.LocalAddr().String() {
			t.Errorf("RemoteAddr = %v, %v; want %v", ra, err, cc.LocalAddr())
		}
		cc.Write([]byte("ping"))
		got := make([]byte, 4)
		must(t, ev, st.Readv(s, got))
		must(t, ev, st.Writev(s, []byte("pong")))
		back := make([]byte, 4)
		cc.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.ReadFull(cc, back); err != nil || string(got) != "ping" || string(back) != "pong" {
			t.Errorf("got %q, back %q, %v", got, back, err)
		}
		// loop -> net: dup and net.FileConn.
		fd2, _ := unix.Dup(st.Fd())
		st.Free()
		f := osNewFile(fd2)
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte("again"))
		nc.Close()
		five := make([]byte, 5)
		if _, err := io.ReadFull(cc, five); err != nil || string(five) != "again" {
			t.Errorf("through net.FileConn: %q %v", five, err)
		}
	})
}
