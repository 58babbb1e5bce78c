package tserver

import (
	"errors"
	"io"
	"testing"
)

// A *Conn kept after OnClose, a handle taken in OnClose and a handle taken
// after Close inside OnData all belong to the closed connection for good:
// they fail with ErrConnClosed and never reach the connection opened next
// (which, with recycled Conn structs, got the same struct and the
// generation the stale handles carried).
func TestServerStaleConnAndHandles(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		type stale struct {
			c               *Conn
			inData, inClose ConnHandle
		}
		got := make(chan stale, 1)
		var cur stale
		rec := newRecorder()
		rec.data = func(c *Conn, in []byte) int {
			if string(in) == "close" {
				cur.c = c
				c.Close() // may call OnClose at once
				cur.inData = c.Handle()
				if cur.inClose.Valid() {
					got <- cur
					cur = stale{}
				}
				return len(in)
			}
			c.Write(in)
			return len(in)
		}
		rec.close = func(c *Conn, err error) {
			if cur.c == c {
				cur.inClose = c.Handle()
				if cur.inData.Valid() {
					got <- cur
					cur = stale{}
				}
			}
		}
		s, addr := startServer(t, rec, Config{Backend: backend})
		l := s.Loops()[0]
		for round := 0; round < 20; round++ {
			a := dial(t, addr)
			defer a.Close()
			waitFor(t, "open A", rec.opened)
			a.Write([]byte("close"))
			if rest, err := readToEOF(a); err != nil || len(rest) != 0 {
				t.Fatalf("A read %q, %v after close, want EOF", rest, err)
			}
			a.Close() // the server lingers for the peer's close
			st := waitFor(t, "A's stale references", got)
			waitFor(t, "close A", rec.closed)

			b := dial(t, addr)
			defer b.Close()
			waitFor(t, "open B", rec.opened)
			echoOnce(t, b, []byte("hi")) // B is served
			onLoop(t, l, func() {
				if n, err := st.c.Write([]byte("meant-for-A")); !errors.Is(err, ErrConnClosed) {
					t.Errorf("round %d: stale Conn.Write = %d, %v, want ErrConnClosed", round, n, err)
				}
				if err := st.c.Close(); err != nil && !errors.Is(err, ErrConnClosed) {
					t.Errorf("round %d: stale Conn.Close = %v", round, err)
				}
			})
			for i, h := range []ConnHandle{st.inData, st.inClose} {
				if err := h.Write([]byte("meant-for-A")); !errors.Is(err, ErrConnClosed) {
					t.Errorf("round %d: stale handle %d Write = %v, want ErrConnClosed", round, i, err)
				}
				if err := h.Close(); !errors.Is(err, ErrConnClosed) {
					t.Errorf("round %d: stale handle %d Close = %v, want ErrConnClosed", round, i, err)
				}
			}
			// Whatever reached B comes before this echo.
			echoOnce(t, b, []byte("ping"))
			b.Close()
			if err := waitFor(t, "close B", rec.closed); err != io.EOF {
				t.Fatalf("round %d: B's close reason %v, want io.EOF (a stale call closed it?)", round, err)
			}
			if t.Failed() {
				return
			}
		}
	})
}

// In OnClose the descriptor is closed and Fd says so.
func TestServerFdInOnClose(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		fds := make(chan int, 1)
		rec := newRecorder()
		rec.close = func(c *Conn, err error) {
			fds <- c.Fd()
			if a := c.RemoteAddr(); a != nil {
				t.Errorf("RemoteAddr in OnClose = %v, want nil", a)
			}
		}
		_, addr := startServer(t, rec, Config{Backend: backend})
		c := dial(t, addr)
		echoOnce(t, c, []byte("x"))
		c.Close()
		if fd := waitFor(t, "OnClose", fds); fd != -1 {
			t.Fatalf("Fd in OnClose = %d, want -1", fd)
		}
	})
}
