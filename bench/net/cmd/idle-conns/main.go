// Command idle-conns is the idle probe of bench/run.sh net: it opens
// -conns connections to an echo server, sends one small message on each
// and reads the echo back (so the server has set up whatever
// per-connection state it keeps), then holds them all open and idle until
// SIGTERM/SIGINT or -hold elapses. Once every connection is established
// and echoed it prints one line on stdout:
//
//	HOLDING conns=<established> errors=<n>
//
// bench/run.sh reads the server's VmRSS while this process holds.
//
// -tls: each connection is a crypto/tls client (TLS 1.3 unless -tls-version
// 1.2, InsecureSkipVerify, X25519, no resumption, as echo-load -tls) that
// completes its handshake and exchanges one -size message (default 64
// with -tls) before it is held, so the server keeps the state of a live
// TLS connection.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "server address")
	n := flag.Int("conns", 10000, "connections to open and hold")
	size := flag.Int("size", 16, "size of the one message sent on each")
	parallel := flag.Int("parallel", 64, "connections being set up at once")
	hold := flag.Duration("hold", 0, "hold this long, then exit (0: until a signal)")
	useTLS := flag.Bool("tls", false, "TLS connections: handshake, then one message")
	tlsVersion := flag.String("tls-version", "1.3", "TLS version with -tls: 1.3 or 1.2")
	flag.Parse()
	var tlsCfg *tls.Config
	if *useTLS {
		v := map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}[*tlsVersion]
		if v == 0 {
			fmt.Fprintf(os.Stderr, "idle-conns: -tls-version %q: want 1.2 or 1.3\n", *tlsVersion)
			os.Exit(2)
		}
		tlsCfg = &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v,
			CurvePreferences: []tls.CurveID{tls.X25519}}
		sizeSet := false
		flag.Visit(func(f *flag.Flag) { sizeSet = sizeSet || f.Name == "size" })
		if !sizeSet {
			*size = 64
		}
	}

	conns := make([]net.Conn, *n)
	var mu sync.Mutex
	var errs int
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		errs++
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}

	sem := make(chan struct{}, max(1, *parallel))
	var wg sync.WaitGroup
	for i := 0; i < *n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
			if err != nil {
				fail(fmt.Errorf("dial: %w", err))
				return
			}
			if tlsCfg != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				tc := tls.Client(c, tlsCfg)
				err := tc.HandshakeContext(ctx)
				cancel()
				if err != nil {
					c.Close()
					fail(fmt.Errorf("tls handshake: %w", err))
					return
				}
				c = tc
			}
			msg := make([]byte, *size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			got := make([]byte, *size)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(msg); err != nil {
				c.Close()
				fail(fmt.Errorf("write: %w", err))
				return
			}
			if _, err := io.ReadFull(c, got); err != nil {
				c.Close()
				fail(fmt.Errorf("read: %w", err))
				return
			}
			if !bytes.Equal(got, msg) {
				c.Close()
				fail(fmt.Errorf("echo differs"))
				return
			}
			_ = c.SetDeadline(time.Time{})
			conns[i] = c
		}(i)
	}
	wg.Wait()

	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "idle-conns: %d errors, first: %v\n", errs, firstErr)
	}
	fmt.Printf("HOLDING conns=%d errors=%d\n", open, errs)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if *hold > 0 {
		select {
		case <-sig:
		case <-time.After(*hold):
		}
	} else {
		<-sig
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
