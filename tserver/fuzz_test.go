package tserver

import (
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// fuzzClient is one adversarial peer of FuzzServer, on a raw non-blocking
// socket.
type fuzzClient struct {
	id       int
	fd       int
	port     int
	sent     []byte // what the server took from us, in order
	got      []byte // what came back
	wrDone   bool   // half-closed (or the server went away)
	reset    bool   // we reset the connection
	finished bool   // EOF or an error on read
}

// pattern is client id's k-th byte: every client's stream differs from
// every other's from its first byte on.
func pattern(id, k int) byte { return byte(k*7 + id*101 + (k>>8)*13) }

func (c *fuzzClient) write(t *testing.T, n int, pieces int) {
	if c.wrDone || c.reset {
		return
	}
	for p := 0; p < pieces && n > 0; p++ {
		m := max(1, n/(pieces-p))
		buf := make([]byte, m)
		for i := range buf {
			buf[i] = pattern(c.id, len(c.sent)+i)
		}
		k, err := unix.Write(c.fd, buf)
		if k > 0 {
			c.sent = append(c.sent, buf[:k]...)
		}
		if err == unix.EAGAIN || k < m && err == nil {
			return // the socket is full: a stalled reader stays stalled
		}
		if err != nil {
			c.wrDone = true // the server closed (EPIPE, ECONNRESET)
			return
		}
		n -= m
	}
}

// read takes what is there, up to max bytes, and checks it.
func (c *fuzzClient) read(t *testing.T, max int) {
	if c.reset || c.finished {
		return
	}
	buf := make([]byte, max)
	n, err := unix.Read(c.fd, buf)
	switch {
	case n > 0:
		c.check(t, buf[:n])
	case err == unix.EAGAIN:
	default:
		c.finished = true // EOF or a reset by the server
	}
}

// check: the echo of a client is exactly a prefix of what it sent.
func (c *fuzzClient) check(t *testing.T, b []byte) {
	t.Helper()
	off := len(c.got)
	c.got = append(c.got, b...)
	if len(c.got) > len(c.sent) {
		t.Fatalf("client %d got %d bytes, sent only %d", c.id, len(c.got), len(c.sent))
	}
	for i, x := range b {
		if x != c.sent[off+i] {
			t.Fatalf("client %d: byte %d is %d, want %d (another client's bytes?)", c.id, off+i, x, c.sent[off+i])
		}
	}
}

// FuzzServer drives an echo server (one or two loops, a small read buffer
// and write limit) with up to four adversarial peers: writes in random
// pieces, reads of random sizes, readers that stall while writing (until
// the write limit closes them), resets, half-closes. The model: a client
// only ever receives a prefix of its own bytes; one the server closed
// cleanly (io.EOF after the client's half-close) receives all of them;
// and the server ends with every connection closed once and no
// descriptor left.
func FuzzServer(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 0, 5, 1, 0, 9})
	f.Add([]byte{1, 3, 3, 0, 1, 200, 0, 2, 40, 1, 1, 8, 3, 2, 0, 2, 3, 1})
	f.Add([]byte{2, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 1, 0, 1})
	f.Add([]byte{3, 2, 7, 0, 0, 90, 0, 1, 90, 2, 0, 0, 4, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		srvCheckFDs(t)
		h := fnv.New64a()
		h.Write(data)
		rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
		backends := tevent.Backends()
		cfg := Config{
			Backend:        backends[int(data[0])%len(backends)],
			Loops:          1 + int(data[1])%2,
			ReadBufferSize: 16 << rng.IntN(10), // 16 B to 8 KiB: the server's own splits
			MaxWriteBuffer: 64 << 10,
			LingerTimeout:  -1,
		}
		reasons := make(chan [2]any, 16)
		rec := newRecorder()
		rec.open = func(c *Conn) {
			if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				c.SetContext(a.Port)
			}
		}
		rec.close = func(c *Conn, err error) { reasons <- [2]any{c.Context(), err} }
		s, err := New(rec, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		defer func() { s.Close(); waitServer(t, s) }() // harmless when done
		sa, _ := parseV4(a.String())

		nc := 1 + int(data[2])%4
		clients := make([]*fuzzClient, nc)
		for i := range clients {
			fd, err := testSocketTCP()
			if err != nil {
				t.Fatal(err)
			}
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096+rng.IntN(64<<10))
			if err := unix.Connect(fd, sa); err != nil {
				unix.Close(fd)
				t.Fatal(err)
			}
			unix.SetNonblock(fd, true)
			la, _ := unix.Getsockname(fd)
			clients[i] = &fuzzClient{id: i, fd: fd, port: la.(*unix.SockaddrInet4).Port}
			defer func(c *fuzzClient) {
				if !c.reset {
					unix.Close(c.fd)
				}
			}(clients[i])
		}
		for i := 3; i+2 < len(data) && i < 3+3*64; i += 3 {
			c := clients[int(data[i+1])%nc]
			arg := int(data[i+2])
			switch data[i] % 6 {
			case 0, 1: // write, in pieces
				c.write(t, 1+arg*97, 1+arg%5)
			case 2, 3: // read some
				c.read(t, 1+arg*131)
			case 4: // half-close
				if !c.wrDone && !c.reset {
					unix.Shutdown(c.fd, unix.SHUT_WR)
					c.wrDone = true
				}
			case 5: // reset (rarely: most bytes decide other things)
				if arg%4 == 0 && !c.reset {
					unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
					unix.Close(c.fd)
					c.reset = true
				}
			}
		}
		// The end: every live client half-closes and reads to EOF.
		deadline := time.Now().Add(srvTimeout)
		for _, c := range clients {
			if c.reset {
				continue
			}
			if !c.wrDone {
				unix.Shutdown(c.fd, unix.SHUT_WR)
			}
			for !c.finished {
				if time.Now().After(deadline) {
					t.Fatalf("client %d: no EOF (sent %d, got %d)", c.id, len(c.sent), len(c.got))
				}
				pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
				unix.Poll(pfd, 100)
				c.read(t, 64<<10)
			}
		}
		// Every connection closes once; one closed cleanly (io.EOF) has
		// echoed everything. A client that reset may never have been
		// accepted (the kernel drops it, or accept skips it), or
		// accepted without a peer address: it is not waited for.
		why := map[int]error{}
		closes := 0
		take := func(r [2]any) {
			closes++
			port, _ := r[0].(int)
			err, _ := r[1].(error)
			if port == 0 {
				return
			}
			if _, dup := why[port]; dup {
				t.Fatalf("two closes for port %d", port)
			}
			why[port] = err
		}
		for _, c := range clients {
			for !c.reset {
				if _, ok := why[c.port]; ok {
					break
				}
				take(waitFor(t, "a close", reasons))
			}
		}
		s.Close()
		waitServer(t, s)
		for len(reasons) > 0 {
			take(<-reasons)
		}
		for _, c := range clients {
			err, ok := why[c.port]
			if !ok {
				if !c.reset {
					t.Fatalf("client %d: no close", c.id)
				}
				continue
			}
			switch {
			case err == io.EOF:
				if !c.reset && len(c.got) != len(c.sent) {
					t.Fatalf("client %d closed cleanly with %d of %d bytes echoed", c.id, len(c.got), len(c.sent))
				}
			case errors.Is(err, ErrWriteLimit), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			case c.reset && errors.Is(err, ErrServerClosed):
			default:
				t.Fatalf("client %d: close reason %v", c.id, err)
			}
		}
		if st := s.Stats(); st.Conns != 0 || st.Accepted != uint64(closes) {
			t.Fatalf("stats %+v, %d closes", st, closes)
		}
	})
}
