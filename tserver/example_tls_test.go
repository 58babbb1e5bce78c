package tserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/gotevent/tevent/tserver"
)

// greeter answers each connection with its negotiated protocol, then
// echoes in upper case (upper's OnData).
type greeter struct{ upper }

func (greeter) OnOpen(c *tserver.Conn) {
	st, _ := c.TLSState() // OnOpen runs once the handshake succeeded
	fmt.Fprintf(connOut{c}, "ALPN %s\n", st.NegotiatedProtocol)
}

type connOut struct{ c *tserver.Conn }

func (w connOut) Write(p []byte) (int, error) { return w.c.Write(p) }

// A TLS server: Config.TLS is all it takes. OnData gets plaintext and
// Write encrypts; Close sends close_notify.
func ExampleConfig_tls() {
	cert, pool := selfSigned("localhost")
	srv, err := tserver.New(greeter{}, &tserver.Config{
		TLS: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"echo/1"},
		},
		TLSHandshakeTimeout: 5 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	addr, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv.Start()

	c, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"echo/1"}})
	if err != nil {
		panic(err)
	}
	c.Write([]byte("hello, tls"))
	buf := make([]byte, len("ALPN echo/1\nHELLO, TLS"))
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	c.Close()

	srv.Shutdown(time.Now().Add(time.Second))
	fmt.Println(srv.Wait(), srv.Stats().TLSHandshakes)
	// Output:
	// ALPN echo/1
	// HELLO, TLS
	// <nil> 1
}

// selfSigned makes a certificate for name and a pool that trusts it.
func selfSigned(name string) (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
