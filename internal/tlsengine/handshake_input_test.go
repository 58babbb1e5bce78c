package tlsengine

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"
)

// endlessServerFlight is what a hostile TLS 1.2 server sends after the
// client's hello: a ServerHello (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
// no extensions), then the header of a Certificate message announcing
// 250,000 bytes (crypto/tls accepts up to 256 KiB) and the first record
// of its body. endlessRecord is one more 16 KiB record of that body.
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

// TestHandshakeInputBound: a client handshake with a server that streams
// an endless Certificate message ends with ErrHandshakeInput once it has
// taken MaxHandshakeInput bytes, not at crypto/tls's 256 KiB, and not
// after the handshake timeout.
func TestHandshakeInputBound(t *testing.T) {
	ccfg := testPKI(t).clientConfig()
	ccfg.MaxVersion = tls.VersionTLS12
	l := newLoop(t, Config{TLS: ccfg, HandshakeTimeout: testTimeout})
	if err := l.e.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for l.e.OutputLen() == 0 { // the client's hello
		select {
		case <-l.w:
		case <-deadline.C:
			t.Fatal("no client hello")
		}
	}
	l.e.AppendOutput(nil)
	fed := 0
	feed := func(p []byte) {
		if err := l.e.Feed(p); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("Feed: %v", err)
		}
		fed += len(p)
	}
	feed(endlessServerFlight())
	for {
		if done, err := l.e.Handshake(); done {
			if !errors.Is(err, ErrHandshakeInput) || !errors.Is(err, ErrHandshake) {
				t.Fatalf("handshake: %v, want ErrHandshakeInput", err)
			}
			break
		}
		// As a loop does: feed no more than the bound before the
		// handshake ends, then wait for it.
		if fed < MaxHandshakeInput {
			feed(endlessRecord(nil))
			continue
		}
		select {
		case <-l.w:
		case <-deadline.C:
			t.Fatalf("handshake still running after %d bytes fed", fed)
		}
	}
	if fed > MaxHandshakeInput+16384+1024 {
		t.Fatalf("%d bytes fed", fed)
	}
}
