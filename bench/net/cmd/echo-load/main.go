// Command echo-load is the closed-loop echo load generator of
// bench/run.sh net: every echo cell of its tables is one run of it.
//
// Each connection keeps -pipeline messages of -size bytes in flight: it
// writes a message, reads until the whole message has come back, checks
// every byte (an 8-byte sequence number followed by a per-connection
// pattern), records the round trip in a log-linear histogram, and sends the
// next one. With -pipeline 1 one goroutine per connection does write-then-
// read; with -pipeline K>1 a writer and a reader goroutine per connection
// share K tokens. Only messages that complete inside the measured window
// (after -warmup, for -duration) count. Output, one line on stdout:
//
//	ECHO impl=<name> conns=N size=B msgs_per_s=<x> p50_us=<x> p99_us=<x> errors=<n>
//
// (" pipeline=K" is added after size when K != 1.) With -server-pid PID a
// second line gives the CPU time the server and this process used inside
// the measured window (from /proc/PID/stat, 10 ms ticks), as % of one core,
// and the server's CPU microseconds per echoed message:
//
//	CPU impl=<name> conns=N size=B srv_cpu_pct=<x> srv_us_per_msg=<x> load_cpu_pct=<x> other_cpu_pct=<x> irq_cpu_pct=<x> steal_pct=<x>
//
// other_cpu_pct is busy CPU time of the whole machine (user+nice+system+
// irq+softirq from /proc/stat, all CPUs) that is not in the server's or
// this process's utime+stime: other programs, plus softirq work done in
// ksoftirqd or on an idle CPU (small here). With tick-based accounting a
// task's stime includes the softirq ticks taken while it ran, so irq time
// is counted on both sides. irq_cpu_pct is the irq+softirq part alone
// (mostly loopback TCP), steal_pct the time the hypervisor took. All in %
// of one core.
//
// -tls: every connection is a crypto/tls client (TLS 1.3 unless
// -tls-version 1.2, InsecureSkipVerify, key exchange X25519 only, no
// session resumption); all handshakes finish while dialing, before the
// warm-up. The ECHO line then carries " tls=1.3" after size.
//
// -handshakes (implies -tls): each connection loops dial, handshake, one
// -size echo, close (client close_notify first); a completed cycle counts
// once, its whole time is the latency. Output:
//
//	HANDSHAKE impl=<name> conns=N size=B tls=1.3 handshakes_per_s=<x> p50_us=<x> p99_us=<x> errors=<n>
//	CPU impl=<name> conns=N size=B tls=1.3 srv_cpu_pct=<x> srv_us_per_hs=<x> load_cpu_pct=<x> other_cpu_pct=<x> irq_cpu_pct=<x> steal_pct=<x>
//
// With -tls, the negotiated version, cipher suite and key exchange of the
// first connection are noted on stderr.
//
// Meant to run with
// GOMAXPROCS=1 pinned to one core, the server on the other; see README.md.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

type result struct {
	h      hist
	msgs   uint64
	errors uint64
	first  error
}

func (r *result) fail(err error) {
	r.errors++
	if r.first == nil {
		r.first = err
	}
}

func pattern(id, size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(id*131 + i*7 + 1)
	}
	return p
}

// stamp writes seq into the first bytes of msg (as many as fit).
func stamp(msg []byte, seq uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	copy(msg, b[:])
}

// check reports whether got is message seq of this connection.
func check(got, pat []byte, seq uint64) bool {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	n := min(8, len(got))
	return bytes.Equal(got[:n], b[:n]) && bytes.Equal(got[n:], pat[n:])
}

// runSerial: pipeline 1, one goroutine, write then read.
func runSerial(c net.Conn, id, size int, phase *atomic.Int32, r *result) {
	pat := pattern(id, size)
	out := make([]byte, size)
	in := make([]byte, size)
	copy(out, pat)
	for seq := uint64(0); phase.Load() != phaseStop; seq++ {
		stamp(out, seq)
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			r.fail(fmt.Errorf("write: %w", err))
			return
		}
		if _, err := io.ReadFull(c, in); err != nil {
			r.fail(fmt.Errorf("read: %w", err))
			return
		}
		d := time.Since(t0)
		if !check(in, pat, seq) {
			r.fail(fmt.Errorf("message %d: echoed bytes differ", seq))
			return
		}
		if phase.Load() == phaseMeasure {
			r.h.record(int64(d))
			r.msgs++
		}
	}
}

// runPipelined: K messages in flight, writer and reader goroutines.
func runPipelined(c net.Conn, id, size, k int, phase *atomic.Int32, r *result) {
	pat := pattern(id, size)
	tokens := make(chan struct{}, k)
	for i := 0; i < k; i++ {
		tokens <- struct{}{}
	}
	sent := make(chan time.Time, k)
	var werr error
	done := make(chan struct{})
	go func() { // writer
		defer close(done)
		defer close(sent)
		out := make([]byte, size)
		copy(out, pat)
		for seq := uint64(0); ; seq++ {
			<-tokens
			if phase.Load() == phaseStop {
				return
			}
			stamp(out, seq)
			t0 := time.Now()
			if _, err := c.Write(out); err != nil {
				werr = fmt.Errorf("write: %w", err)
				return
			}
			sent <- t0
		}
	}()
	in := make([]byte, size)
	var seq uint64
	var rerr error
	for t0 := range sent { // reader
		// After an error keep draining and handing tokens back: the
		// writer then fails on the closed connection and closes sent.
		if rerr == nil {
			if _, err := io.ReadFull(c, in); err != nil {
				rerr = fmt.Errorf("read: %w", err)
				c.Close()
			} else if d := time.Since(t0); !check(in, pat, seq) {
				rerr = fmt.Errorf("message %d: echoed bytes differ", seq)
				c.Close()
			} else if phase.Load() == phaseMeasure {
				r.h.record(int64(d))
				r.msgs++
			}
			seq++
		}
		tokens <- struct{}{}
	}
	<-done
	if rerr != nil {
		r.fail(rerr)
	} else if werr != nil {
		r.fail(werr)
	}
}

// runHandshakes: -handshakes, one goroutine per connection slot: dial,
// TLS handshake, one echo, close, again.
func runHandshakes(addr string, cfg *tls.Config, id, size int, phase *atomic.Int32, deadline time.Time, r *result) {
	pat := pattern(id, size)
	out := make([]byte, size)
	in := make([]byte, size)
	copy(out, pat)
	for seq := uint64(0); phase.Load() != phaseStop; seq++ {
		stamp(out, seq)
		t0 := time.Now()
		c, err := dial(addr, cfg, time.Until(deadline))
		if err != nil {
			r.fail(err)
			return
		}
		_ = c.SetDeadline(deadline)
		if _, err := c.Write(out); err != nil {
			c.Close()
			r.fail(fmt.Errorf("write: %w", err))
			return
		}
		if _, err := io.ReadFull(c, in); err != nil {
			c.Close()
			r.fail(fmt.Errorf("read: %w", err))
			return
		}
		c.Close()
		d := time.Since(t0)
		if !check(in, pat, seq) {
			r.fail(fmt.Errorf("message %d: echoed bytes differ", seq))
			return
		}
		if phase.Load() == phaseMeasure {
			r.h.record(int64(d))
			r.msgs++
		}
	}
}

// dial connects and, with cfg, completes a TLS handshake.
func dial(addr string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil || cfg == nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

func dialAll(addr string, cfg *tls.Config, n, parallel int, timeout time.Duration) ([]net.Conn, []error) {
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(1, parallel))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i], errs[i] = dial(addr, cfg, timeout)
		}(i)
	}
	wg.Wait()
	return conns, errs
}

// clientTLS is the client configuration of -tls: version pinned, X25519
// only (Go would otherwise offer X25519MLKEM768, which only the crypto/tls
// servers accept), no session cache, so every handshake is a full one.
func clientTLS(version string) (*tls.Config, error) {
	v := map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}[version]
	if v == 0 {
		return nil, fmt.Errorf("-tls-version %q: want 1.2 or 1.3", version)
	}
	return &tls.Config{
		InsecureSkipVerify: true,
		MinVersion:         v,
		MaxVersion:         v,
		CurvePreferences:   []tls.CurveID{tls.X25519},
	}, nil
}

func noteTLS(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		fmt.Fprintf(os.Stderr, "echo-load: tls %s %s %s\n", tls.VersionName(st.Version),
			tls.CipherSuiteName(st.CipherSuite), st.CurveID)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "server address")
	impl := flag.String("impl", "", "implementation name for the report line (default: -addr)")
	nconns := flag.Int("conns", 1, "connections")
	size := flag.Int("size", 64, "message size in bytes")
	duration := flag.Duration("duration", 5*time.Second, "measured time")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "unmeasured time before it")
	pipeline := flag.Int("pipeline", 1, "messages in flight per connection")
	dialPar := flag.Int("dial-parallel", 64, "concurrent dials while connecting")
	serverPID := flag.Int("server-pid", 0, "server PID: also report its CPU use in the measured window")
	useTLS := flag.Bool("tls", false, "TLS client connections (handshake before the warm-up)")
	tlsVersion := flag.String("tls-version", "1.3", "TLS version with -tls: 1.3 or 1.2")
	handshakes := flag.Bool("handshakes", false, "measure handshakes: dial, handshake, one echo, close, repeat (implies -tls)")
	verbose := flag.Bool("v", false, "extra detail on stderr")
	flag.Parse()
	if *impl == "" {
		*impl = *addr
	}
	if *nconns < 1 || *size < 1 || *pipeline < 1 || *duration <= 0 {
		fmt.Fprintln(os.Stderr, "echo-load: -conns, -size, -pipeline and -duration must be positive")
		os.Exit(2)
	}
	if *handshakes {
		*useTLS = true
		if *pipeline != 1 {
			fmt.Fprintln(os.Stderr, "echo-load: -handshakes takes no -pipeline")
			os.Exit(2)
		}
	}
	var tlsCfg *tls.Config
	if *useTLS {
		var err error
		if tlsCfg, err = clientTLS(*tlsVersion); err != nil {
			fmt.Fprintln(os.Stderr, "echo-load:", err)
			os.Exit(2)
		}
	}
	if runtime.GOMAXPROCS(0) != 1 {
		fmt.Fprintf(os.Stderr, "echo-load: note: GOMAXPROCS=%d (the benchmark setup uses 1)\n", runtime.GOMAXPROCS(0))
	}

	var conns []net.Conn
	var dialErrs []error
	if *handshakes {
		// the connections are made inside the run
		conns, dialErrs = make([]net.Conn, *nconns), make([]error, *nconns)
	} else {
		conns, dialErrs = dialAll(*addr, tlsCfg, *nconns, *dialPar, 10*time.Second)
	}
	var dialFailed uint64
	var firstDialErr error
	for _, err := range dialErrs {
		if err != nil {
			dialFailed++
			if firstDialErr == nil {
				firstDialErr = err
			}
		}
	}
	if *useTLS && !*handshakes {
		for _, c := range conns {
			if c != nil {
				noteTLS(c)
				break
			}
		}
	}

	var phase atomic.Int32
	results := make([]result, *nconns)
	// Safety net: nothing may block past the run by more than 10 s.
	hardStop := time.Now().Add(*warmup + *duration + 10*time.Second)
	var wg sync.WaitGroup
	if *handshakes {
		if c, err := dial(*addr, tlsCfg, 10*time.Second); err == nil {
			noteTLS(c)
			c.Close()
		}
		for i := range conns {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				runHandshakes(*addr, tlsCfg, i, *size, &phase, hardStop, &results[i])
			}(i)
		}
	}
	for i, c := range conns {
		if c == nil {
			continue
		}
		_ = c.SetDeadline(hardStop)
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			if *pipeline == 1 {
				runSerial(c, i, *size, &phase, &results[i])
			} else {
				runPipelined(c, i, *size, *pipeline, &phase, &results[i])
			}
		}(i, c)
	}

	srvPID := strconv.Itoa(*serverPID)
	var srv0, srv1, self0, self1 int64
	var task0, task1, irq0, irq1, steal0, steal1 int64
	var cpuErr error
	sample := func(srv, self, task, irq, steal *int64) {
		var err error
		if *task, *irq, *steal, err = machineTicks(); err != nil && cpuErr == nil {
			cpuErr = err
		}
		if *serverPID > 0 {
			if *srv, err = cpuTicks(srvPID); err != nil && cpuErr == nil {
				cpuErr = err
			}
		}
		if *self, err = cpuTicks("self"); err != nil && cpuErr == nil {
			cpuErr = err
		}
	}

	time.Sleep(*warmup)
	sample(&srv0, &self0, &task0, &irq0, &steal0)
	phase.Store(phaseMeasure)
	t0 := time.Now()
	time.Sleep(*duration)
	phase.Store(phaseStop)
	elapsed := time.Since(t0)
	sample(&srv1, &self1, &task1, &irq1, &steal1)
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}

	var total hist
	var msgs uint64
	errors := dialFailed
	firstErr := firstDialErr
	for i := range results {
		total.merge(&results[i].h)
		msgs += results[i].msgs
		errors += results[i].errors
		if firstErr == nil && results[i].first != nil {
			firstErr = results[i].first
		}
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "echo-load: %d errors, first: %v\n", errors, firstErr)
	}
	if *verbose {
		fmt.Fprintf(os.Stderr, "echo-load: msgs=%d elapsed=%v p90_us=%.1f p999_us=%.1f max_us=%.1f\n",
			msgs, elapsed, us(total.quantile(0.90)), us(total.quantile(0.999)), us(total.max))
	}
	pl := ""
	if *pipeline != 1 {
		pl = fmt.Sprintf(" pipeline=%d", *pipeline)
	}
	if *useTLS {
		pl += " tls=" + *tlsVersion
	}
	kind, rate, per := "ECHO", "msgs_per_s", "srv_us_per_msg"
	if *handshakes {
		kind, rate, per = "HANDSHAKE", "handshakes_per_s", "srv_us_per_hs"
	}
	fmt.Printf("%s impl=%s conns=%d size=%d%s %s=%.0f p50_us=%.1f p99_us=%.1f errors=%d\n",
		kind, *impl, *nconns, *size, pl, rate, float64(msgs)/elapsed.Seconds(),
		us(total.quantile(0.50)), us(total.quantile(0.99)), errors)
	if *serverPID > 0 {
		if cpuErr != nil {
			fmt.Fprintln(os.Stderr, "echo-load: cpu:", cpuErr)
		} else {
			srvSec := float64(srv1-srv0) / userHZ
			perMsg := 0.0
			if msgs > 0 {
				perMsg = srvSec * 1e6 / float64(msgs)
			}
			pct := func(ticks int64) float64 { return 100 * float64(ticks) / userHZ / elapsed.Seconds() }
			other := (task1 - task0) + (irq1 - irq0) - (srv1 - srv0) - (self1 - self0)
			fmt.Printf("CPU impl=%s conns=%d size=%d%s srv_cpu_pct=%.0f %s=%.2f load_cpu_pct=%.0f other_cpu_pct=%.0f irq_cpu_pct=%.0f steal_pct=%.0f\n",
				*impl, *nconns, *size, pl, 100*srvSec/elapsed.Seconds(), per, perMsg,
				pct(self1-self0), pct(max(other, 0)), pct(irq1-irq0), pct(steal1-steal0))
		}
	}
	if errors > 0 {
		os.Exit(1)
	}
}

func us(ns uint64) float64 { return float64(ns) / 1e3 }
