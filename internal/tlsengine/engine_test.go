package tlsengine

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// isRemoteAlert reports whether err is crypto/tls's error for an alert
// the peer sent.
func isRemoteAlert(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "remote error"
}

// A server engine against a stock crypto/tls client: SNI picks the
// certificate through GetCertificate, ALPN is negotiated, data goes both
// ways, and the client's close_notify reads as io.EOF.
func TestServerEngineStockClient(t *testing.T) {
	p := testPKI(t)
	var sniSeen string
	scfg := &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			sniSeen = h.ServerName // read by the test after the handshake
			if h.ServerName == "other.test" {
				return &p.other, nil
			}
			return &p.server, nil
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
	l := newLoop(t, Config{TLS: scfg, Server: true})
	ccfg := p.clientConfig()
	ccfg.ServerName = "other.test"
	ccfg.NextProtos = []string{"http/1.1"}
	peer := l.peer(false, ccfg, func(c *tls.Conn) error {
		if _, err := c.Write([]byte("hello from the client")); err != nil {
			return err
		}
		buf := make([]byte, 64)
		n, err := io.ReadAtLeast(c, buf, len("hello from the engine"))
		if err != nil {
			return err
		}
		if got := string(buf[:n]); got != "hello from the engine" {
			return errors.New("client got " + got)
		}
		if c.ConnectionState().NegotiatedProtocol != "http/1.1" {
			return errors.New("client: ALPN not negotiated")
		}
		return c.Close() // close_notify
	})
	if err := l.handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	st := l.e.ConnectionState()
	if !st.HandshakeComplete || st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "http/1.1" || st.ServerName != "other.test" || sniSeen != "other.test" {
		t.Fatalf("state: complete %v version %x ALPN %q SNI %q (callback saw %q)", st.HandshakeComplete, st.Version, st.NegotiatedProtocol, st.ServerName, sniSeen)
	}
	l.until("the client's message", func() bool { return len(l.got) >= len("hello from the client") })
	if string(l.got) != "hello from the client" {
		t.Fatalf("got %q", l.got)
	}
	l.writeAll([]byte("hello from the engine"))
	if err := l.wait(peer); err != nil {
		t.Fatalf("client: %v", err)
	}
	l.until("close_notify", func() bool { return l.readErr != nil })
	if l.readErr != io.EOF {
		t.Fatalf("after close_notify: %v, want io.EOF", l.readErr)
	}
}

// A client engine against a stock server that requires a client
// certificate; a second connection resumes the session (TLS 1.3
// tickets, read by the engine after its handshake).
func TestClientEngineStockServerClientCertResumption(t *testing.T) {
	p := testPKI(t)
	scfg := p.serverConfig()
	scfg.ClientAuth = tls.RequireAndVerifyClientCert
	scfg.ClientCAs = p.pool
	cache := tls.NewLRUClientSessionCache(4)
	for i, wantResumed := range []bool{false, true} {
		ccfg := p.clientConfig()
		ccfg.Certificates = []tls.Certificate{p.client}
		ccfg.ClientSessionCache = cache
		l := newLoop(t, Config{TLS: ccfg})
		peer := l.peer(true, scfg, func(c *tls.Conn) error {
			if err := c.Handshake(); err != nil {
				return err
			}
			st := c.ConnectionState()
			if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "client" {
				return errors.New("server: no client certificate")
			}
			_, err := c.Write([]byte("welcome"))
			return err
		})
		if err := l.handshake(); err != nil {
			t.Fatalf("connection %d: handshake: %v", i, err)
		}
		if err := l.wait(peer); err != nil {
			t.Fatalf("connection %d: server: %v", i, err)
		}
		l.until("the welcome", func() bool { return len(l.got) >= len("welcome") })
		st := l.e.ConnectionState()
		if st.DidResume != wantResumed {
			t.Fatalf("connection %d: DidResume %v, want %v", i, st.DidResume, wantResumed)
		}
		if !wantResumed && (len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "server.test") {
			t.Fatalf("connection %d: peer certificates %v", i, st.PeerCertificates)
		}
	}
}

// TLS 1.2, full and resumed, both ways round: the side that finishes
// first differs from TLS 1.3.
func TestTLS12(t *testing.T) {
	p := testPKI(t)
	cache := tls.NewLRUClientSessionCache(4)
	scfg := p.serverConfig()
	scfg.MaxVersion = tls.VersionTLS12
	for i, wantResumed := range []bool{false, true} {
		// Engine as server.
		ccfg := p.clientConfig()
		ccfg.ClientSessionCache = cache
		l := newLoop(t, Config{TLS: scfg, Server: true})
		peer := l.peer(false, ccfg, func(c *tls.Conn) error {
			if err := c.Handshake(); err != nil {
				return err
			}
			if c.ConnectionState().DidResume != wantResumed {
				return errors.New("client: resumption not as expected")
			}
			_, err := c.Write([]byte("ping"))
			return err
		})
		if err := l.handshake(); err != nil {
			t.Fatalf("server engine %d: %v", i, err)
		}
		if err := l.wait(peer); err != nil {
			t.Fatalf("server engine %d: client: %v", i, err)
		}
		l.until("ping", func() bool { return len(l.got) >= 4 })
		if st := l.e.ConnectionState(); st.Version != tls.VersionTLS12 || st.DidResume != wantResumed {
			t.Fatalf("server engine %d: version %x resumed %v", i, st.Version, st.DidResume)
		}
	}
	ccache := tls.NewLRUClientSessionCache(4)
	for i, wantResumed := range []bool{false, true} {
		// Engine as client.
		ccfg := p.clientConfig()
		ccfg.ClientSessionCache = ccache
		l := newLoop(t, Config{TLS: ccfg})
		peer := l.peer(true, scfg, func(c *tls.Conn) error {
			if err := c.Handshake(); err != nil {
				return err
			}
			_, err := c.Write([]byte("pong"))
			return err
		})
		if err := l.handshake(); err != nil {
			t.Fatalf("client engine %d: %v", i, err)
		}
		if err := l.wait(peer); err != nil {
			t.Fatalf("client engine %d: server: %v", i, err)
		}
		l.until("pong", func() bool { return len(l.got) >= 4 })
		if st := l.e.ConnectionState(); st.Version != tls.VersionTLS12 || st.DidResume != wantResumed {
			t.Fatalf("client engine %d: version %x resumed %v", i, st.Version, st.DidResume)
		}
	}
}

// The whole handshake and then a 16 KiB record, fed to the engine one
// byte at a time with a Read after every byte: the record comes back
// whole, after a "would block" for every byte before its last.
func TestRecordFedOneByteAtATime(t *testing.T) {
	for _, server := range []bool{true, false} {
		p := testPKI(t)
		var l *loop
		record := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB: one full record
		peerCfg := func(c *tls.Config) *tls.Config {
			c.DynamicRecordSizingDisabled = true // one 16 KiB record, not a ramp of small ones
			return c
		}
		goAhead := make(chan struct{})
		fn := func(c *tls.Conn) error {
			if err := c.Handshake(); err != nil {
				return err
			}
			<-goAhead // the record comes once the engine's handshake is over
			_, err := c.Write(record)
			return err
		}
		var peer <-chan error
		if server {
			l = newLoop(t, Config{TLS: p.serverConfig(), Server: true})
			peer = l.peer(false, peerCfg(p.clientConfig()), fn)
		} else {
			l = newLoop(t, Config{TLS: p.clientConfig()})
			peer = l.peer(true, peerCfg(p.serverConfig()), fn)
		}
		l.chunk = 1
		if err := l.handshake(); err != nil {
			t.Fatalf("server %v: handshake: %v", server, err)
		}
		close(goAhead)
		if err := l.wait(peer); err != nil {
			t.Fatalf("server %v: peer: %v", server, err)
		}
		l.until("the 16 KiB record", func() bool { return len(l.got) >= len(record) || l.readErr != nil })
		if l.readErr != nil || !bytes.Equal(l.got, record) {
			t.Fatalf("server %v: got %d bytes (equal %v), error %v", server, len(l.got), bytes.Equal(l.got, record), l.readErr)
		}
		// 16 KiB of data is at least 16,384+22 wire bytes; every byte
		// but the record's last (and any ticket's) reads as would-block.
		if n := l.wouldBlock; n < len(record) {
			t.Fatalf("server %v: %d would-block reads, want at least %d", server, n, len(record))
		}
		if l.e.ad.in != nil || l.e.ad.out != nil {
			t.Fatalf("server %v: idle engine holds adapter buffers (in cap %d, out cap %d)", server, cap(l.e.ad.in), cap(l.e.ad.out))
		}
	}
}

// Close notify against truncation: the peer's close_notify is io.EOF; a
// stream that ends without it, at a record boundary or inside a record,
// is ErrTruncated (wrapping io.ErrUnexpectedEOF); the engine's own
// CloseWrite reaches a stock peer as io.EOF.
func TestCloseNotifyVersusEOF(t *testing.T) {
	p := testPKI(t)
	setup := func(t *testing.T) (*loop, *tls.Conn) {
		l := newLoop(t, Config{TLS: p.serverConfig(), Server: true})
		cc := make(chan *tls.Conn, 1)
		peer := l.peer(false, p.clientConfig(), func(c *tls.Conn) error { cc <- c; return c.Handshake() })
		if err := l.handshake(); err != nil {
			t.Fatal(err)
		}
		if err := l.wait(peer); err != nil {
			t.Fatal(err)
		}
		return l, <-cc
	}
	t.Run("close_notify", func(t *testing.T) {
		l, c := setup(t)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		l.until("EOF", func() bool { return l.readErr != nil })
		if l.readErr != io.EOF {
			t.Fatalf("got %v, want io.EOF", l.readErr)
		}
	})
	t.Run("EOF at a record boundary", func(t *testing.T) {
		l, c := setup(t)
		if _, err := c.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		l.mc.Close() // the socket closes: no close_notify
		l.until("EOF", func() bool { return l.readErr != nil })
		if string(l.got) != "data" || !errors.Is(l.readErr, ErrTruncated) || !errors.Is(l.readErr, io.ErrUnexpectedEOF) {
			t.Fatalf("got %q, %v; want the data, then ErrTruncated", l.got, l.readErr)
		}
	})
	t.Run("EOF inside a record", func(t *testing.T) {
		l, c := setup(t)
		if _, err := c.Write([]byte("a record cut short")); err != nil {
			t.Fatal(err)
		}
		wire, _ := l.mc.drain() // Write returned: the record is there
		if err := l.e.Feed(wire[:len(wire)-3]); err != nil {
			t.Fatal(err)
		}
		if _, err := l.e.Read(make([]byte, 64)); err != ErrWouldBlock {
			t.Fatalf("partial record: %v, want ErrWouldBlock", err)
		}
		l.e.FeedEOF()
		if _, err := l.e.Read(make([]byte, 64)); !errors.Is(err, ErrTruncated) {
			t.Fatalf("after EOF: %v, want ErrTruncated", err)
		}
	})
	t.Run("engine CloseWrite", func(t *testing.T) {
		l, c := setup(t)
		if err := l.e.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.e.Write([]byte("late")); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Write after CloseWrite: %v, want ErrProtocol", err)
		}
		got := l.peerFunc(func() error { _, err := c.Read(make([]byte, 8)); return err })
		if err := l.wait(got); err != io.EOF {
			t.Fatalf("peer read %v, want io.EOF", err)
		}
	})
}

// Bad certificates on either side fail the handshake with ErrHandshake
// wrapping crypto/tls's own error.
func TestBadCertificates(t *testing.T) {
	p := testPKI(t)
	t.Run("untrusted server", func(t *testing.T) {
		l := newLoop(t, Config{TLS: p.clientConfig()})
		scfg := &tls.Config{Certificates: []tls.Certificate{p.rogueServer}}
		peer := l.peer(true, scfg, func(c *tls.Conn) error { return c.Handshake() })
		err := l.handshake()
		var cv *tls.CertificateVerificationError
		var ua x509.UnknownAuthorityError
		if !errors.Is(err, ErrHandshake) || !errors.As(err, &cv) || !errors.As(err, &ua) {
			t.Fatalf("got %v, want ErrHandshake with an unknown-authority verification error", err)
		}
		if perr := l.wait(peer); !isRemoteAlert(perr) {
			t.Fatalf("server got %v, want the engine's alert", perr)
		}
	})
	t.Run("wrong host name", func(t *testing.T) {
		ccfg := p.clientConfig()
		ccfg.ServerName = "elsewhere.test"
		l := newLoop(t, Config{TLS: ccfg})
		peer := l.peer(true, p.serverConfig(), func(c *tls.Conn) error { return c.Handshake() })
		err := l.handshake()
		var he x509.HostnameError
		if !errors.Is(err, ErrHandshake) || !errors.As(err, &he) {
			t.Fatalf("got %v, want ErrHandshake with a hostname error", err)
		}
		l.wait(peer)
	})
	t.Run("stock client rejects the engine's certificate", func(t *testing.T) {
		scfg := &tls.Config{Certificates: []tls.Certificate{p.rogueServer}}
		l := newLoop(t, Config{TLS: scfg, Server: true})
		peer := l.peer(false, p.clientConfig(), func(c *tls.Conn) error { return c.Handshake() })
		err := l.handshake()
		if !errors.Is(err, ErrHandshake) || !errors.Is(err, ErrPeerAlert) || !isRemoteAlert(err) {
			t.Fatalf("got %v, want ErrHandshake and ErrPeerAlert with the client's alert", err)
		}
		l.wait(peer)
	})
	for _, tc := range []struct {
		name string
		cert []tls.Certificate
	}{{"no client certificate", nil}, {"untrusted client certificate", []tls.Certificate{p.rogueClient}}} {
		t.Run(tc.name, func(t *testing.T) {
			scfg := p.serverConfig()
			scfg.ClientAuth = tls.RequireAndVerifyClientCert
			scfg.ClientCAs = p.pool
			l := newLoop(t, Config{TLS: scfg, Server: true})
			ccfg := p.clientConfig()
			ccfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if tc.cert == nil {
					return &tls.Certificate{}, nil
				}
				return &tc.cert[0], nil // sent even though the server does not list its CA
			}
			peer := l.peer(false, ccfg, func(c *tls.Conn) error {
				if err := c.Handshake(); err != nil {
					return err
				}
				_, err := c.Read(make([]byte, 1)) // TLS 1.3: the alert comes after the client's Finished
				return err
			})
			err := l.handshake()
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("got %v, want ErrHandshake", err)
			}
			if tc.cert != nil {
				var cv *tls.CertificateVerificationError
				if !errors.As(err, &cv) {
					t.Fatalf("got %v, want a certificate verification error", err)
				}
			}
			if perr := l.wait(peer); !isRemoteAlert(perr) {
				t.Fatalf("client got %v, want the engine's alert", perr)
			}
		})
	}
}

// Garbage from the peer: instead of a ClientHello it fails the handshake
// with crypto/tls's RecordHeaderError; after the handshake, a record that
// does not decrypt is ErrProtocol, leaves a bad_record_mac alert for the
// peer in the output, and stays final.
func TestGarbageRecords(t *testing.T) {
	p := testPKI(t)
	t.Run("handshake", func(t *testing.T) {
		l := newLoop(t, Config{TLS: p.serverConfig(), Server: true})
		l.mc.Write([]byte("GET / HTTP/1.1\r\nHost: server.test\r\n\r\n"))
		err := l.handshake()
		var rh tls.RecordHeaderError
		if !errors.Is(err, ErrHandshake) || !errors.As(err, &rh) {
			t.Fatalf("got %v, want ErrHandshake with a RecordHeaderError", err)
		}
	})
	for _, tc := range []struct {
		name    string
		garbage []byte
	}{
		{"bad MAC", append([]byte{23, 3, 3, 0, 40}, bytes.Repeat([]byte{0xA5}, 40)...)},
		{"oversized record", []byte{23, 3, 3, 0xFF, 0xFF}},
		{"bad record type", []byte{99, 3, 3, 0, 1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoop(t, Config{TLS: p.serverConfig(), Server: true})
			peer := l.peer(false, p.clientConfig(), func(c *tls.Conn) error { return c.Handshake() })
			if err := l.handshake(); err != nil {
				t.Fatal(err)
			}
			if err := l.wait(peer); err != nil {
				t.Fatal(err)
			}
			if err := l.e.Feed(tc.garbage); err != nil {
				t.Fatal(err)
			}
			_, err := l.e.Read(make([]byte, 64))
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v, want ErrProtocol", err)
			}
			if l.e.OutputLen() == 0 {
				t.Fatal("no alert for the peer in the output")
			}
			if _, err2 := l.e.Read(make([]byte, 64)); !errors.Is(err2, ErrProtocol) {
				t.Fatalf("second Read: %v, want the same final error", err2)
			}
		})
	}
}

// Misuse gets plain errors.
func TestMisuse(t *testing.T) {
	p := testPKI(t)
	if _, err := New(Config{Notify: func() {}}); err == nil {
		t.Fatal("New without TLS: no error")
	}
	if _, err := New(Config{TLS: p.serverConfig()}); err == nil {
		t.Fatal("New without Notify: no error")
	}
	l := newLoop(t, Config{TLS: p.clientConfig()})
	if _, err := l.e.Read(make([]byte, 1)); err != ErrHandshakePending {
		t.Fatalf("Read before Start: %v", err)
	}
	if err := l.e.Start(); err != nil {
		t.Fatal(err)
	}
	if err := l.e.Start(); err == nil {
		t.Fatal("second Start: no error")
	}
	if _, err := l.e.Write([]byte("x")); err != ErrHandshakePending {
		t.Fatalf("Write during the handshake: %v", err)
	}
	if st := l.e.ConnectionState(); st.HandshakeComplete {
		t.Fatal("ConnectionState during the handshake claims completion")
	}
	l.e.Close()
	l.e.Close()
	if _, err := l.e.Read(make([]byte, 1)); err != ErrClosed {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := l.e.Feed([]byte("x")); err != ErrClosed {
		t.Fatalf("Feed after Close: %v", err)
	}
	if done, err := l.e.Handshake(); !done || err != ErrClosed {
		t.Fatalf("Handshake after Close: %v %v", done, err)
	}
}

// A panic in a tls.Config callback fails the handshake instead of
// ending the process from the handshake goroutine.
func TestCallbackPanic(t *testing.T) {
	scfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { panic("boom") }}
	l := newLoop(t, Config{TLS: scfg, Server: true})
	peer := l.peer(false, testPKI(t).clientConfig(), func(c *tls.Conn) error { return c.Handshake() })
	err := l.handshake()
	if !errors.Is(err, ErrHandshake) || !bytes.Contains([]byte(err.Error()), []byte("boom")) {
		t.Fatalf("got %v, want ErrHandshake naming the panic", err)
	}
	l.mc.Close()
	<-peer
}

// Application data that arrives in the same bytes as the peer's last
// handshake flight is read after the handshake without another Feed.
func TestDataWithLastFlight(t *testing.T) {
	p := testPKI(t)
	l := newLoop(t, Config{TLS: p.serverConfig(), Server: true})
	peer := l.peer(false, p.clientConfig(), func(c *tls.Conn) error {
		if err := c.Handshake(); err != nil {
			return err
		}
		_, err := c.Write([]byte("early"))
		return err
	})
	if err := l.e.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testTimeout)
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	wait("the ClientHello", l.mc.wrote)
	hello, _ := l.mc.drain()
	if err := l.e.Feed(hello); err != nil {
		t.Fatal(err)
	}
	wait("the server's flight", l.w)
	l.mc.feed(l.e.AppendOutput(nil))
	var perr error
	select {
	case perr = <-peer:
	case <-deadline:
		t.Fatal("timed out waiting for the client")
	}
	if perr != nil {
		t.Fatal(perr)
	}
	last, _ := l.mc.drain() // the client's Finished and "early", in one piece
	if err := l.e.Feed(last); err != nil {
		t.Fatal(err)
	}
	for {
		done, err := l.e.Handshake()
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		wait("the end of the handshake", l.w)
	}
	buf := make([]byte, 16)
	n, err := l.e.Read(buf)
	if err != nil || string(buf[:n]) != "early" {
		t.Fatalf("Read after the handshake: %q, %v; want \"early\"", buf[:n], err)
	}
}

// After the handshake: an empty Feed takes no buffer, and every call
// after Close is ErrClosed even with plaintext still buffered.
func TestClosedAfterHandshake(t *testing.T) {
	p := testPKI(t)
	pair := newEnginePair(t, Config{TLS: p.clientConfig()}, Config{TLS: p.serverConfig()})
	defer pair.close()
	if err := pair.handshake(); err != nil {
		t.Fatal(err)
	}
	if err := pair.s.Feed(nil); err != nil || pair.s.ad.in != nil {
		t.Fatalf("empty Feed: %v, buffer taken %v", err, pair.s.ad.in != nil)
	}
	out, _, err := pair.c.AppendWrite(nil, []byte("buffered but never read"))
	if err != nil {
		t.Fatal(err)
	}
	pair.s.Feed(out)
	if n, err := pair.s.Read(make([]byte, 4)); n != 4 || err != nil {
		t.Fatalf("Read: %d, %v", n, err)
	}
	pair.s.Close()
	if _, err := pair.s.Read(make([]byte, 64)); err != ErrClosed {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := pair.s.Write([]byte("x")); err != ErrClosed {
		t.Fatalf("Write after Close: %v", err)
	}
	if _, _, err := pair.s.AppendWrite(nil, []byte("x")); err != ErrClosed {
		t.Fatalf("AppendWrite after Close: %v", err)
	}
	if err := pair.s.CloseWrite(); err != ErrClosed {
		t.Fatalf("CloseWrite after Close: %v", err)
	}
	if err := pair.s.Feed([]byte("x")); err != ErrClosed {
		t.Fatalf("Feed after Close: %v", err)
	}
}
