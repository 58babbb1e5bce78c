// Command echo-nbio-tls is impl nbio-tls of bench/run.sh net -tls:
// echo-nbio with TLS the way nbhttp does it (nbio v1.6.8):
// lesismal/llib/std/crypto/tls (nbio's fork of crypto/tls that can be fed
// bytes instead of reading a socket) in non-blocking mode, one tls.Conn per
// nbio.Conn kept as its session, its buffers from nbio's mempool. OnData
// hands the ciphertext nbio read to AppendAndRead, which appends it to the
// tls.Conn's record buffer, runs the handshake or decrypts, and returns the
// plaintext in nbio's read buffer; Write seals it into one record and
// writes it through nbio.Conn (sent at once or queued by nbio).
// ResetOrFreeBuffer then gives the record buffer back to the pool when it
// is empty, so an idle connection holds no read buffer.
//
// -ext uses nbio's extension/tls instead (what nbio's README examples show;
// its source marks it deprecated): the same tls.Conn, but OnData allocates
// a 2 KiB plaintext buffer per call and never frees the record buffer.
//
// -loops sets NPoller (default 1). nbio also runs one listener goroutine.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	ntls "github.com/lesismal/nbio/extension/tls"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/mempool"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7013", "listen address")
	certFile := flag.String("cert", "cert.pem", "certificate (PEM)")
	keyFile := flag.String("key", "key.pem", "private key (PEM)")
	loops := flag.Int("loops", 1, "number of nbio pollers (NPoller)")
	ext := flag.Bool("ext", false, "use nbio's (deprecated) extension/tls wrappers")
	flag.Parse()

	logging.Output = os.Stderr
	logging.SetLevel(logging.LevelError)

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-nbio-tls:", err)
		os.Exit(1)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	eng := nbio.NewEngine(nbio.Config{
		Network: "tcp",
		Addrs:   []string{*addr},
		NPoller: *loops,
	})
	if *ext {
		eng.OnOpen(ntls.WrapOpen(cfg, false, nil))
		eng.OnData(ntls.WrapData(func(c *nbio.Conn, tc *tls.Conn, data []byte) {
			if _, err := tc.Write(data); err != nil {
				c.Close()
			}
		}))
	} else {
		eng.OnOpen(func(c *nbio.Conn) {
			c.SetSession(tls.NewConn(c, cfg, false, true, mempool.DefaultMemPool))
		})
		eng.OnData(func(c *nbio.Conn, data []byte) {
			tc, ok := c.Session().(*tls.Conn)
			if !ok {
				c.Close()
				return
			}
			defer tc.ResetOrFreeBuffer()
			in := data
			for {
				// data is nbio's read buffer: its ciphertext is copied
				// into tc first, then plaintext is decrypted into it.
				_, n, err := tc.AppendAndRead(in, data)
				in = nil
				if err != nil {
					c.CloseWithError(err)
					return
				}
				if n == 0 {
					return
				}
				if _, err := tc.Write(data[:n]); err != nil {
					c.CloseWithError(err)
					return
				}
			}
		})
	}
	if err := eng.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "nbio start:", err)
		os.Exit(1)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("READY")
	<-sig
	eng.Stop()
	os.Exit(0)
}
