// Command echo-gnet is an echo server on gnet v2, impl gnet of
// bench/run.sh net. With the default -loops 1 it runs with
// WithMulticore(false) and WithNumEventLoop(1): one I/O event loop that owns
// every connection (gnet also runs its own acceptor goroutine on Linux).
// -loops N (>1) asks for N event loops instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...any) {}
func (stderrLogger) Infof(string, ...any)  {}
func (stderrLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet warn: "+f+"\n", a...)
}
func (stderrLogger) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet error: "+f+"\n", a...)
}
func (stderrLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet fatal: "+f+"\n", a...)
	os.Exit(1)
}

type echo struct {
	gnet.BuiltinEventEngine
	booted chan gnet.Engine
}

func (e *echo) OnBoot(eng gnet.Engine) gnet.Action {
	e.booted <- eng
	return gnet.None
}

func (e *echo) OnTraffic(c gnet.Conn) gnet.Action {
	// Next(-1) hands out everything buffered; Write either sends it now or
	// copies the unsent tail into the connection's outbound buffer, so the
	// slice need not outlive this call.
	buf, err := c.Next(-1)
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7002", "listen address")
	loops := flag.Int("loops", 1, "number of gnet event loops")
	flag.Parse()

	opts := []gnet.Option{
		gnet.WithLogger(stderrLogger{}),
		gnet.WithReusePort(false),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
	}
	if *loops <= 1 {
		opts = append(opts, gnet.WithMulticore(false), gnet.WithNumEventLoop(1))
	} else {
		opts = append(opts, gnet.WithMulticore(true), gnet.WithNumEventLoop(*loops))
	}

	e := &echo{booted: make(chan gnet.Engine, 1)}
	runErr := make(chan error, 1)
	go func() { runErr <- gnet.Run(e, "tcp://"+*addr, opts...) }()

	var eng gnet.Engine
	select {
	case eng = <-e.booted:
	case err := <-runErr:
		fmt.Fprintln(os.Stderr, "gnet.Run:", err)
		os.Exit(1)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("READY")
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = eng.Stop(ctx)
	cancel()
	os.Exit(0)
}
