package tsocket

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"go.uber.org/goleak"
)

// acceptTLS accepts one TCP connection on l and runs the server handshake
// on it; the request is returned unfinished.
func acceptTLS(t testing.TB, ev *tevent.Context, l *Listener, cfg *tls.Config, opts TLSOptions) *tevent.Req[*Stream] {
	t.Helper()
	acc := l.Accept(ev)
	drive(t, ev, func() bool { return !acc.IsInProgress() })
	plain, err := acc.Result()
	if err != nil {
		t.Fatal(err)
	}
	return opts.Accept(ev, plain, cfg)
}

// dialGo dials l's address from Go's net package with TCP_NODELAY.
func dialGo(l *Listener) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", l.Addr().AddrPort().String(), testTimeout)
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	tc.SetNoDelay(true)
	tc.SetDeadline(time.Now().Add(testTimeout))
	return tc, nil
}

// TestTLSStockGoClient: a stock crypto/tls client (tls.Client over a real
// loopback socket, on a goroutine) talks to TLSAccept: echo, then the
// client's close_notify is io.EOF on the loop.
func TestTLSStockGoClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *tevent.Context) {
		p := testPKI()
		l := listenLoop(t, ev)
		client := goResult(func() error {
			raw, err := dialGo(l)
			if err != nil {
				return err
			}
			c := tls.Client(raw, p.clientConfig())
			defer c.Close()
			if _, err := c.Write([]byte("hello")); err != nil {
				return err
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			if string(buf) != "HELLO" {
				return fmt.Errorf("client read %q", buf)
			}
			return c.Close() // close_notify
		})
		sr := acceptTLS(t, ev, l, p.serverConfig(), TLSOptions{})
		st := must(t, ev, sr)
		buf := make([]byte, 5)
		must(t, ev, st.Readv(ev, buf))
		must(t, ev, st.Writev(ev, bytes.ToUpper(buf)))
		if _, err := wait(t, ev, st.Readv(ev, buf)); err != io.EOF {
			t.Fatalf("read after the client's close_notify: %v, want io.EOF", err)
		}
		if err := driveUntilResult(t, ev, client); err != nil {
			t.Fatal(err)
		}
		cs, ok := TLSState(st)
		if !ok || cs.Version != tls.VersionTLS13 || !cs.HandshakeComplete {
			t.Fatalf("TLSState = %+v, %v", cs, ok)
		}
		if ra, err := st.RemoteAddr(); err != nil || !ra.IsInet() {
			t.Fatalf("RemoteAddr of the TLS stream: %v, %v", ra, err)
		}
		st.Free()
	})
}

// TestTLSConnectStockGoServer: TLSConnect over tsocket.Connect to a stock
// crypto/tls server (tls.Listen on a goroutine), with ALPN.
func TestTLSConnectStockGoServer(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	scfg := p.serverConfig()
	scfg.NextProtos = []string{"h2", "tevent/1"}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	server := goResult(func() error {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if got := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; got != "tevent/1" {
			return fmt.Errorf("server ALPN %q", got)
		}
		_, err = c.Write(append(buf, '!'))
		return err
	})
	port := ln.Addr().(*net.TCPAddr).Port
	plain := must(t, ev, Connect(ev, Address{}, loopbackAddr(t, port)))
	ccfg := p.clientConfig()
	ccfg.NextProtos = []string{"tevent/1"}
	st := must(t, ev, TLSConnect(ev, plain, ccfg))
	if plain.Ops() != nil {
		t.Fatal("the plain stream still has its ops after TLSConnect")
	}
	must(t, ev, st.Writev(ev, []byte("ping")))
	buf := make([]byte, 5)
	must(t, ev, st.Readv(ev, buf))
	if string(buf) != "ping!" {
		t.Fatalf("read %q", buf)
	}
	if err := driveUntilResult(t, ev, server); err != nil {
		t.Fatal(err)
	}
	if cs, _ := TLSState(st); cs.NegotiatedProtocol != "tevent/1" || cs.PeerCertificates[0].Subject.CommonName != "server.test" {
		t.Fatalf("client state: ALPN %q, peer %v", cs.NegotiatedProtocol, cs.PeerCertificates[0].Subject)
	}
	// The stock server closed without waiting: its close_notify is EOF.
	if _, err := wait(t, ev, st.Readv(ev, buf)); err != io.EOF {
		t.Fatalf("read after the server's Close: %v, want io.EOF", err)
	}
	st.Free()
}

// serveOnce accepts one TLS connection and answers what answer returns
// for the bytes read up to (and including) the delimiter, then frees the
// stream (close_notify). It runs on the loop until done is set.
func serveOnce(t *testing.T, ev *tevent.Context, l *Listener, cfg *tls.Config, delim string, answer func(req string) string) (done *bool, errp *error) {
	done, errp = new(bool), new(error)
	finish := func(err error) { *done, *errp = true, err }
	acc := l.Accept(ev)
	acc.SetCallback(func(r *tevent.Req[*Stream]) {
		plain, err := r.Result()
		if err != nil {
			finish(err)
			return
		}
		hr := TLSAccept(ev, plain, cfg)
		hr.SetCallback(func(r *tevent.Req[*Stream]) {
			st, err := r.Result()
			if err != nil {
				finish(err)
				return
			}
			var got []byte
			one := make([]byte, 1)
			var next func()
			next = func() {
				rd := st.Readv(ev, one)
				rd.SetCallback(func(r *tevent.Req[int]) {
					if _, err := r.Result(); err != nil {
						st.Free()
						finish(err)
						return
					}
					got = append(got, one[0])
					if !strings.HasSuffix(string(got), delim) {
						next()
						return
					}
					wr := st.Writev(ev, []byte(answer(string(got))))
					wr.SetCallback(func(r *tevent.Req[int]) {
						_, err := r.Result()
						st.Free()
						finish(err)
					})
				})
			}
			next()
		})
	})
	return done, errp
}

// runTool runs a command on a goroutine while the loop serves, and
// returns its combined output.
func runTool(t *testing.T, ev *tevent.Context, done *bool, stdin string, name string, args ...string) string {
	t.Helper()
	var out []byte
	res := goResult(func() error {
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.WaitDelay = time.Second
		var err error
		timer := time.AfterFunc(testTimeout, func() { cmd.Process.Kill() })
		defer timer.Stop()
		out, err = cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	})
	if err := driveUntilResult(t, ev, res); err != nil {
		t.Fatal(err)
	}
	drive(t, ev, func() bool { return *done })
	return string(out)
}

// TestTLSOpenSSLClient: openssl s_client verifies the server against the
// test CA, sends a line and prints the answer.
func TestTLSOpenSSLClient(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (.ci/run installs it): apt-get install -y openssl")
	}
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	dir := p.writeFiles(t)
	l := listenLoop(t, ev)
	done, errp := serveOnce(t, ev, l, p.serverConfig(), "\n", func(req string) string { return "echo: " + req })
	out := runTool(t, ev, done, "hello from openssl\n", "openssl", "s_client",
		"-connect", l.Addr().AddrPort().String(), "-servername", "server.test",
		"-CAfile", filepath.Join(dir, "ca.pem"), "-verify_return_error", "-quiet")
	if *errp != nil {
		t.Fatalf("server: %v", *errp)
	}
	if !strings.Contains(out, "echo: hello from openssl") {
		t.Fatalf("openssl output:\n%s", out)
	}
}

// TestTLSCurl: curl fetches a page over HTTPS, verifying the server.
func TestTLSCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (.ci/run installs it): apt-get install -y curl")
	}
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	dir := p.writeFiles(t)
	l := listenLoop(t, ev)
	scfg := p.serverConfig()
	scfg.NextProtos = []string{"http/1.1"}
	var request string
	done, errp := serveOnce(t, ev, l, scfg, "\r\n\r\n", func(req string) string {
		request = req
		body := "hello curl\n"
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	})
	port := l.Addr().Port()
	out := runTool(t, ev, done, "", "curl", "-sS", "--http1.1",
		"--cacert", filepath.Join(dir, "ca.pem"),
		"--resolve", fmt.Sprintf("server.test:%d:127.0.0.1", port),
		fmt.Sprintf("https://server.test:%d/x", port))
	if *errp != nil {
		t.Fatalf("server: %v", *errp)
	}
	if out != "hello curl\n" || !strings.HasPrefix(request, "GET /x HTTP/1.1\r\n") {
		t.Fatalf("curl output %q, request %q", out, request)
	}
}

// TestTLSBadCertificate: a client that does not trust the server's CA
// fails with the verification error; the server sees the client's alert.
func TestTLSBadCertificate(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	a, b := pair(t, ev)
	cr := TLSConnect(ev, a, p.clientConfig())
	sr := TLSAccept(ev, b, &tls.Config{Certificates: []tls.Certificate{p.stranger}})
	drive(t, ev, func() bool { return !cr.IsInProgress() && !sr.IsInProgress() })
	_, cerr := cr.Result()
	_, serr := sr.Result()
	var verr *tls.CertificateVerificationError
	if !errors.Is(cerr, ErrTLSHandshake) || !errors.As(cerr, &verr) {
		t.Fatalf("client: %v, want ErrTLSHandshake with a *tls.CertificateVerificationError", cerr)
	}
	if !errors.Is(serr, ErrTLSHandshake) || !errors.Is(serr, ErrTLSPeerAlert) {
		t.Fatalf("server: %v, want ErrTLSHandshake and ErrTLSPeerAlert", serr)
	}
	// A client certificate required and missing.
	a, b = pair(t, ev)
	scfg := p.serverConfig()
	scfg.ClientAuth = tls.RequireAndVerifyClientCert
	scfg.ClientCAs = p.pool
	cr = TLSConnect(ev, a, p.clientConfig())
	sr = TLSAccept(ev, b, scfg)
	drive(t, ev, func() bool { return !cr.IsInProgress() && !sr.IsInProgress() })
	if _, serr = sr.Result(); !errors.Is(serr, ErrTLSHandshake) {
		t.Fatalf("server without the client's certificate: %v", serr)
	}
	// TLS 1.3: the client learns it from the server's alert, at once or on
	// its first read.
	if st, cerr := cr.Result(); cerr == nil {
		if _, err := wait(t, ev, st.Readv(ev, make([]byte, 1))); !errors.Is(err, ErrTLSPeerAlert) {
			t.Fatalf("client read after the server refused it: %v, want ErrTLSPeerAlert", err)
		}
		st.Free()
	}
}

// TestTLSClientCertALPNSNI: a client certificate, ALPN and SNI through
// GetCertificate, seen on both sides through TLSState.
func TestTLSClientCertALPNSNI(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	a, b := pair(t, ev)
	scfg := &tls.Config{
		GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hi.ServerName == "b.test" {
				return &p.serverB, nil
			}
			return &p.server, nil
		},
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  p.pool,
		NextProtos: []string{"h2", "http/1.1"},
	}
	ccfg := &tls.Config{RootCAs: p.pool, ServerName: "b.test", Certificates: []tls.Certificate{p.client}, NextProtos: []string{"http/1.1"}}
	c, s := tlsHandshake(t, ev, a, b, ccfg, scfg)
	defer c.Free()
	defer s.Free()
	ss, _ := TLSState(s)
	cs, _ := TLSState(c)
	if ss.ServerName != "b.test" || cs.PeerCertificates[0].Subject.CommonName != "b.test" {
		t.Fatalf("SNI: server saw %q, client got %q", ss.ServerName, cs.PeerCertificates[0].Subject.CommonName)
	}
	if ss.NegotiatedProtocol != "http/1.1" || cs.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("ALPN: %q, %q", ss.NegotiatedProtocol, cs.NegotiatedProtocol)
	}
	if len(ss.PeerCertificates) != 1 || ss.PeerCertificates[0].Subject.CommonName != "client" {
		t.Fatalf("client certificate: %v", ss.PeerCertificates)
	}
	if _, ok := TLSState(a); ok {
		t.Fatal("TLSState of the emptied plain stream is ok")
	}
}

// TestTLSResumption: the second connection of a client with a session
// cache resumes (TLS 1.3 tickets, read by the client after the
// handshake).
func TestTLSResumption(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	ccfg := p.clientConfig()
	ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	scfg := p.serverConfig()
	for i, want := range []bool{false, true} {
		a, b := pair(t, ev)
		c, s := tlsHandshake(t, ev, a, b, ccfg, scfg)
		// The ticket comes after the server's Finished: the client's read
		// takes it in.
		must(t, ev, s.Writev(ev, []byte("x")))
		must(t, ev, c.Readv(ev, make([]byte, 1)))
		if cs, _ := TLSState(c); cs.DidResume != want {
			t.Fatalf("connection %d: DidResume = %v, want %v", i, cs.DidResume, want)
		}
		c.Free()
		s.Free()
	}
}

// TestTLSHandshakeTimeout: a peer that never answers. The client's
// handshake goroutine (it sent its hello) and a server's wait (no
// goroutine until the hello) both end at the timeout; nothing is left.
func TestTLSHandshakeTimeout(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	lim := NewTLSLimiter(4, 4)
	opts := TLSOptions{HandshakeTimeout: 100 * time.Millisecond, Limiter: lim}
	a1, silent1 := pair(t, ev)
	silent2, b2 := pair(t, ev)
	// The silent ends read and discard, so the client's hello goes out.
	sink := make([]byte, 4096)
	r1 := silent1.Readv(ev, sink[:1])
	cr := opts.Connect(ev, a1, p.clientConfig())
	sr := opts.Accept(ev, b2, p.serverConfig())
	drive(t, ev, func() bool { return !cr.IsInProgress() && !sr.IsInProgress() })
	for _, r := range []*tevent.Req[*Stream]{cr, sr} {
		if _, err := r.Result(); !errors.Is(err, ErrTLSHandshakeTimeout) || !errors.Is(err, ErrTLSHandshake) {
			t.Fatalf("handshake with a silent peer: %v, want ErrTLSHandshakeTimeout", err)
		}
	}
	if !r1.IsInProgress() {
		must(t, ev, r1)
	}
	// The client's handshake goroutine leaves the limiter after the loop
	// has its result, without waking the loop: poll it, bounded.
	for deadline := time.Now().Add(testTimeout); ; time.Sleep(time.Millisecond) {
		run, q := lim.InFlight()
		if run == 0 && q == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("limiter after the timeouts: %d running, %d queued", run, q)
		}
	}
	silent1.Free()
	silent2.Free()
	goleak.VerifyNone(t)
}

// TestTLSHandshakeLimit: a limiter of one running handshake and none
// queued refuses the second at once.
func TestTLSHandshakeLimit(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	p := testPKI()
	opts := TLSOptions{Limiter: NewTLSLimiter(1, 0), HandshakeTimeout: time.Minute}
	a1, _ := pair(t, ev)
	a2, _ := pair(t, ev)
	r1 := opts.Connect(ev, a1, p.clientConfig())
	r2 := opts.Connect(ev, a2, p.clientConfig())
	if _, err := wait(t, ev, r2); !errors.Is(err, ErrTLSHandshakeLimit) {
		t.Fatalf("second handshake: %v, want ErrTLSHandshakeLimit", err)
	}
	// Cancel ends the first; its goroutine goes.
	if !r1.Cancel() {
		t.Fatal("Cancel of a handshake in progress returned false")
	}
	if _, err := wait(t, ev, r1); !errors.Is(err, tevent.ErrCancelled) {
		t.Fatalf("cancelled handshake: %v", err)
	}
	drive(t, ev, func() bool { run, _ := opts.Limiter.InFlight(); return run == 0 })
	goleak.VerifyNone(t)
}

// TestTLSTakeOverRefused: TLSConnect over a stream with a read in flight
// is ErrBusy, and the stream is left as it was.
func TestTLSTakeOverRefused(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	a, b := pair(t, ev)
	rd := a.Readv(ev, make([]byte, 1))
	if _, err := wait(t, ev, TLSConnect(ev, a, testPKI().clientConfig())); !errors.Is(err, ErrBusy) {
		t.Fatalf("TLSConnect with a read in flight: %v, want ErrBusy", err)
	}
	must(t, ev, b.Writev(ev, []byte("z")))
	must(t, ev, rd)
	if _, err := wait(t, ev, TLSAccept(ev, a, nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil config: %v, want ErrInvalid", err)
	}
	if _, ok := TLSState(a); ok {
		t.Fatal("TLSState of a socket stream is ok")
	}
}

// goClientOverLoop starts a stock client on a goroutine over a loopback
// TCP connection to l and returns the loop's TLS stream and the raw
// client connection with its tls.Conn (handshake done).
func goClientOverLoop(t *testing.T, ev *tevent.Context, l *Listener, wrap func(net.Conn) net.Conn) (*Stream, *net.TCPConn, *tls.Conn) {
	t.Helper()
	type res struct {
		raw *net.TCPConn
		c   *tls.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		raw, err := dialGo(l)
		if err != nil {
			ch <- res{err: err}
			return
		}
		var conn net.Conn = raw
		if wrap != nil {
			conn = wrap(raw)
		}
		c := tls.Client(conn, testPKI().clientConfig())
		ch <- res{raw, c, c.Handshake()}
	}()
	st := must(t, ev, acceptTLS(t, ev, l, testPKI().serverConfig(), TLSOptions{}))
	var r res
	select {
	case r = <-ch:
	case <-time.After(testTimeout):
		t.Fatal("client handshake did not finish")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.raw.Close() })
	return st, r.raw, r.c
}

// TestTLSGarbageRecords: a peer that sends bytes that are no TLS record
// (or a record that does not decrypt) fails the read with ErrTLSProtocol,
// sticky, and does not hang or panic.
func TestTLSGarbageRecords(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	l := listenLoop(t, ev)
	for _, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),                     // not a record header
		append([]byte{23, 3, 3, 0, 32}, make([]byte, 32)...), // application data that does not decrypt
	} {
		st, raw, _ := goClientOverLoop(t, ev, l, nil)
		if _, err := raw.Write(garbage); err != nil {
			t.Fatal(err)
		}
		_, err := wait(t, ev, st.Readv(ev, make([]byte, 10)))
		if !errors.Is(err, ErrTLSProtocol) {
			t.Fatalf("read of %q: %v, want ErrTLSProtocol", garbage[:5], err)
		}
		if _, err2 := wait(t, ev, st.Readv(ev, make([]byte, 1))); !errors.Is(err2, ErrTLSProtocol) {
			t.Fatalf("the error is not sticky: %v", err2)
		}
		st.Free()
		raw.Close()
	}
}

// byteConn writes one byte per system call once on is set.
type byteConn struct {
	*net.TCPConn
	on bool
}

func (c *byteConn) Write(p []byte) (int, error) {
	if !c.on {
		return c.TCPConn.Write(p)
	}
	for i := range p {
		if _, err := c.TCPConn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// TestTLSRecordByteByByte: a 16 KiB record written one byte per write
// (TCP_NODELAY) through a real socket arrives whole; then a truncated
// stream (FIN without close_notify) is ErrTLSTruncated, not io.EOF.
func TestTLSRecordByteByByte(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	l := listenLoop(t, ev)
	var bc *byteConn
	st, raw, c := goClientOverLoop(t, ev, l, func(n net.Conn) net.Conn {
		bc = &byteConn{TCPConn: n.(*net.TCPConn)}
		return bc
	})
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB: one full record
	bc.on = true
	wrote := goResult(func() error { _, err := c.Write(msg); return err })
	got := make([]byte, len(msg))
	must(t, ev, st.Readv(ev, got))
	if !bytes.Equal(got, msg) {
		t.Fatal("the record fed byte by byte came back different")
	}
	if err := driveUntilResult(t, ev, wrote); err != nil {
		t.Fatal(err)
	}
	raw.CloseWrite() // FIN, no close_notify
	_, err := wait(t, ev, st.Readv(ev, got[:1]))
	if !errors.Is(err, ErrTLSTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		t.Fatalf("read after a FIN without close_notify: %v, want ErrTLSTruncated", err)
	}
	st.Free()
}

// TestTLSCloseWrite: CloseWrite sends close_notify (the stock peer reads
// io.EOF) and reading goes on.
func TestTLSCloseWrite(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	l := listenLoop(t, ev)
	st, _, c := goClientOverLoop(t, ev, l, nil)
	must(t, ev, st.Writev(ev, []byte("bye")))
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	peer := goResult(func() error {
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "bye" {
			return fmt.Errorf("peer read %q, %v", b, err)
		}
		_, err = c.Write([]byte("late"))
		return err
	})
	buf := make([]byte, 4)
	must(t, ev, st.Readv(ev, buf))
	if string(buf) != "late" {
		t.Fatalf("read after CloseWrite: %q", buf)
	}
	if err := driveUntilResult(t, ev, peer); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, ev, st.Writev(ev, []byte("x"))); !errors.Is(err, ErrTLSProtocol) {
		t.Fatalf("write after CloseWrite: %v, want ErrTLSProtocol", err)
	}
	st.Free()
}

// TestTLSFreeDuringHandshake: freeing the request (or the owner) in the
// middle of a handshake closes the socket and ends the goroutine.
func TestTLSFreeDuringHandshake(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	s := ev.NewScope()
	a, _ := pairOn(t, s)
	lim := NewTLSLimiter(1, 0)
	r := TLSOptions{Limiter: lim}.Connect(s, a, testPKI().clientConfig())
	drive(t, ev, func() bool { run, _ := lim.InFlight(); return run > 0 || !r.IsInProgress() })
	s.Free()
	drive(t, ev, func() bool { run, _ := lim.InFlight(); return run == 0 })
	goleak.VerifyNone(t)
}

// pairOn is pair on any owner.
func pairOn(t testing.TB, o tevent.Owner) (*Stream, *Stream) {
	t.Helper()
	a, b, err := StreamPair(o)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestTLSHandshakeInputBound: TLSConnect to a server that streams an
// endless Certificate message (a TLS 1.2 ServerHello, then a Certificate
// announcing 250,000 bytes, crypto/tls's limit being 256 KiB, sent
// record after record) fails with ErrTLSHandshakeInput once the
// handshake has taken MaxTLSHandshakeInput bytes, long before its
// timeout.
func TestTLSHandshakeInputBound(t *testing.T) {
	checkFDs(t)
	ev, _ := tevent.New()
	defer ev.Free()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sent := make(chan int, 1)
	server := goResult(func() error {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(c, hdr); err != nil { // the client's hello
			return err
		}
		if _, err := io.ReadFull(c, make([]byte, int(hdr[3])<<8|int(hdr[4]))); err != nil {
			return err
		}
		n, err := c.Write(endlessServerFlight())
		for err == nil {
			var k int
			k, err = c.Write(endlessRecord(nil))
			n += k
		}
		sent <- n
		return nil // the client hung up
	})
	port := ln.Addr().(*net.TCPAddr).Port
	plain := must(t, ev, Connect(ev, Address{}, loopbackAddr(t, port)))
	ccfg := testPKI().clientConfig()
	ccfg.MaxVersion = tls.VersionTLS12
	opts := TLSOptions{HandshakeTimeout: testTimeout}
	r := opts.Connect(ev, plain, ccfg)
	drive(t, ev, func() bool { return !r.IsInProgress() })
	if _, err := r.Result(); !errors.Is(err, ErrTLSHandshakeInput) || !errors.Is(err, ErrTLSHandshake) {
		t.Fatalf("TLSConnect to an endless handshake: %v, want ErrTLSHandshakeInput", err)
	}
	if err := <-server; err != nil {
		t.Fatalf("server: %v", err)
	}
	if n := <-sent; n < MaxTLSHandshakeInput {
		t.Fatalf("the server sent %d bytes, less than the bound", n)
	}
	plain.Free()
}

// endlessServerFlight is what a hostile TLS 1.2 server sends after the
// client's hello: a ServerHello (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
// no extensions), then the header of a Certificate message announcing
// 250,000 bytes and the first record of its body; endlessRecord is one
// more 16 KiB record of that body.
func endlessServerFlight() []byte {
	hello := []byte{2, 0, 0, 38, 3, 3}
	for range 32 {
		hello = append(hello, 1) // random (not the downgrade canary)
	}
	hello = append(hello, 0, 0xc0, 0x2b, 0) // no session id, the suite, no compression
	out := append([]byte{22, 3, 3, 0, byte(len(hello))}, hello...)
	return append(out, endlessRecord([]byte{11, 0x03, 0xd0, 0x90})...) // Certificate, 250,000 bytes
}

func endlessRecord(prefix []byte) []byte {
	const n = 16384
	rec := make([]byte, 5+n)
	rec[0], rec[1], rec[2], rec[3], rec[4] = 22, 3, 3, n>>8, n&0xff
	copy(rec[5:], prefix)
	return rec
}
