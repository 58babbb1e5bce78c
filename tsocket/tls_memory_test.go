package tsocket

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/gotevent/tevent"
)

// TestTLSAllocsPerMessage pins the TLS hot path: a 16-byte message
// written with Writev and read with Readv on TLS streams allocates what
// the same message on the socket streams under them does, plus what
// crypto/tls allocates itself (one small value per record read; the
// engine answers "would block" without it; internal/tlsengine's
// TestAllocsPerRecord).
func TestTLSAllocsPerMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	checkFDs(t)
	ev, err := tevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	s := &ev.Scope
	out, in := []byte("0123456789abcdef"), make([]byte, 16)
	roundTrip := func(a, b *Stream) float64 {
		return testing.AllocsPerRun(200, func() {
			w := a.Writev(s, out)
			r := b.Readv(s, in)
			for r.IsInProgress() || w.IsInProgress() {
				if err := ev.LoopOnce(); err != nil {
					t.Fatal(err)
				}
			}
			w.Result()
			r.Result()
		})
	}
	pa, pb := pair(t, ev)
	plain := roundTrip(pa, pb)
	a, b := pair(t, ev)
	c, srv := TLSTestPair(t, ev, a, b)
	tlsMsg := roundTrip(c, srv)
	t.Logf("allocations per message (a Writev and a Readv of 16 bytes): socket %.1f, TLS %.1f", plain, tlsMsg)
	// crypto/tls: one for the record read.
	if tlsMsg > plain+1 && !raceEnabled {
		t.Errorf("TLS: %.1f allocations per message, want at most %.1f (the socket's + crypto/tls's 1)", tlsMsg, plain+1)
	}
	c.Free()
	srv.Free()
}

// TestTLSIdleMemory measures the heap held per idle TLS stream (both ends
// of TLSTestPair over socket pairs, the socket streams included and then
// subtracted): after the handshake, after a small record each way, after
// a 16 KiB record each way. TSOCKET_TLS_MEM_N sets the number of pairs
// (default 100; the documented figures use 1000, i.e. 2,000 streams).
func TestTLSIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	n := 100
	if v, err := strconv.Atoi(os.Getenv("TSOCKET_TLS_MEM_N")); err == nil && v > 0 {
		n = v
	}
	checkFDs(t)
	ev, err := tevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc)
	}
	p := testPKI()
	ccfg, scfg := p.clientConfig(), p.serverConfig()
	base := heap()
	plainA, plainB := make([]*Stream, n), make([]*Stream, n)
	for i := range n {
		plainA[i], plainB[i] = pair(t, ev)
	}
	plain := heap()
	cr, sr := make([]*tevent.Req[*Stream], n), make([]*tevent.Req[*Stream], n)
	for i := range n {
		cr[i] = TLSConnect(ev, plainA[i], ccfg)
		sr[i] = TLSAccept(ev, plainB[i], scfg)
	}
	done := 0
	drive(t, ev, func() bool {
		for done < n && !cr[done].IsInProgress() && !sr[done].IsInProgress() {
			done++
		}
		return done == n
	})
	cs, ss := make([]*Stream, n), make([]*Stream, n)
	for i := range n {
		var err1, err2 error
		cs[i], err1 = cr[i].Result()
		ss[i], err2 = sr[i].Result()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
	}
	clear(cr)
	clear(sr)
	clear(plainA)
	clear(plainB)
	idle := heap()
	exchange := func(size int) float64 {
		msg, buf := make([]byte, size), make([]byte, size)
		for i := range n {
			for _, d := range [][2]*Stream{{cs[i], ss[i]}, {ss[i], cs[i]}} {
				w := d[0].Writev(ev, msg)
				r := d[1].Readv(ev, buf)
				drive(t, ev, func() bool { return !w.IsInProgress() && !r.IsInProgress() })
				if _, err := r.Result(); err != nil {
					t.Fatal(err)
				}
				w.Result()
			}
		}
		return heap()
	}
	small := exchange(64)
	large := exchange(16384)
	per := func(h float64) float64 { return (h - plain) / float64(2*n) / 1024 }
	t.Logf("%d TLS streams: socket stream %.2f KB each; TLS on top of it, idle: %.1f KB after the handshake, %.1f KB after a 64 B record each way, %.1f KB after a 16 KiB record each way",
		2*n, (plain-base)/float64(2*n)/1024, per(idle), per(small), per(large))
	for i := range n {
		cs[i].Free()
		ss[i].Free()
	}
}

// BenchmarkTLSHandshake is one TLS 1.3 handshake (ECDSA P-256,
// X25519MLKEM768 by Go's defaults) between TLSConnect and TLSAccept over
// a socket pair on one loop: both sides' CPU, the handshake goroutines
// and their hand-offs to the loop included.
func BenchmarkTLSHandshake(b *testing.B) {
	ev, err := tevent.New()
	if err != nil {
		b.Fatal(err)
	}
	defer ev.Free()
	p := testPKI()
	ccfg, scfg := p.clientConfig(), p.serverConfig()
	b.ReportAllocs()
	for b.Loop() {
		x, y := pair(b, ev)
		c, s := tlsHandshake(b, ev, x, y, ccfg, scfg)
		c.Free()
		s.Free()
	}
}

// BenchmarkTLSHandshakeProxy is the cost of the ThreadProxy each
// handshake makes and frees (the alternative, one proxy per loop shared
// by its TLS streams, would save this per handshake).
func BenchmarkTLSHandshakeProxy(b *testing.B) {
	ev, err := tevent.New()
	if err != nil {
		b.Fatal(err)
	}
	defer ev.Free()
	b.ReportAllocs()
	for b.Loop() {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			b.Fatal(err)
		}
		tp.Free()
		ev.LoopOnce() // the free is handed to the loop
	}
}
