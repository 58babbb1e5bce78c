package tlsengine

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestIdleMemory measures the heap an idle server engine holds (its
// tls.Conn included), after the handshake, after a 1 KiB record and
// after a 16 KiB record, for N engines (TLSENGINE_MEM_N, default 200;
// the report uses 2000): heap after GC with the engines alive, minus
// before, over N. Whatever the numbers, every idle engine must hold no
// adapter buffer: that is asserted. crypto/tls's own input buffer grows
// to the largest record seen and never shrinks (golang/go#43563): the
// figures show it.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory is measured in full runs")
	}
	n := 200
	if s := os.Getenv("TLSENGINE_MEM_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("TLSENGINE_MEM_N=%q", s)
		}
	}
	p := testPKI(t)
	scfg := p.serverConfig()
	for _, phase := range []struct {
		name   string
		record int
	}{{"after the handshake", 0}, {"after a 1 KiB record", 1024}, {"after a 16 KiB record", 16384}} {
		ccfg := p.clientConfig()
		ccfg.DynamicRecordSizingDisabled = true // the record is sent whole
		msg := bytes.Repeat([]byte{'m'}, phase.record)
		buf := make([]byte, 32768)
		before := heapAfterGC()
		servers := make([]*Engine, n)
		for i := range servers {
			pair := newEnginePair(t, Config{TLS: ccfg}, Config{TLS: scfg})
			if err := pair.handshake(); err != nil {
				t.Fatal(err)
			}
			pair.c.Read(buf) // session tickets
			if phase.record > 0 {
				out, _, err := pair.c.AppendWrite(nil, msg)
				if err != nil {
					t.Fatal(err)
				}
				pair.s.Feed(out)
				if got := readAll(t, pair.s, nil, buf); len(got) != len(msg) {
					t.Fatalf("read %d bytes, want %d", len(got), len(msg))
				}
			}
			pair.c.Close()
			servers[i] = pair.s
		}
		after := heapAfterGC()
		for _, e := range servers {
			if e.ad.in != nil || e.ad.out != nil || e.hs != nil {
				t.Fatalf("%s: an idle engine holds buffers or handshake state", phase.name)
			}
		}
		if !raceEnabled {
			t.Logf("%-22s %6.0f bytes per idle server engine (N=%d)", phase.name, float64(int64(after)-int64(before))/float64(n), n)
		}
		for _, e := range servers {
			e.Close()
		}
		runtime.KeepAlive(servers)
	}
}

// heapAfterGC is the live heap after two collections (the second frees
// what the first's finalizers and pool clean-up released).
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
