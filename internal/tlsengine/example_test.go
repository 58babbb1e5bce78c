package tlsengine

import (
	"crypto/tls"
	"fmt"
	"time"
)

// A client engine and a server engine driven by one goroutine, which
// plays both event loops: it moves each engine's output into the other,
// and waits for a Notify while a handshake goroutine works. In a tevent
// loop, Notify schedules the same steps through a ThreadProxy, and the
// bytes go through sockets.
func ExampleEngine() {
	p := testPKI(nil)
	wake := make(chan struct{}, 1)
	notify := func() { // any goroutine; must not block
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	scfg := p.serverConfig()
	scfg.NextProtos = []string{"h2"}
	ccfg := p.clientConfig()
	ccfg.NextProtos = []string{"h2"}
	server, _ := New(Config{TLS: scfg, Server: true, Notify: notify})
	client, _ := New(Config{TLS: ccfg, Notify: notify})
	defer server.Close()
	defer client.Close()
	server.Start()
	client.Start()

	// pump hands each engine's ciphertext to the other, as sockets would.
	var wire []byte
	pump := func() {
		wire = client.AppendOutput(wire[:0])
		server.Feed(wire)
		wire = server.AppendOutput(wire[:0])
		client.Feed(wire)
	}
	for {
		pump()
		cdone, cerr := client.Handshake()
		sdone, serr := server.Handshake()
		if cerr != nil || serr != nil {
			fmt.Println("handshake failed:", cerr, serr)
			return
		}
		if cdone && sdone {
			break
		}
		select {
		case <-wake:
		case <-time.After(10 * time.Second):
			fmt.Println("no progress")
			return
		}
	}
	st := server.ConnectionState()
	fmt.Println("server:", tls.VersionName(st.Version), st.NegotiatedProtocol, st.ServerName)

	// After the handshake everything happens on this goroutine.
	wire, _, _ = client.AppendWrite(wire[:0], []byte("hello over TLS"))
	server.Feed(wire)
	buf := make([]byte, 64)
	n, err := server.Read(buf)
	fmt.Printf("server read %q, %v\n", buf[:n], err)
	_, err = server.Read(buf)
	fmt.Println("then:", err == ErrWouldBlock)

	client.CloseWrite()
	pump()
	_, err = server.Read(buf)
	fmt.Println("after close_notify:", err)
	// Output:
	// server: TLS 1.3 h2 server.test
	// server read "hello over TLS", <nil>
	// then: true
	// after close_notify: EOF
}
