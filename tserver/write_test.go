package tserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A Write outside OnData (here from a call on the loop) whose own system
// call finds the peer reset returns that error, not (len, nil); OnClose
// gets the same.
func TestServerWriteToResetPeerReturnsError(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		s, addr := startServer(t, rec, Config{Backend: backend})
		cl := dial(t, addr)
		sc := waitFor(t, "open", rec.opened)
		echoOnce(t, cl, []byte("x"))
		var n int
		var err error
		onLoop(t, s.Loops()[0], func() {
			// Reset from the loop's goroutine and wait there for the reset
			// to reach the socket, so the write below (not the loop's
			// read) is what meets it.
			cl.(*net.TCPConn).SetLinger(0)
			cl.Close()
			deadline := time.Now().Add(srvTimeout)
			for time.Now().Before(deadline) {
				pfd := []unix.PollFd{{Fd: int32(sc.Fd()), Events: unix.POLLIN}}
				if k, _ := unix.Poll(pfd, 10); k == 1 {
					break
				}
			}
			n, err = sc.Write([]byte("to a reset peer"))
		})
		if err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			t.Fatalf("Write to a reset peer = %d, %v; want an error matching ECONNRESET or EPIPE", n, err)
		}
		if reason := waitFor(t, "close", rec.closed); !errors.Is(reason, syscall.ECONNRESET) && !errors.Is(reason, syscall.EPIPE) {
			t.Fatalf("close reason %v", reason)
		}
	})
}

// A Write outside OnData that would leave more unsent than
// MaxWriteBuffer returns ErrWriteLimit (the connection is closed with it).
func TestServerWriteOverLimitOutsideOnData(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		s, addr := startServer(t, rec, Config{Backend: backend, MaxWriteBuffer: 1 << 20})
		cl := dial(t, addr)
		defer cl.Close()
		cl.(*net.TCPConn).SetReadBuffer(4096) // and never reads
		sc := waitFor(t, "open", rec.opened)
		var n int
		var err error
		onLoop(t, s.Loops()[0], func() { n, err = sc.Write(make([]byte, 8<<20)) })
		if !errors.Is(err, ErrWriteLimit) || n != 0 {
			t.Fatalf("Write of 8 MiB over a 1 MiB limit = %d, %v; want 0, ErrWriteLimit", n, err)
		}
		if reason := waitFor(t, "close", rec.closed); !errors.Is(reason, ErrWriteLimit) {
			t.Fatalf("close reason %v, want ErrWriteLimit", reason)
		}
	})
}

// A single 16 MiB Write in OnData over the default 4 MiB limit says so to
// its caller at once, instead of returning success and closing the
// connection later.
func TestServerBigWriteInOnData(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		type result struct {
			n   int
			err error
		}
		res := make(chan result, 1)
		rec := newRecorder()
		rec.data = func(c *Conn, in []byte) int {
			n, err := c.Write(make([]byte, 16<<20))
			res <- result{n, err}
			return len(in)
		}
		_, addr := startServer(t, rec, Config{Backend: backend})
		cl := dial(t, addr)
		defer cl.Close()
		go io.Copy(io.Discard, cl) // the client reads
		cl.Write([]byte("go"))
		r := waitFor(t, "Write's result", res)
		if !errors.Is(r.err, ErrWriteLimit) || r.n != 0 {
			t.Fatalf("16 MiB Write over a 4 MiB limit = %d, %v; want 0, ErrWriteLimit", r.n, r.err)
		}
		if reason := waitFor(t, "close", rec.closed); !errors.Is(reason, ErrWriteLimit) {
			t.Fatalf("close reason %v, want ErrWriteLimit", reason)
		}
	})
}

// pump is a handler that streams total bytes to each client with
// backpressure: it writes while the connection is not backlogged and
// resumes in OnWritable.
type pump struct {
	*recorder
	total, chunk int
	maxOut       int
	writables    int
	backlogged   chan struct{} // closed when a connection first is
}

type pumpState struct{ sent int }

func (p *pump) OnOpen(c *Conn) {
	c.SetContext(&pumpState{})
	p.recorder.OnOpen(c)
	p.fill(c)
}

func (p *pump) OnWritable(c *Conn) {
	p.writables++
	p.fill(c)
}

func (p *pump) fill(c *Conn) {
	st := c.Context().(*pumpState)
	buf := make([]byte, p.chunk)
	for st.sent < p.total && !c.Backlogged() {
		n := min(p.chunk, p.total-st.sent)
		for i := range buf[:n] {
			buf[i] = byte((st.sent + i) % 251)
		}
		if _, err := c.Write(buf[:n]); err != nil {
			p.recorder.t.Errorf("Write: %v", err)
			return
		}
		st.sent += n
		p.maxOut = max(p.maxOut, c.OutboundBuffered())
	}
	if c.Backlogged() && p.writables == 0 && st.sent > 0 {
		select {
		case <-p.backlogged:
		default:
			close(p.backlogged)
		}
	}
	if st.sent == p.total {
		c.Close()
	}
}

// Backpressure a handler can act on: a 16 MiB stream to a client that
// reads slowly goes through with a 1 MiB write limit, the handler pausing
// at the high-water mark and resuming in OnWritable.
func TestServerBackpressure(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		rec.t = t
		p := &pump{recorder: rec, total: 16 << 20, chunk: 32 << 10, backlogged: make(chan struct{})}
		const high = 256 << 10
		s, addr := startServer(t, p, Config{Backend: backend, MaxWriteBuffer: 1 << 20, WriteHighWater: high, WriteLowWater: 64 << 10})
		cl := dial(t, addr)
		defer cl.Close()
		// A small receive buffer (not below loopback's 64 KiB segments,
		// where the kernel's TCP stalls) and small reads: a slow reader.
		cl.(*net.TCPConn).SetReadBuffer(128 << 10)
		// Read only once the server is backlogged: it must then pause and
		// resume as the client drains.
		waitFor(t, "the connection to be backlogged", p.backlogged)
		got := 0
		buf := make([]byte, 8<<10)
		pattern := make([]byte, 251+len(buf))
		for i := range pattern {
			pattern[i] = byte(i % 251)
		}
		for {
			n, err := cl.Read(buf)
			if want := pattern[got%251 : got%251+n]; !bytes.Equal(buf[:n], want) {
				t.Fatalf("bytes %d to %d differ from what was sent", got, got+n)
			}
			got += n
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after %d bytes: %v", got, err)
			}
		}
		if got != p.total {
			t.Fatalf("got %d bytes, want %d", got, p.total)
		}
		cl.Close() // the server lingers for the peer's close
		if reason := waitFor(t, "close", rec.closed); reason != nil {
			t.Fatalf("close reason %v, want nil", reason)
		}
		var maxOut, writables int
		onLoop(t, s.Loops()[0], func() { maxOut, writables = p.maxOut, p.writables })
		if writables == 0 {
			t.Error("OnWritable never called")
		}
		if maxOut > high+p.chunk {
			t.Errorf("output buffered up to %d bytes, above high water %d + one chunk", maxOut, high)
		}
	})
}
