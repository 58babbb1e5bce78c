// Command http is an HTTP/1.1 server on the tserver fast path: package
// httpsrv (beside this file) parses requests in the data callback and
// runs an ordinary net/http handler, answering byte for byte as net/http
// would. See README.md.
//
//	go run ./examples/http -addr 127.0.0.1:8080 -dir .
//	curl -s localhost:8080/hello
//	curl -s --data-binary @README.md localhost:8080/echo
//	curl -s localhost:8080/files/README.md
//
// With -tls-cert and -tls-key (PEM files, both or neither) it serves
// HTTPS, HTTP/1.1 only (ALPN "http/1.1"), in both modes:
//
//	go run ./examples/http -tls-cert cert.pem -tls-key key.pem
//	curl -s --cacert cert.pem https://127.0.0.1:8080/hello
//
// It prints "READY <address>" once listening and exits 0 after a graceful
// shutdown on SIGINT or SIGTERM.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gotevent/tevent/examples/http/httpsrv"
	"github.com/gotevent/tevent/tserver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (host:port, numeric)")
	loops := flag.Int("loops", 1, "event loops")
	backend := flag.String("backend", "", "tevent backend (default: the platform's default)")
	dir := flag.String("dir", ".", "directory served under /files/")
	nethttp := flag.Bool("nethttp", false, "serve the same handler with net/http instead (for comparisons)")
	certFile := flag.String("tls-cert", "", "serve HTTPS with this PEM certificate (with -tls-key)")
	keyFile := flag.String("tls-key", "", "the PEM private key of -tls-cert")
	flag.Parse()
	tlsCfg, err := tlsConfig(*certFile, *keyFile)
	if errors.Is(err, errTLSFlags) {
		fmt.Fprintln(os.Stderr, "http:", err)
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
	if err := run(*addr, *loops, *backend, *dir, *nethttp, tlsCfg); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
}

// errTLSFlags is tlsConfig's error when only one of -tls-cert and
// -tls-key is given.
var errTLSFlags = errors.New("-tls-cert and -tls-key go together")

// tlsConfig is the server's TLS configuration for -tls-cert and -tls-key:
// nil for neither (plain HTTP), the key pair with ALPN "http/1.1" for
// both, errTLSFlags for one alone.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errTLSFlags
	}
	if certFile == "" {
		return nil, nil
	}
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{kp}, NextProtos: []string{"http/1.1"}}, nil
}

// demoHandler is the demo: /hello, /echo (the request body back) and
// /files/ (a static file tree).
func demoHandler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, world!\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	return mux
}

// run serves the demo until SIGINT or SIGTERM; over TLS when tlsCfg is
// not nil.
func run(addr string, loops int, backend, dir string, nethttp bool, tlsCfg *tls.Config) error {
	h := demoHandler(dir)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if nethttp {
		return runNetHTTP(addr, h, tlsCfg, sigs)
	}
	hs := &httpsrv.Server{Handler: h}
	// A request is kept whole in the connection's input until it is
	// served: let the largest one allowed fit. Responses are written
	// whole too (a handler runs to its end on the loop): let a 64 MiB
	// file through.
	srv, err := tserver.New(hs, &tserver.Config{
		Loops:          loops,
		Backend:        backend,
		MaxInbound:     hs.InboundLimit(),
		MaxWriteBuffer: 64 << 20,
		IdleTimeout:    2 * time.Minute,
		TLS:            tlsCfg,
	})
	if err != nil {
		return err
	}
	bound, err := srv.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		srv.Wait()
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	fmt.Println("READY", bound)
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case <-sigs:
		srv.Shutdown(time.Now().Add(5 * time.Second))
		return <-done
	case err := <-done:
		return err
	}
}

// runNetHTTP serves h with net/http (HTTPS with tlsCfg, HTTP/1.1 only as
// this server, so that both speak the same protocol to clients offering
// h2) until SIGINT or SIGTERM.
func runNetHTTP(addr string, h http.Handler, tlsCfg *tls.Config, sigs <-chan os.Signal) error {
	srv := &http.Server{Addr: addr, Handler: h, IdleTimeout: 2 * time.Minute, TLSConfig: tlsCfg}
	var protos http.Protocols
	protos.SetHTTP1(true)
	srv.Protocols = &protos
	done := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			done <- srv.ListenAndServeTLS("", "")
		} else {
			done <- srv.ListenAndServe()
		}
	}()
	fmt.Println("READY", addr)
	select {
	case <-sigs:
		srv.Close()
		<-done
		return nil
	case err := <-done:
		return err
	}
}
