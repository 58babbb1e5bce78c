package tserver

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Shutdown reaches every connection even when an OnClose closes another
// one (a proxy closing its partner): none waits for the deadline.
func TestServerShutdownWhileOnCloseClosesPartner(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		const n = 40
		rec := newRecorder()
		var pending *Conn
		rec.open = func(c *Conn) {
			if pending == nil {
				pending = c
				return
			}
			c.SetContext(pending)
			pending.SetContext(c)
			pending = nil
		}
		rec.close = func(c *Conn, err error) {
			if p, ok := c.Context().(*Conn); ok {
				p.Close()
			}
		}
		s, addr := startServer(t, rec, Config{Backend: backend})
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			c := dial(t, addr)
			waitFor(t, "open", rec.opened) // pairs in dialling order
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				readToEOF(c)
			}()
		}
		s.Shutdown(time.Now().Add(time.Hour))
		for i := 0; i < n; i++ {
			if err := waitFor(t, "close", rec.closed); err != nil {
				t.Fatalf("close %d: reason %v, want nil (a graceful close)", i, err)
			}
		}
		waitServer(t, s)
		wg.Wait()
	})
}

// A later Shutdown with a later deadline does not push the forced close
// back.
func TestServerShutdownLaterDeadlineKeepsEarlier(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		wrote := make(chan struct{}, 1)
		rec.data = func(c *Conn, in []byte) int {
			c.Write(make([]byte, 8<<20)) // to a client that does not read
			wrote <- struct{}{}
			return len(in)
		}
		s, addr := startServer(t, rec, Config{Backend: backend, MaxWriteBuffer: 16 << 20})
		c := dial(t, addr)
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		c.Write([]byte("x"))
		waitFor(t, "the write", wrote)
		s.Shutdown(time.Now().Add(500 * time.Millisecond))
		s.Shutdown(time.Now().Add(time.Hour))
		if err := waitFor(t, "the forced close", rec.closed); !errors.Is(err, ErrServerClosed) {
			t.Fatalf("close reason %v, want ErrServerClosed", err)
		}
		waitServer(t, s)
	})
}
