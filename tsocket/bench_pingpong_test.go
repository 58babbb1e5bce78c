package tsocket

import (
	"testing"

	"github.com/gotevent/tevent"
)

// BenchmarkStreamPingPong: one byte each way over a socket pair, the read
// started before the write so that it waits and wakes up through the loop.
func BenchmarkStreamPingPong(b *testing.B) {
	ev, err := tevent.New()
	if err != nil {
		b.Fatal(err)
	}
	defer ev.Free()
	x, y := pair(b, ev)
	out, in := []byte{1}, make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		r := y.Readv(ev, in)
		w := x.Writev(ev, out)
		for r.IsInProgress() || w.IsInProgress() {
			if err := ev.LoopOnce(); err != nil {
				b.Fatal(err)
			}
		}
		w.Result()
		r.Result()
	}
}
