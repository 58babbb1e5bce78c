package tsocket_test

import (
	"testing"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tsocket"
	"github.com/gotevent/tevent/tsocket/streamtest"
)

// newContext returns a context of the named backend, freed after the test.
func newContext(t *testing.T, backend string) *tevent.Context {
	t.Helper()
	ev, err := tevent.New(tevent.WithBackend(backend))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ev.Free)
	return ev
}

// TestConformanceSocketPair runs the stream suite on unix socket pairs,
// on every backend.
func TestConformanceSocketPair(t *testing.T) {
	for _, be := range tevent.Backends() {
		t.Run(be, func(t *testing.T) {
			streamtest.Run(t, func(t *testing.T) (*tsocket.Stream, *tsocket.Stream, *tevent.Context) {
				ev := newContext(t, be)
				a, b, err := tsocket.StreamPair(ev)
				if err != nil {
					t.Fatal(err)
				}
				return a, b, ev
			})
		})
	}
}

// TestConformanceTCP runs the stream suite on TCP connections over
// loopback.
func TestConformanceTCP(t *testing.T) {
	streamtest.Run(t, func(t *testing.T) (*tsocket.Stream, *tsocket.Stream, *tevent.Context) {
		ev := newContext(t, tevent.Backends()[0])
		la, _ := tsocket.InetAddress("ipv4", "127.0.0.1", 0)
		l, err := tsocket.Listen(ev, la, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Free()
		acc := l.Accept(ev)
		c := tsocket.Connect(ev, tsocket.Address{}, l.Addr())
		if err := c.Poll(ev); err != nil {
			t.Fatal(err)
		}
		a, err := c.Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := acc.Poll(ev); err != nil {
			t.Fatal(err)
		}
		b, err := acc.Result()
		if err != nil {
			t.Fatal(err)
		}
		return a, b, ev
	})
}

// TestConformanceMemory runs the stream suite on memory pairs, with the
// default buffer and with a tiny one that splits every write.
func TestConformanceMemory(t *testing.T) {
	for _, size := range []int{tsocket.DefaultMemoryBuffer, 7} {
		t.Run(map[bool]string{true: "default", false: "tiny"}[size == tsocket.DefaultMemoryBuffer], func(t *testing.T) {
			streamtest.Run(t, func(t *testing.T) (*tsocket.Stream, *tsocket.Stream, *tevent.Context) {
				ev := newContext(t, tevent.Backends()[0])
				a, b, err := tsocket.MemoryPairSize(ev, size)
				if err != nil {
					t.Fatal(err)
				}
				return a, b, ev
			})
		})
	}
}
