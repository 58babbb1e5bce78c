package tsocket_test

import (
	"testing"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tsocket"
	"github.com/gotevent/tevent/tsocket/streamtest"
)

// TestConformanceTLS runs the stream suite on TLS streams: over unix
// socket pairs (every backend), and over memory pairs with the default
// buffer and a small one that splits every large record.
func TestConformanceTLS(t *testing.T) {
	for _, be := range tevent.Backends() {
		t.Run("socketpair/"+be, func(t *testing.T) {
			streamtest.Run(t, func(t *testing.T) (*tsocket.Stream, *tsocket.Stream, *tevent.Context) {
				ev := newContext(t, be)
				a, b, err := tsocket.StreamPair(ev)
				if err != nil {
					t.Fatal(err)
				}
				c, s := tsocket.TLSTestPair(t, ev, a, b)
				return c, s, ev
			})
		})
	}
	// The small buffer splits every record but a tiny one; it is not 7
	// bytes as for the plain memory pair: the suite's "Pending is 0, so
	// the read has the bytes" does not hold while a 24-byte record is
	// still on its way through a 7-byte pipe (CancelNoByteMoved).
	for _, size := range []int{tsocket.DefaultMemoryBuffer, 100} {
		t.Run(map[bool]string{true: "memory", false: "memory-small"}[size == tsocket.DefaultMemoryBuffer], func(t *testing.T) {
			streamtest.Run(t, func(t *testing.T) (*tsocket.Stream, *tsocket.Stream, *tevent.Context) {
				ev := newContext(t, tevent.Backends()[0])
				a, b, err := tsocket.MemoryPairSize(ev, size)
				if err != nil {
					t.Fatal(err)
				}
				c, s := tsocket.TLSTestPair(t, ev, a, b)
				return c, s, ev
			})
		})
	}
}
