// Command kv is a small Redis-protocol (RESP2) in-memory key-value server
// on the tserver fast path, for redis-cli, redis-benchmark and any
// Redis client library. See README.md for the commands it knows.
//
//	go run ./examples/kv -addr 127.0.0.1:6380 -loops 2
//
// With -loops N the key space is split into N shards, one per event loop;
// commands on another loop's keys are forwarded to it through thread
// proxies. It prints "READY <address>" once listening, and exits 0 after a
// graceful shutdown on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on (host:port, numeric)")
	loops := flag.Int("loops", 1, "event loops, each owning one shard of the keys")
	backend := flag.String("backend", "", "tevent backend (default: the platform's default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kv:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "kv:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(*addr, *loops, *backend); err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(addr string, loops int, backend string) error {
	if loops < 1 {
		return fmt.Errorf("-loops %d: need at least 1", loops)
	}
	kv, err := newKV(config{loops: loops, backend: backend})
	if err != nil {
		return err
	}
	bound, err := kv.listen(addr)
	if err != nil {
		kv.shutdown(time.Now())
		return err
	}
	if err := kv.start(); err != nil {
		return err
	}
	fmt.Println("READY", bound)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- kv.wait() }()
	select {
	case <-sigs:
		kv.shutdown(time.Now().Add(5 * time.Second))
		return <-done
	case err := <-done:
		return err
	}
}
