// Command tevent-echo is an echo server on tserver, the server fast path:
// the project's network benchmark server (impl go-tevent), written the
// way the tserver package documentation tells users to write a server.
//
//	tevent-echo [-addr 127.0.0.1:7000] [-loops 1] [-backend NAME]
//	            [-tls-cert FILE -tls-key FILE] [-tls-handshake-timeout 10s]
//
// With -tls-cert and -tls-key (PEM files, both or neither) it serves TLS
// (tserver.Config.TLS with the key pair and crypto/tls's defaults: TLS
// 1.2 and 1.3), the benchmark's impl go-tevent-tls; the handler is the
// same, OnData sees plaintext and Write encrypts. It prints READY on
// stdout once listening, sets TCP_NODELAY on accepted
// sockets (tserver's default), raises its descriptor limit to the hard
// limit, and exits 0 on SIGTERM or SIGINT after closing its connections.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gotevent/tevent/tserver"
	"golang.org/x/sys/unix"
)

// echo writes every byte it receives back.
type echo struct{ tserver.BaseHandler }

func (echo) OnData(c *tserver.Conn, in []byte) int {
	c.Write(in)
	return len(in)
}

// usage prints the flags with one write: a benchmark script may grep
// -h's output with grep -q under pipefail, and a usage written line by
// line can die of SIGPIPE once grep has seen its line.
func usage() {
	var b strings.Builder
	b.WriteString("usage: tevent-echo [flags]\n")
	flag.CommandLine.SetOutput(&b)
	flag.PrintDefaults()
	flag.CommandLine.SetOutput(os.Stderr)
	os.Stderr.WriteString(b.String())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen address (numeric host:port)")
	loops := flag.Int("loops", 1, "number of event loops")
	backend := flag.String("backend", "", "tevent backend `name` (default: the default backend)")
	certFile := flag.String("tls-cert", "", "serve TLS with this PEM certificate (with -tls-key)")
	keyFile := flag.String("tls-key", "", "the PEM private key of -tls-cert")
	hsTimeout := flag.Duration("tls-handshake-timeout", 0, "TLS handshake timeout (0: tserver.DefaultTLSHandshakeTimeout)")
	flag.Usage = usage
	flag.Parse()
	cfg := &tserver.Config{Loops: *loops, Backend: *backend, TLSHandshakeTimeout: *hsTimeout}
	switch {
	case (*certFile == "") != (*keyFile == ""):
		fmt.Fprintln(os.Stderr, "tevent-echo: -tls-cert and -tls-key go together")
		flag.Usage()
		os.Exit(2)
	case *certFile != "":
		kp, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tevent-echo:", err)
			os.Exit(1)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{kp}}
	}

	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}

	srv, err := tserver.New(echo{}, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tevent-echo:", err)
		os.Exit(1)
	}
	if _, err := srv.Listen("tcp", *addr); err != nil {
		fmt.Fprintln(os.Stderr, "tevent-echo:", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		srv.Shutdown(time.Now().Add(2 * time.Second))
	}()
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "tevent-echo:", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	if err := srv.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "tevent-echo:", err)
		os.Exit(1)
	}
}
