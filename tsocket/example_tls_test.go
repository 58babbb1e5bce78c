package tsocket_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tsocket"
)

// selfSigned returns a certificate for name and a pool that trusts it.
func selfSigned(name string) (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TLS on both ends of a socket pair, on one loop: TLSAccept and
// TLSConnect take the plain streams over and finish with TLS streams,
// which are read and written as any Stream.
func ExampleTLSAccept() {
	ev, _ := tevent.New()
	defer ev.Free()
	cert, pool := selfSigned("server.example")
	plainC, plainS, _ := tsocket.StreamPair(ev)

	server := tsocket.TLSAccept(ev, plainS, &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"echo/1"},
	})
	client := tsocket.TLSConnect(ev, plainC, &tls.Config{
		RootCAs:    pool,
		ServerName: "server.example",
		NextProtos: []string{"echo/1"},
	})
	server.Poll(ev)
	srv, err := server.Result()
	if err != nil {
		fmt.Println("server handshake:", err)
		return
	}
	client.Poll(ev)
	cli, err := client.Result()
	if err != nil {
		fmt.Println("client handshake:", err)
		return
	}
	state, _ := tsocket.TLSState(srv)
	fmt.Println(tls.VersionName(state.Version), state.NegotiatedProtocol, state.ServerName)

	// Records are encrypted and decrypted on the loop.
	w := cli.Writev(ev, []byte("hello, "), []byte("TLS"))
	buf := make([]byte, 10)
	r := srv.Readv(ev, buf)
	r.Poll(ev)
	w.Poll(ev)
	n, err := r.Result()
	fmt.Printf("server read %q %v\n", buf[:n], err)

	// CloseWrite sends close_notify: the peer reads io.EOF.
	cli.CloseWrite()
	r = srv.Readv(ev, buf)
	r.Poll(ev)
	_, err = r.Result()
	fmt.Println("then:", err)
	cli.Free()
	srv.Free()
	// Output:
	// TLS 1.3 echo/1 server.example
	// server read "hello, TLS" <nil>
	// then: EOF
}
