// Command echo-net-tls is impl net-tls of bench/run.sh net -tls:
// echo-net with crypto/tls on top. Go net listener wrapped by
// tls.NewListener, one goroutine per accepted connection, the same blocking
// Read/Write loop with a 4 KiB buffer per connection (-buf); the handshake
// runs inside the first Read. Per message: crypto/tls reads the record
// (one read(2) into its own record buffer), decrypts it into buf, and Write
// seals buf into one record and writes it (one write(2)). TLS 1.2 and 1.3,
// crypto/tls defaults otherwise (one session ticket after the handshake).
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func serve(c net.Conn, bufSize int) {
	defer c.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7011", "listen address")
	certFile := flag.String("cert", "cert.pem", "certificate (PEM)")
	keyFile := flag.String("key", "key.pem", "private key (PEM)")
	bufSize := flag.Int("buf", 4096, "per-connection read buffer in bytes")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-net-tls:", err)
		os.Exit(1)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	tln := tls.NewListener(ln, cfg)
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// EMFILE and friends: report, back off, keep accepting.
				fmt.Fprintln(os.Stderr, "accept:", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go serve(c, *bufSize)
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("READY")
	<-sig
	ln.Close()
	os.Exit(0)
}
