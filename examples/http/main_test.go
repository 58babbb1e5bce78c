package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeKeyPair writes a self-signed certificate and its key as PEM files
// (what crypto/tls/generate_cert.go writes) and returns their paths.
func writeKeyPair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// -tls-cert and -tls-key go together (main exits 2 on errTLSFlags) and
// give a configuration with the key pair and ALPN http/1.1.
func TestTLSConfigFlags(t *testing.T) {
	certFile, keyFile := writeKeyPair(t)
	if cfg, err := tlsConfig("", ""); cfg != nil || err != nil {
		t.Fatalf("neither: %v, %v", cfg, err)
	}
	for _, pair := range [][2]string{{certFile, ""}, {"", keyFile}} {
		if _, err := tlsConfig(pair[0], pair[1]); !errors.Is(err, errTLSFlags) {
			t.Fatalf("%q: got %v, want errTLSFlags", pair, err)
		}
	}
	if _, err := tlsConfig(certFile, certFile); err == nil || errors.Is(err, errTLSFlags) {
		t.Fatalf("certificate as key: got %v", err)
	}
	if _, err := tlsConfig(filepath.Join(t.TempDir(), "missing.pem"), keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v", err)
	}
	cfg, err := tlsConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" {
		t.Fatalf("got %d certificates, NextProtos %q", len(cfg.Certificates), cfg.NextProtos)
	}
}
