package tserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// chattyClient sends without pause until its connection fails, and reads
// everything the server sends until EOF, which it returns.
func chattyClient(c net.Conn) ([]byte, error) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		junk := make([]byte, 16<<10)
		for {
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	got, err := io.ReadAll(c)
	c.Close() // ends the writer
	wg.Wait()
	return got, err
}

// A graceful close of a connection whose peer is still sending (by
// Shutdown, or by Conn.Close in the handler) delivers all output written
// before it: the server shuts its sending side down, drains the input
// until the peer closes, then closes; no reset throws the output away.
func TestServerGracefulCloseWithPeerSending(t *testing.T) {
	reply := make([]byte, 4<<20)
	for i := range reply {
		reply[i] = byte(i * 7)
	}
	for _, how := range []string{"Shutdown", "Conn.Close"} {
		t.Run(how, func(t *testing.T) {
			forEachServerBackend(t, func(t *testing.T, backend string) {
				const clients = 8
				rec := newRecorder()
				started := make(chan struct{}, clients)
				rec.data = func(c *Conn, in []byte) int {
					if c.Context() == nil {
						c.SetContext(true)
						c.Write(reply)
						if how == "Conn.Close" {
							c.Close()
						}
						started <- struct{}{}
					}
					return len(in) // and ignore the rest
				}
				// The clients send as fast as loopback goes, gigabytes a
				// second: lift the byte bound of the lingering.
				s, err := New(rec, &Config{Backend: backend, Loops: 2, MaxWriteBuffer: 8 << 20, LingerMax: 1 << 40, LingerTimeout: srvTimeout})
				if err != nil {
					t.Fatal(err)
				}
				a, _ := s.Listen("tcp", "127.0.0.1:0")
				s.Start()
				type result struct {
					got []byte
					err error
				}
				res := make(chan result, clients)
				for i := 0; i < clients; i++ {
					c := dial(t, a.String())
					go func() {
						got, err := chattyClient(c)
						res <- result{got, err}
					}()
				}
				for i := 0; i < clients; i++ {
					waitFor(t, "the reply to be written", started)
				}
				if how == "Shutdown" {
					s.Shutdown(time.Now().Add(srvTimeout))
				}
				for i := 0; i < clients; i++ {
					r := waitFor(t, "a client", res)
					if r.err != nil || !bytes.Equal(r.got, reply) {
						t.Errorf("client got %d of %d bytes, then %v", len(r.got), len(reply), r.err)
					}
				}
				for i := 0; i < clients; i++ {
					if err := waitFor(t, "close", rec.closed); err != nil {
						t.Errorf("close reason %v, want nil", err)
					}
				}
				s.Close()
				waitServer(t, s)
			})
		})
	}
}

// A peer that never stops sending after the close is cut off at the
// linger limits (time and bytes), with a reason saying so.
func TestServerLingerLimits(t *testing.T) {
	for _, lim := range []struct {
		name string
		cfg  Config
	}{
		{"time", Config{LingerTimeout: 100 * time.Millisecond, LingerMax: 1 << 40}},
		{"bytes", Config{LingerTimeout: time.Hour, LingerMax: 256 << 10}},
	} {
		t.Run(lim.name, func(t *testing.T) {
			forEachServerBackend(t, func(t *testing.T, backend string) {
				rec := newRecorder()
				rec.data = func(c *Conn, in []byte) int {
					c.Close()
					return len(in)
				}
				cfg := lim.cfg
				cfg.Backend = backend
				_, addr := startServer(t, rec, cfg)
				c := dial(t, addr)
				defer c.Close()
				go func() {
					junk := make([]byte, 16<<10)
					for {
						if _, err := c.Write(junk); err != nil {
							return
						}
					}
				}()
				if err := waitFor(t, "close", rec.closed); !errors.Is(err, ErrLingerLimit) {
					t.Fatalf("close reason %v, want ErrLingerLimit", err)
				}
			})
		})
	}
}

// During Shutdown a ConnHandle's Write says the bytes will not be sent.
func TestServerHandleWriteDuringShutdown(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		hs := make(chan ConnHandle, 1)
		rec.open = func(c *Conn) { hs <- c.Handle() }
		s, addr := startServer(t, rec, Config{Backend: backend})
		c := dial(t, addr)
		defer c.Close()
		h := waitFor(t, "handle", hs)
		s.Shutdown(time.Now().Add(srvTimeout))
		if err := h.Write([]byte("dropped")); !errors.Is(err, ErrServerClosed) && !errors.Is(err, ErrConnClosed) {
			t.Fatalf("handle Write during Shutdown = %v, want ErrServerClosed or ErrConnClosed", err)
		}
		if got, err := readToEOF(c); len(got) != 0 || err != nil {
			t.Fatalf("client got %q, %v", got, err)
		}
	})
}
