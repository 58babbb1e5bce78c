package tserver

import (
	"errors"
	"io"
	"testing"
	"time"
)

// Stats counts bytes both ways, closes by reason and dropped handle
// writes.
func TestServerStats(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		hs := make(chan ConnHandle, 4)
		rec.open = func(c *Conn) { hs <- c.Handle() }
		rec.data = func(c *Conn, in []byte) int {
			switch string(in) {
			case "close":
				c.Close()
			case "abort":
				c.Abort(errors.New("handler's reason"))
			default:
				c.Write(in)
			}
			return len(in)
		}
		s, addr := startServer(t, rec, Config{Backend: backend, Loops: 2})
		a := dial(t, addr)
		waitFor(t, "handle", hs)
		echoOnce(t, a, make([]byte, 1000))
		a.Close() // io.EOF
		if err := waitFor(t, "close", rec.closed); err != io.EOF {
			t.Fatalf("close %v", err)
		}
		b := dial(t, addr)
		waitFor(t, "handle", hs)
		b.Write([]byte("close")) // nil
		readToEOF(b)
		b.Close()
		waitFor(t, "close", rec.closed)
		c := dial(t, addr)
		defer c.Close()
		hc := waitFor(t, "handle", hs)
		c.Write([]byte("abort")) // an error of the handler's
		waitFor(t, "close", rec.closed)
		if err := hc.Write([]byte("late")); !errors.Is(err, ErrConnClosed) {
			t.Fatalf("Write on a closed handle = %v", err)
		}
		st := s.Stats()
		want := CloseStats{PeerEOF: 1, Local: 1, Error: 1}
		if st.Closes != want {
			t.Errorf("Closes = %+v, want %+v", st.Closes, want)
		}
		if st.BytesIn != 1000+5+5 || st.BytesOut != 1000 {
			t.Errorf("BytesIn %d, BytesOut %d; want 1010, 1000", st.BytesIn, st.BytesOut)
		}
		if st.Accepted != 3 || st.Conns != 0 {
			t.Errorf("Accepted %d, Conns %d", st.Accepted, st.Conns)
		}
	})
}

// A handle Write that was accepted but reached the loop after its
// connection closed is counted as dropped.
func TestServerStatsDroppedWrites(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		hs := make(chan ConnHandle, 1)
		rec.open = func(c *Conn) { hs <- c.Handle() }
		s, addr := startServer(t, rec, Config{Backend: backend})
		cl := dial(t, addr)
		defer cl.Close()
		h := waitFor(t, "handle", hs)
		l := s.Loops()[0]
		// Queued behind a call that closes the connection: accepted by
		// Write, dropped on the loop.
		release := make(chan struct{})
		l.Schedule(func(*Loop) { <-release; h.c.Abort(nil) })
		if err := h.Write([]byte("dropped")); err != nil {
			t.Fatalf("handle Write = %v, want nil (the connection is open)", err)
		}
		close(release)
		waitFor(t, "close", rec.closed)
		deadline := time.Now().Add(srvTimeout)
		for s.Stats().DroppedWrites != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("DroppedWrites = %d, want 1", s.Stats().DroppedWrites)
			}
			onLoop(t, l, func() {})
		}
	})
}
