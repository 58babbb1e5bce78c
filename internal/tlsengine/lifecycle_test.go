package tlsengine

import (
	"crypto/tls"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// waitNotify waits for the engine's Notify.
func waitNotify(t *testing.T, w waker) {
	t.Helper()
	select {
	case <-w:
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for Notify")
	}
}

// waitDone waits for the handshake's end, draining output on the way.
func waitDone(t *testing.T, e *Engine, w waker) error {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		e.AppendOutput(nil)
		if done, err := e.Handshake(); done {
			return err
		}
		select {
		case <-w:
		case <-deadline:
			t.Fatal("timed out waiting for the end of the handshake")
		}
	}
}

// waitIdle waits until the limiter has nothing running or queued (a
// handshake goroutine gives its slot back just after its last Notify).
func waitIdle(t *testing.T, lim *Limiter) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		if r, q := lim.InFlight(); r == 0 && q == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the limiter to empty")
		}
		time.Sleep(time.Millisecond)
	}
}

// A handshake that never finishes ends with ErrHandshakeTimeout: a server
// whose peer never speaks (no goroutine is ever started for it), a
// server whose peer stops halfway through its ClientHello, a client whose
// server never answers. No goroutine outlives it.
func TestHandshakeTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := testPKI(t)
	const timeout = 50 * time.Millisecond

	t.Run("server, silent peer", func(t *testing.T) {
		lim := NewLimiter(4, 4)
		w := newWaker()
		e, _ := New(Config{TLS: p.serverConfig(), Server: true, Notify: w.notify, HandshakeTimeout: timeout, Limiter: lim})
		defer e.Close()
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		if r, q := lim.InFlight(); r != 0 || q != 0 {
			t.Fatalf("a silent peer holds a handshake slot: %d running, %d queued", r, q)
		}
		err := waitDone(t, e, w)
		if !errors.Is(err, ErrHandshakeTimeout) || !errors.Is(err, ErrHandshake) {
			t.Fatalf("got %v, want ErrHandshakeTimeout", err)
		}
	})

	t.Run("server, half a ClientHello", func(t *testing.T) {
		lim := NewLimiter(4, 4)
		// A stock client's ClientHello, cut in half.
		l := newLoop(t, Config{TLS: p.clientConfig()})
		if err := l.e.Start(); err != nil {
			t.Fatal(err)
		}
		waitNotify(t, l.w)
		hello := l.e.AppendOutput(nil)
		w := newWaker()
		e, _ := New(Config{TLS: p.serverConfig(), Server: true, Notify: w.notify, HandshakeTimeout: timeout, Limiter: lim})
		defer e.Close()
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		if err := e.Feed(hello[:len(hello)/2]); err != nil {
			t.Fatal(err)
		}
		if r, _ := lim.InFlight(); r != 1 {
			t.Fatalf("%d handshakes running after the first bytes, want 1", r)
		}
		err := waitDone(t, e, w)
		if !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("got %v, want ErrHandshakeTimeout", err)
		}
		waitIdle(t, lim)
	})

	t.Run("client, silent server", func(t *testing.T) {
		lim := NewLimiter(4, 4)
		w := newWaker()
		e, _ := New(Config{TLS: p.clientConfig(), Notify: w.notify, HandshakeTimeout: timeout, Limiter: lim})
		defer e.Close()
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		err := waitDone(t, e, w)
		if !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("got %v, want ErrHandshakeTimeout", err)
		}
		waitIdle(t, lim)
	})
}

// Close during the handshake ends it with ErrClosed, its goroutine
// exits, and Notify is not called after Close returns, wherever the
// handshake was: running, queued, or not yet given to the limiter.
func TestCloseDuringHandshake(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := testPKI(t)
	lim := NewLimiter(1, 4)
	var closed, late atomic.Bool
	mk := func(server bool, w waker) *Engine {
		cfg := p.clientConfig()
		if server {
			cfg = p.serverConfig()
		}
		e, err := New(Config{TLS: cfg, Server: server, Limiter: lim, Notify: func() {
			if closed.Load() {
				late.Store(true)
			}
			w.notify()
		}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	w1, w2, w3 := newWaker(), newWaker(), newWaker()
	running := mk(false, w1)
	queued := mk(false, w2)
	unlaunched := mk(true, w3)
	for _, e := range []*Engine{running, queued, unlaunched} {
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitNotify(t, w1) // the ClientHello: the goroutine now waits for the server
	if r, q := lim.InFlight(); r != 1 || q != 1 {
		t.Fatalf("in flight: %d running, %d queued; want 1, 1", r, q)
	}
	queued.Close()
	unlaunched.Close()
	running.Close()
	closed.Store(true)
	for _, e := range []*Engine{running, queued, unlaunched} {
		if done, err := e.Handshake(); !done || err != ErrClosed {
			t.Fatalf("after Close: %v, %v; want ErrClosed", done, err)
		}
	}
	waitIdle(t, lim)
	if late.Load() {
		t.Fatal("Notify called after Close returned")
	}
}

// The limiter runs at most its bound at once, queues up to its queue's
// bound without a goroutine, refuses beyond with ErrHandshakeLimit, and
// hands a freed slot to the first queued handshake; a queued handshake
// times out like a running one.
func TestLimiter(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := testPKI(t)
	lim := NewLimiter(1, 1)
	mk := func(w waker, timeout time.Duration) *Engine {
		e, err := New(Config{TLS: p.clientConfig(), Limiter: lim, Notify: w.notify, HandshakeTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		return e
	}
	w1, w2, w3 := newWaker(), newWaker(), newWaker()
	e1, e2, e3 := mk(w1, -1), mk(w2, -1), mk(w3, -1)
	if err := e1.Start(); err != nil {
		t.Fatal(err)
	}
	if err := e2.Start(); err != nil {
		t.Fatal(err)
	}
	err := e3.Start()
	if !errors.Is(err, ErrHandshakeLimit) || !errors.Is(err, ErrHandshake) {
		t.Fatalf("third Start: %v, want ErrHandshakeLimit", err)
	}
	if done, herr := e3.Handshake(); !done || herr == nil || !errors.Is(herr, ErrHandshakeLimit) {
		t.Fatalf("refused engine's Handshake: %v, %v", done, herr)
	}
	waitNotify(t, w1)
	if out := e2.AppendOutput(nil); len(out) != 0 {
		t.Fatal("a queued handshake produced output")
	}
	e1.Close() // its slot goes to e2
	waitNotify(t, w2)
	if out := e2.AppendOutput(nil); len(out) == 0 {
		t.Fatal("the queued handshake did not start when the slot was freed")
	}
	if r, q := lim.InFlight(); r != 1 || q != 0 {
		t.Fatalf("in flight: %d running, %d queued; want 1, 0", r, q)
	}

	// e2 holds the slot; e4 queues and times out there.
	w4 := newWaker()
	e4 := mk(w4, 50*time.Millisecond)
	if err := e4.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, e4, w4); !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("queued handshake: %v, want ErrHandshakeTimeout", err)
	}
	if r, q := lim.InFlight(); r != 1 || q != 0 {
		t.Fatalf("in flight after the queued timeout: %d running, %d queued; want 1, 0", r, q)
	}
	e2.Close()
	waitIdle(t, lim)

	defer func() {
		if recover() == nil {
			t.Fatal("NewLimiter(0, 0) did not panic")
		}
	}()
	NewLimiter(0, 0)
}

// EOF from a peer before or during the handshake fails it with io.EOF
// wrapped; before a server's first byte no goroutine is needed.
func TestEOFDuringHandshake(t *testing.T) {
	p := testPKI(t)
	lim := NewLimiter(4, 4)
	w := newWaker()
	e, _ := New(Config{TLS: p.serverConfig(), Server: true, Notify: w.notify, Limiter: lim})
	defer e.Close()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	e.FeedEOF()
	if err := waitDone(t, e, w); !errors.Is(err, ErrHandshake) || !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want ErrHandshake wrapping io.EOF", err)
	}

	l := newLoop(t, Config{TLS: p.clientConfig(), Limiter: lim})
	peer := l.peer(true, p.serverConfig(), func(c *tls.Conn) error {
		buf := make([]byte, 16)
		_, err := c.NetConn().Read(buf) // a few bytes of the ClientHello
		c.NetConn().Close()
		return err
	})
	if err := l.handshake(); !errors.Is(err, ErrHandshake) || !errors.Is(err, io.EOF) {
		t.Fatalf("client: got %v, want ErrHandshake wrapping io.EOF", err)
	}
	l.wait(peer)
	waitIdle(t, lim)
}
