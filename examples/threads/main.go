// Command threads is tevent's master/worker example for goroutines: a
// master context with a thread proxy, and N worker goroutines, each with
// its own context and proxy. Every worker sends a request to the master
// through the master's proxy; the master prints which worker called and
// replies through that worker's proxy; each worker loops until its reply
// arrives. Then everything is freed and the program exits 0.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/gotevent/tevent"
)

// request is what a worker sends to the master.
type request struct {
	worker int
	reply  *tevent.ThreadProxy // the worker's proxy, for the answer
	done   *bool               // set by the reply, on the worker's loop
}

func main() {
	workers := flag.Int("workers", 8, "number of worker goroutines")
	flag.Parse()
	if err := run(*workers); err != nil {
		fmt.Fprintln(os.Stderr, "threads:", err)
		os.Exit(1)
	}
}

func run(workers int) error {
	master, err := tevent.New()
	if err != nil {
		return err
	}
	defer master.Free()
	masterProxy, err := master.NewThreadProxy()
	if err != nil {
		return err
	}

	served := 0
	// handle runs on the master's loop goroutine: no locks needed.
	handle := func(req request) {
		served++
		fmt.Printf("master: request from worker %d\n", req.worker)
		answer := fmt.Sprintf("hello worker %d", req.worker)
		if err := req.reply.Schedule(func(ev *tevent.Context) {
			fmt.Printf("worker %d: got %q\n", req.worker, answer)
			*req.done = true
		}); err != nil {
			fmt.Fprintf(os.Stderr, "master: reply to worker %d: %v\n", req.worker, err)
		}
	}

	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			errs <- worker(id, masterProxy, handle)
		}(i)
	}

	// The master serves until every worker has been answered.
	if err := master.LoopUntil(func() bool { return served == workers }); err != nil {
		return err
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("master: served %d workers\n", served)
	return nil
}

// worker runs one worker goroutine with its own context.
func worker(id int, master *tevent.ThreadProxy, handle func(request)) error {
	ev, err := tevent.New()
	if err != nil {
		return err
	}
	defer ev.Free()
	mine, err := ev.NewThreadProxy()
	if err != nil {
		return err
	}
	answered := false // touched only on this worker's loop goroutine
	req := request{worker: id, reply: mine, done: &answered}
	if err := master.Schedule(func(*tevent.Context) { handle(req) }); err != nil {
		return err
	}
	return ev.LoopUntil(func() bool { return answered })
}
