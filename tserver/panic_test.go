package tserver

import (
	"bytes"
	"errors"
	"log"
	"strings"
	"sync"
	"testing"

	"github.com/gotevent/tevent"
)

// syncBuffer is a bytes.Buffer safe for a logger on a loop and a reader in
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// errBoomData is what OnData panics with in TestServerHandlerPanicContained.
var errBoomData = errors.New("boom in OnData")

// A panic in OnOpen, OnData or OnClose is contained to its connection:
// logged with its stack, the connection closed with the panic as a
// *tevent.PanicError, counted, and the server goes on serving.
func TestServerHandlerPanicContained(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		rec.open = func(c *Conn) {
			if c.Loop().Stats().Accepted == 1 {
				panic("boom in OnOpen")
			}
		}
		rec.data = func(c *Conn, in []byte) int {
			switch string(in) {
			case "data":
				c.Write([]byte("staged, never sent"))
				panic(errBoomData)
			case "close":
				c.SetContext("panic in OnClose")
				c.Close()
				return len(in)
			}
			c.Write(in)
			return len(in)
		}
		closeErrs := make(chan error, 10)
		rec.close = func(c *Conn, err error) {
			closeErrs <- err
			if c.Context() == "panic in OnClose" {
				panic("boom in OnClose")
			}
		}
		var logBuf syncBuffer
		s, addr := startServer(t, rec, Config{Backend: backend, ErrorLog: log.New(&logBuf, "", 0)})

		a := dial(t, addr) // panics in OnOpen
		defer a.Close()
		var pe *tevent.PanicError
		if err := waitFor(t, "close A", closeErrs); !errors.As(err, &pe) || pe.Value != "boom in OnOpen" {
			t.Fatalf("A's close reason %v, want a *tevent.PanicError of the OnOpen panic", err)
		}
		if want := "tevent: panic in the tserver handler's OnOpen: boom in OnOpen\n"; !strings.HasPrefix(pe.Error(), want) {
			t.Fatalf("A's close reason says %q, want it to begin %q", pe.Error(), want)
		}
		if rest, _ := readToEOF(a); len(rest) != 0 {
			t.Fatalf("A got %q", rest)
		}

		b := dial(t, addr)
		defer b.Close()
		echoOnce(t, b, []byte("fine"))
		b.Write([]byte("data")) // panics in OnData
		err := waitFor(t, "close B", closeErrs)
		if !errors.As(err, &pe) || !errors.Is(err, errBoomData) || len(pe.Stack) == 0 {
			t.Fatalf("B's close reason %v, want a *tevent.PanicError of the OnData panic with its stack", err)
		}
		if want := "tevent: panic in the tserver handler's OnData: boom in OnData\n"; !strings.HasPrefix(pe.Error(), want) {
			t.Fatalf("B's close reason says %q, want it to begin %q", pe.Error(), want)
		}
		if rest, _ := readToEOF(b); len(rest) != 0 {
			t.Fatalf("B got %q after the panic: staged output must be dropped", rest)
		}

		c := dial(t, addr)
		defer c.Close()
		c.Write([]byte("close")) // OnClose panics
		readToEOF(c)
		c.Close() // the server lingers for the peer's close
		if err := waitFor(t, "close C", closeErrs); err != nil {
			t.Fatalf("C's close reason %v, want nil", err)
		}

		d := dial(t, addr) // still serving
		defer d.Close()
		echoOnce(t, d, []byte("still here"))
		if n := s.Stats().Panics; n != 3 {
			t.Errorf("Stats.Panics = %d, want 3", n)
		}
		logged := logBuf.String()
		for _, want := range []string{"boom in OnOpen", "boom in OnData", "boom in OnClose", "goroutine ", "panic_test.go"} {
			if !strings.Contains(logged, want) {
				t.Errorf("log lacks %q:\n%s", want, logged)
			}
		}
	})
}

// With PropagatePanics the panic leaves the loop call, for the caller to
// handle.
func TestServerHandlerPanicPropagates(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		ev, err := tevent.New(tevent.WithBackend(backend))
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Free()
		rec := newRecorder()
		rec.data = func(c *Conn, in []byte) int { panic("propagate me") }
		s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}, PropagatePanics: true})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.Listen("tcp", "127.0.0.1:0")
		cl := dial(t, a.String())
		defer cl.Close()
		cl.Write([]byte("x"))
		var got any
		for got == nil {
			func() {
				defer func() { got = recover() }()
				if err := ev.LoopOnce(); err != nil {
					t.Fatal(err)
				}
			}()
		}
		if got != "propagate me" {
			t.Fatalf("recovered %v", got)
		}
		s.Close()
		for s.left.Load() > 0 {
			if err := ev.LoopOnce(); err != nil {
				t.Fatal(err)
			}
		}
		waitServer(t, s)
	})
}
