package httpsrv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServerName is the name in the test certificate (with 127.0.0.1),
// sent as SNI by the test clients.
const testServerName = "httpsrv.test"

// testCert is a self-signed certificate for testServerName and
// 127.0.0.1, with the pool that trusts it and its PEM form.
var testCert = sync.OnceValue(func() (tc struct {
	cert    tls.Certificate
	pool    *x509.CertPool
	certPEM []byte
}) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: testServerName},
		DNSNames:              []string{testServerName},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	tc.cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	tc.pool = x509.NewCertPool()
	tc.pool.AddCert(leaf)
	tc.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tc
})

// serverTLS is the servers' TLS configuration, as main.go's -tls-cert
// builds it.
func serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert().cert}, NextProtos: []string{"http/1.1"}}
}

// clientTLS trusts the test certificate and asks for testServerName.
func clientTLS() *tls.Config {
	return &tls.Config{RootCAs: testCert().pool, ServerName: testServerName, NextProtos: []string{"http/1.1"}}
}

// TestCompareWithNetHTTPOverTLS is TestCompareWithNetHTTP over TLS: the
// same table, net/http with http.Server.ServeTLS, this package with
// tserver.Config.TLS, the same certificate, a crypto/tls client.
func TestCompareWithNetHTTPOverTLS(t *testing.T) {
	checkFDs(t)
	h := testHandler()
	compareTable(t, startNetHTTPTLS(t, h, serverTLS()), startTServerTLS(t, h, serverTLS()), clientTLS())
}

// tlsReport writes what a handler sees of r.TLS.
func tlsReport(w io.Writer, r *http.Request) {
	if r.TLS == nil {
		fmt.Fprintf(w, "tls=nil\n")
		return
	}
	s := r.TLS
	fmt.Fprintf(w, "version=%s suite=%s sni=%q alpn=%q complete=%v resumed=%v peer-certs=%d\n",
		tls.VersionName(s.Version), tls.CipherSuiteName(s.CipherSuite), s.ServerName,
		s.NegotiatedProtocol, s.HandshakeComplete, s.DidResume, len(s.PeerCertificates))
}

// A handler sees the connection's TLS state in r.TLS, the same pointer
// for every request of a connection (as net/http), and what it reports
// is what net/http's handler sees, for TLS 1.2 and 1.3.
func TestRequestTLS(t *testing.T) {
	checkFDs(t)
	var mu sync.Mutex
	var seen []*tls.ConnectionState
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.TLS)
		mu.Unlock()
		tlsReport(w, r)
	})
	netAddr := startNetHTTPTLS(t, h, serverTLS())
	ourAddr := startTServerTLS(t, h, serverTLS())
	plainAddr := startTServer(t, h)
	in := []byte(get("/a") + get("/b"))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cfg := clientTLS()
			cfg.MinVersion, cfg.MaxVersion = v, v
			want := normalise(exchangeTLS(t, netAddr, cfg, in, 0))
			mu.Lock()
			seen = nil
			mu.Unlock()
			got := exchangeTLS(t, ourAddr, cfg, in, 0)
			if !bytes.Equal(got, want) {
				t.Fatalf("answers differ\n--- net/http:\n%s\n--- httpsrv:\n%s", trimLines(want), trimLines(got))
			}
			wantLine := fmt.Sprintf("version=%s suite=", tls.VersionName(v))
			if !bytes.Contains(got, []byte(wantLine)) || !bytes.Contains(got, []byte(`sni="httpsrv.test" alpn="http/1.1" complete=true resumed=false peer-certs=0`)) {
				t.Fatalf("r.TLS reported:\n%s", trimLines(got))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 2 || seen[0] == nil || seen[0] != seen[1] {
				t.Fatalf("r.TLS of the two requests: %p", seen)
			}
			if seen[0].Version != v {
				t.Fatalf("r.TLS.Version = %#x, want %#x", seen[0].Version, v)
			}
		})
	}
	// On a plain server r.TLS is nil.
	if got := exchange(t, plainAddr, []byte(get("/a")), 0); !bytes.Contains(got, []byte("\r\n\r\ntls=nil\n")) {
		t.Fatalf("plain server: %q", got)
	}
}

// curl talks HTTPS to the server: SNI, ALPN (curl offers h2 and gets
// http/1.1), keep-alive across two URLs, a POST body.
func TestCurlHTTPS(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed (.ci/run installs it)")
	}
	checkFDs(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/tls", func(w http.ResponseWriter, r *http.Request) { tlsReport(w, r) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	addr := startTServerTLS(t, mux, serverTLS())
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, testCert().certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	base := "https://" + testServerName + ":" + port
	cmd := exec.Command(curl, "-sS", "--max-time", "20", "--cacert", caFile,
		"--resolve", testServerName+":"+port+":127.0.0.1",
		"-w", "[%{http_code} %{http_version} %{num_connects}]\n",
		base+"/tls", "--next", "--cacert", caFile, "--resolve", testServerName+":"+port+":127.0.0.1",
		"--data-binary", "hello over tls", "-w", "\n[%{http_code} %{http_version} %{num_connects}]\n", base+"/echo")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	got := string(out)
	want := `sni="httpsrv.test" alpn="http/1.1" complete=true resumed=false peer-certs=0` + "\n[200 1.1 1]\nhello over tls\n[200 1.1 0]\n"
	if !strings.HasPrefix(got, "version=TLS 1.3 suite=") || !strings.HasSuffix(got, want) {
		t.Fatalf("curl got:\n%s\nwant the suffix:\n%s", got, want)
	}
}
