package tsocket

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/testpki"
)

// tlsPKI is a test certificate authority with its leaves: a server
// certificate for server.test and 127.0.0.1, another for b.test (SNI), a
// client certificate, and a server certificate from an unknown CA.
type tlsPKI struct {
	pool     *x509.CertPool
	caPEM    []byte
	server   tls.Certificate
	serverB  tls.Certificate
	client   tls.Certificate
	stranger tls.Certificate // signed by a CA nobody trusts
}

var testPKI = sync.OnceValue(func() *tlsPKI {
	ca, caKey := newTestCA("tsocket test CA")
	other, otherKey := newTestCA("untrusted CA")
	p := &tlsPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	p.server = newTestLeaf(ca, caKey, "server.test", []string{"server.test"}, x509.ExtKeyUsageServerAuth)
	p.serverB = newTestLeaf(ca, caKey, "b.test", []string{"b.test"}, x509.ExtKeyUsageServerAuth)
	p.client = newTestLeaf(ca, caKey, "client", nil, x509.ExtKeyUsageClientAuth)
	p.stranger = newTestLeaf(other, otherKey, "server.test", []string{"server.test"}, x509.ExtKeyUsageServerAuth)
	return p
})

func (p *tlsPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}}
}

func (p *tlsPKI) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "server.test"}
}

// writeFiles writes the CA, and the server's certificate and key, as PEM
// into a temporary directory (for openssl and curl).
func (p *tlsPKI) writeFiles(t testing.TB) (dir string) {
	dir = t.TempDir()
	keyDER, err := x509.MarshalECPrivateKey(p.server.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"ca.pem":   p.caPEM,
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.server.Certificate[0]}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TLSTestPair runs a TLS handshake between a (client) and b (server) on
// ev with the test PKI's default configurations and returns the TLS
// streams. It is exported for the external tests (conformance).
func TLSTestPair(t testing.TB, ev *tevent.Context, a, b *Stream) (*Stream, *Stream) {
	t.Helper()
	p := testPKI()
	return tlsHandshake(t, ev, a, b, p.clientConfig(), p.serverConfig())
}

// tlsHandshake runs TLSConnect on a and TLSAccept on b and returns the
// TLS streams, failing the test if either side fails.
func tlsHandshake(t testing.TB, ev *tevent.Context, a, b *Stream, ccfg, scfg *tls.Config) (*Stream, *Stream) {
	t.Helper()
	cr := TLSConnect(ev, a, ccfg)
	sr := TLSAccept(ev, b, scfg)
	drive(t, ev, func() bool { return !cr.IsInProgress() && !sr.IsInProgress() })
	c, cerr := cr.Result()
	s, serr := sr.Result()
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	return c, s
}

// stockListener is a TCP listener of Go's net package, for stock crypto/tls
// servers on a goroutine.
func loopbackAddr(t testing.TB, port int) Address {
	t.Helper()
	a, err := InetAddress("ipv4", "127.0.0.1", port)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// listenLoop listens on 127.0.0.1 on ev; the listener is freed after the
// test.
func listenLoop(t testing.TB, ev *tevent.Context) *Listener {
	t.Helper()
	l, err := Listen(ev, loopbackAddr(t, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Free)
	return l
}

// goResult runs fn on a goroutine and returns a channel of its error.
func goResult(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// driveUntilResult drives ev until ch delivers, and returns what it
// delivered. The loop must have an event source that wakes it (the
// goroutine's socket activity, or a timer this adds).
func driveUntilResult(t testing.TB, ev *tevent.Context, ch <-chan error) error {
	t.Helper()
	var got error
	done := false
	tick := ev.NewScope()
	defer tick.Free()
	var rearm func()
	rearm = func() {
		tick.AddTimer(time.Now().Add(2*time.Millisecond), func(*tevent.Context, *tevent.Timer, time.Time) { rearm() })
	}
	rearm()
	drive(t, ev, func() bool {
		if done {
			return true
		}
		select {
		case got = <-ch:
			done = true
		default:
		}
		return done
	})
	return got
}

// The test certificates come from internal/testpki.
var (
	newTestCA   = testpki.NewCA
	newTestLeaf = testpki.NewLeaf
)
