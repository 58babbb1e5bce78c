package tserver

import (
	"errors"
	"io"
	"testing"
	"time"
)

// A connection's own deadline and idle timeout, beside the server's.
func TestServerConnDeadlineAndIdleTimeout(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		rec.open = func(c *Conn) {
			switch c.Loop().Stats().Accepted {
			case 1:
				c.SetDeadline(time.Now().Add(50 * time.Millisecond))
			case 2:
				c.SetIdleTimeout(50 * time.Millisecond)
			case 3:
				c.SetIdleTimeout(-1) // exempt from the server's
			case 4:
				c.SetDeadline(time.Now().Add(time.Millisecond))
				c.SetDeadline(time.Time{}) // removed again
			}
		}
		s, addr := startServer(t, rec, Config{Backend: backend, IdleTimeout: time.Hour})
		start := time.Now()
		a := dial(t, addr)
		defer a.Close()
		echoOnce(t, a, []byte("a"))
		if err := waitFor(t, "close", rec.closed); !errors.Is(err, ErrDeadline) {
			t.Fatalf("close reason %v, want ErrDeadline", err)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("closed after %v, before its deadline", d)
		}
		b := dial(t, addr)
		defer b.Close()
		echoOnce(t, b, []byte("b"))
		if err := waitFor(t, "close", rec.closed); !errors.Is(err, ErrIdleTimeout) {
			t.Fatalf("close reason %v, want ErrIdleTimeout", err)
		}
		if _, err := b.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client read after idle close: %v", err)
		}
		c := dial(t, addr)
		defer c.Close()
		echoOnce(t, c, []byte("c"))
		d := dial(t, addr)
		defer d.Close()
		echoOnce(t, d, []byte("d"))
		onLoop(t, s.Loops()[0], func() {
			if n := len(s.Loops()[0].timers); n != 0 {
				t.Errorf("%d connection timers left", n)
			}
		})
		if st := s.Stats(); st.Conns != 2 || st.Closes.Deadline != 1 || st.Closes.IdleTimeout != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}
