package tserver

import (
	"errors"
	"net"
	"testing"

	"github.com/gotevent/tevent"
)

// checkServerEnded checks what every way of ending a server's loop from outside
// (Stop, Free) must leave: Run's error saying why, an OnClose with that
// reason for every connection, the listener closed, counters at zero.
func checkServerEnded(t *testing.T, s *Server, rec *recorder, addr string, done <-chan error, n int, cause error) {
	t.Helper()
	err := waitFor(t, "Run to return", done)
	if !errors.Is(err, cause) {
		t.Errorf("Run returned %v, want an error matching %v", err, cause)
	}
	for i := 0; i < n; i++ {
		if err := waitFor(t, "OnClose", rec.closed); !errors.Is(err, ErrServerClosed) || !errors.Is(err, cause) {
			t.Errorf("close reason %v, want ErrServerClosed and %v", err, cause)
		}
	}
	if st := s.Stats(); st.Conns != 0 {
		t.Errorf("Stats.Conns = %d after the end", st.Conns)
	}
	if c, err := net.DialTimeout("tcp", addr, srvTimeout); err == nil {
		c.Close()
		t.Error("the listener still accepts")
	}
	s.Close() // harmless now
	waitFor(t, "Wait", func() <-chan error {
		ch := make(chan error, 1)
		go func() { ch <- s.Wait() }()
		return ch
	}())
}

// Stop or Free on the context of a loop the server drives ends the whole
// server cleanly, whichever loop it is.
func TestServerLoopContextStoppedOrFreed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		loops int
		which int
		end   func(l *Loop)
		cause error
	}{
		{"stop-loop0-of-1", 1, 0, func(l *Loop) { l.Context().Stop() }, tevent.ErrStopped},
		{"stop-loop0-of-2", 2, 0, func(l *Loop) { l.Context().Stop() }, tevent.ErrStopped},
		{"stop-loop1-of-2", 2, 1, func(l *Loop) { l.Context().Stop() }, tevent.ErrStopped},
		{"free-loop0-of-2-from-outside", 2, 0, func(l *Loop) { l.Context().Free() }, tevent.ErrFreed},
		{"free-loop1-of-2-on-loop", 2, 1, func(l *Loop) { l.Schedule(func(l *Loop) { l.Context().Free() }) }, tevent.ErrFreed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachServerBackend(t, func(t *testing.T, backend string) {
				rec := newRecorder()
				s, err := New(rec, &Config{Backend: backend, Loops: tc.loops})
				if err != nil {
					t.Fatal(err)
				}
				a, err := s.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- s.Run() }()
				const n = 4
				for i := 0; i < n; i++ {
					c := dial(t, a.String())
					defer c.Close()
					echoOnce(t, c, []byte("x"))
				}
				tc.end(s.Loops()[tc.which])
				checkServerEnded(t, s, rec, a.String(), done, n, tc.cause)
			})
		})
	}
}

// A context the caller supplied and freed: OnClose for its connections,
// Stats right, the listener closed, Wait returns.
func TestServerUserContextFreed(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		ev, err := tevent.New(tevent.WithBackend(backend))
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		rec.data = func(c *Conn, in []byte) int {
			if string(in) == "free" {
				ev.Free() // from a handler, on the loop
				return len(in)
			}
			c.Write(in)
			return len(in)
		}
		s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		loopDone := make(chan error, 1)
		go func() { loopDone <- ev.LoopWait() }()
		done := make(chan error, 1)
		go func() { done <- s.Wait() }()
		const n = 3
		var cs []net.Conn
		for i := 0; i < n; i++ {
			c := dial(t, a.String())
			defer c.Close()
			echoOnce(t, c, []byte("x"))
			cs = append(cs, c)
		}
		cs[0].Write([]byte("free"))
		if err := waitFor(t, "LoopWait", loopDone); err != nil {
			t.Fatalf("LoopWait: %v", err)
		}
		checkServerEnded(t, s, rec, a.String(), done, n, tevent.ErrFreed)
	})
}
