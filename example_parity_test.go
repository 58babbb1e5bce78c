package tevent_test

import (
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/gotevent/tevent"
)

// Polling mode (tevent_context_set_wait_timeout(ev, 0)): run what is
// ready, never block. Samba's smbXcli_conn_is_connected polls a monitor
// request this way: ErrWouldBlock means nothing happened, and the request
// is still in progress.
func ExampleContext_SetWaitTimeout() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()
	ev.SetWaitTimeout(0)

	ev.NewImmediate().Schedule(func(*tevent.Context, *tevent.Immediate) { fmt.Println("ready work ran") })
	monitor := tevent.Wakeup(ev, time.Now().Add(time.Hour)) // stands for a request waiting on a socket
	err = monitor.Poll(ev)
	fmt.Println("Poll:", errors.Is(err, tevent.ErrWouldBlock), "- still in progress:", monitor.IsInProgress())
	// Output:
	// ready work ran
	// Poll: true - still in progress: true
}

// Interim results (tevent_req_notify_callback): the implementation calls
// Notify for each partial result and finishes the request with the last;
// the caller's callback tells them apart with IsInProgress.
func ExampleReq_Notify() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	var chunks []string // where the interim results go
	read := tevent.NewReq[int](ev)
	n := 0
	var next tevent.ImmediateHandler
	next = func(_ *tevent.Context, im *tevent.Immediate) {
		if n++; n < 3 {
			chunks = append(chunks, fmt.Sprintf("chunk%d", n))
			read.Notify()
			im.Schedule(next)
			return
		}
		read.Done(n - 1)
	}
	read.Scope().NewImmediate().Schedule(next)

	read.SetCallback(func(r *tevent.Req[int]) {
		if r.IsInProgress() {
			fmt.Println("interim:", chunks[len(chunks)-1])
			return
		}
		total, err := r.Result()
		fmt.Println("done:", total, "chunks, error:", err)
	})
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// interim: chunk1
	// interim: chunk2
	// done: 2 chunks, error: <nil>
}

// A write queue whose writes usually find it empty
// (tevent_queue_add_optimize_empty): the first write starts inside
// AddOptimizeEmpty, the second waits for it.
func ExampleQueue_AddOptimizeEmpty() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()
	q := ev.NewQueue("writes")

	write := func(what string) *tevent.Req[int] {
		req := tevent.NewReq[int](ev)
		q.AddOptimizeEmpty(req, func(tevent.AnyReq) {
			fmt.Println("writing", what)
			req.Done(len(what)) // a write that completed at once
		})
		if !req.IsInProgress() {
			return req.Post(nil) // finished inside: delivered on a later turn
		}
		return req
	}
	first := write("hello")
	fmt.Println("after the first AddOptimizeEmpty")
	first.SetCallback(func(r *tevent.Req[int]) {
		n, _ := r.Result()
		fmt.Println("wrote", n)
	})
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// writing hello
	// after the first AddOptimizeEmpty
	// wrote 5
}

// Request-flow tracing (tevent_thread_call_depth_set_callback), indented
// by call depth as winbindd indents its debug output.
func ExampleContext_SetCallDepthCallback() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()
	ev.SetCallDepthCallback(func(flow tevent.CallFlow, req tevent.AnyReq, depth int) {
		if flow == tevent.FlowCreate || flow == tevent.FlowNotify {
			fmt.Printf("%s%v\n", strings.Repeat("  ", depth), flow)
		}
	})

	outer := tevent.NewReq[int](ev)
	inner := tevent.Wakeup(outer.Scope(), time.Now()) // one level deeper
	inner.SetCallback(func(r *tevent.Req[struct{}]) {
		if _, err := r.Result(); !outer.Error(err) {
			outer.Done(1)
		}
	})
	outer.SetCallback(func(r *tevent.Req[int]) { r.Result() })
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// create
	//   create
	// notify
	// notify
}
