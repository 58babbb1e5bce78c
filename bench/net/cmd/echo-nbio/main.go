// Command echo-nbio is an echo server on lesismal/nbio, impl nbio of
// bench/run.sh net. -loops sets NPoller (default 1):
// the number of I/O poller goroutines; OnData runs inline on the poller that
// read the bytes. nbio also runs one listener poller goroutine.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7003", "listen address")
	loops := flag.Int("loops", 1, "number of nbio pollers (NPoller)")
	flag.Parse()

	logging.Output = os.Stderr
	logging.SetLevel(logging.LevelError)

	eng := nbio.NewEngine(nbio.Config{
		Network: "tcp",
		Addrs:   []string{*addr},
		NPoller: *loops,
	})
	eng.OnData(func(c *nbio.Conn, data []byte) {
		// Write sends now or copies the unsent tail into nbio's write
		// queue; data belongs to the poller and is reused after we return.
		if _, err := c.Write(data); err != nil {
			c.Close()
		}
	})
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
