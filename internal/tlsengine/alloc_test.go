package tlsengine

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
)

// TestAllocsPerRecord measures the allocations of the steady path after
// the handshake, per record: encrypting one with AppendWrite into a
// caller's buffer (none), and feeding one and reading until ErrWouldBlock
// (one, crypto/tls's: readFromUntil's &atLeastReader{} escapes, conn.go,
// once per record; the would-block answer after the record comes from the
// engine without asking crypto/tls, Engine.quiet). The
// engine's own code (adapter, pooled buffers) allocates nothing, which
// TestAdapterAllocs pins. The figures are pinned at what Go 1.26 gives:
// a change is worth knowing about.
func TestAllocsPerRecord(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("allocation counts are checked in full runs without -race")
	}
	p := testPKI(t)
	for _, size := range []int{64, 4096, 16384} {
		pair := newEnginePair(t, Config{TLS: p.clientConfig()}, Config{TLS: p.serverConfig()})
		defer pair.close()
		if err := pair.handshake(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 32768)
		pair.c.Read(buf) // the client takes its session tickets
		msg := bytes.Repeat([]byte{'x'}, size)
		out := make([]byte, 0, 2*size+1024)

		const runs = 200
		records := make([][]byte, 0, runs+1)
		arena := make([]byte, 0, (runs+1)*(size+64)) // records copied here: no allocation in the measured code
		write := testing.AllocsPerRun(runs, func() {
			var err error
			out, _, err = pair.c.AppendWrite(out[:0], msg)
			if err != nil {
				t.Fatal(err)
			}
			k := len(arena)
			arena = append(arena, out...)
			records = append(records, arena[k:len(arena):len(arena)])
		})
		i := 0
		read := testing.AllocsPerRun(runs, func() {
			if err := pair.s.Feed(records[i]); err != nil {
				t.Fatal(err)
			}
			i++
			n := 0
			for {
				k, err := pair.s.Read(buf)
				n += k
				if err == ErrWouldBlock {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if n != size {
				t.Fatalf("read %d bytes, want %d", n, size)
			}
		})
		t.Logf("%5d-byte message: AppendWrite %.1f allocs, Feed+Read %.1f allocs", size, write, read)
		if write != 0 || read != 1 {
			t.Errorf("%d-byte message: AppendWrite %v allocs, Feed+Read %v allocs; want 0 and 1 (crypto/tls's atLeastReader)", size, write, read)
		}
	}
}

// TestAdapterAllocs pins the engine's own share of the steady path at
// zero: feeding bytes, handing them to crypto/tls, taking ciphertext
// from it and draining the output, pooled buffers taken and given back.
func TestAdapterAllocs(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("allocation counts are checked in full runs without -race")
	}
	a := &adapter{}
	in := bytes.Repeat([]byte{'c'}, 4096)
	buf := make([]byte, 4096)
	dst := make([]byte, 0, 8192)
	n := testing.AllocsPerRun(1000, func() {
		a.feed(in)
		for {
			if _, err := a.Read(buf); err != nil {
				break
			}
		}
		a.Write(in)
		dst = a.drainOut(dst[:0])
		a.directOn, a.out = true, dst[:0]
		a.Write(in)
		dst, a.out, a.directOn = a.out, nil, false
	})
	if n != 0 {
		t.Fatalf("adapter round: %v allocations, want 0", n)
	}
	if a.in != nil || a.out != nil {
		t.Fatal("adapter holds buffers after they were emptied")
	}
}

// BenchmarkRecordRoundTrip is one message each way between two engines
// after the handshake: encrypt, feed, decrypt, twice.
func BenchmarkRecordRoundTrip(b *testing.B) {
	p := testPKI(b)
	for _, size := range []int{64, 4096} {
		b.Run(map[int]string{64: "64B", 4096: "4KiB"}[size], func(b *testing.B) {
			pair := newEnginePair(b, Config{TLS: p.clientConfig()}, Config{TLS: p.serverConfig()})
			defer pair.close()
			if err := pair.handshake(); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 32768)
			pair.c.Read(buf)
			msg := bytes.Repeat([]byte{'x'}, size)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(2 * size))
			for b.Loop() {
				for _, e := range [][2]*Engine{{pair.c, pair.s}, {pair.s, pair.c}} {
					out, _, _ = e[0].AppendWrite(out[:0], msg)
					e[1].Feed(out)
					for {
						if _, err := e[1].Read(buf); err != nil {
							break
						}
					}
				}
			}
		})
	}
}

// BenchmarkHandshake is one client and one server engine handshaking in
// memory (both sides' CPU, and the handshake goroutines' hand-offs).
func BenchmarkHandshake(b *testing.B) {
	p := testPKI(b)
	b.ReportAllocs()
	for b.Loop() {
		pair := newEnginePair(b, Config{TLS: p.clientConfig()}, Config{TLS: p.serverConfig()})
		if err := pair.handshake(); err != nil {
			b.Fatal(err)
		}
		pair.close()
	}
}

// BenchmarkHandshakeStock is BenchmarkHandshake's reference: a stock
// crypto/tls client and server over a net.Pipe, each on a goroutine.
func BenchmarkHandshakeStock(b *testing.B) {
	p := testPKI(b)
	scfg, ccfg := p.serverConfig(), p.clientConfig()
	b.ReportAllocs()
	for b.Loop() {
		x, y := net.Pipe()
		s, c := tls.Server(x, scfg), tls.Client(y, ccfg)
		errc := make(chan error, 1)
		go func() { errc <- s.Handshake() }()
		if err := c.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		x.Close()
		y.Close()
	}
}
