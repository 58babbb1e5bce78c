// Command echo-net is impl net of bench/run.sh net: the baseline a Go
// programmer writes without an event library.
// One goroutine per accepted connection, blocking Read/Write through the
// runtime netpoller, one fixed buffer per connection (-buf bytes, allocated
// when the connection is accepted). io.Copy is deliberately not used: on
// Linux TCP->TCP io.Copy splices through a pipe held for the whole life of
// the connection, which costs two extra fds per connection.
package main

import (
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
	addr := flag.String("addr", "127.0.0.1:7001", "listen address")
	bufSize := flag.Int("buf", 4096, "per-connection read buffer in bytes")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
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
