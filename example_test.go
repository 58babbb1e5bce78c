package tevent_test

import (
	"fmt"
	"log"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// A context, a timer and a loop that runs until nothing is left to wait
// for.
func ExampleNew() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	start := time.Now()
	ev.AddTimer(start.Add(10*time.Millisecond), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
		fmt.Println("timer fired after at least 10ms:", now.Sub(start) >= 10*time.Millisecond)
	})
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("no events left")
	// Output:
	// timer fired after at least 10ms: true
	// no events left
}

// An fd event reading a non-blocking pipe; freeing the event closes the
// descriptor because of SetAutoClose.
func ExampleScope_AddFD() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		log.Fatal(err)
	}

	fde, err := ev.AddFD(p[0], tevent.FDRead, func(ev *tevent.Context, fde *tevent.FD, flags tevent.FDFlags) {
		buf := make([]byte, 64)
		n, err := unix.Read(fde.Fd(), buf)
		if n <= 0 || err != nil {
			fmt.Println("end of input")
			fde.Free() // closes p[0]
			return
		}
		fmt.Printf("read %q\n", buf[:n])
	})
	if err != nil {
		log.Fatal(err)
	}
	fde.SetAutoClose()

	unix.Write(p[1], []byte("hello"))
	if err := ev.LoopOnce(); err != nil {
		log.Fatal(err)
	}
	unix.Close(p[1]) // the reader sees end of input
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// read "hello"
	// end of input
}

// Immediates run in the order scheduled, before timers and fds, one per
// loop turn; rescheduling moves one to the back of the queue.
func ExampleImmediate_Schedule() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	say := func(s string) tevent.ImmediateHandler {
		return func(ev *tevent.Context, im *tevent.Immediate) { fmt.Println(s) }
	}
	ev.AddTimer(time.Now(), func(*tevent.Context, *tevent.Timer, time.Time) { fmt.Println("timer") })
	a, b := ev.NewImmediate(), ev.NewImmediate()
	a.Schedule(say("a"))
	b.Schedule(say("b"))
	a.Schedule(say("a, rescheduled"))
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// b
	// a, rescheduled
	// timer
}

// Another goroutine hands work to the loop through a thread proxy; the
// last call frees the proxy, which ends LoopWait.
func ExampleContext_NewThreadProxy() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	tp, err := ev.NewThreadProxy()
	if err != nil {
		log.Fatal(err)
	}
	sum := 0 // touched only on the loop's goroutine
	go func() {
		for i := 1; i <= 10; i++ {
			tp.Schedule(func(ev *tevent.Context) { sum += i })
		}
		tp.Schedule(func(ev *tevent.Context) { tp.Free() })
	}()
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sum:", sum)
	fmt.Println(tp.Schedule(func(*tevent.Context) {}))
	// Output:
	// sum: 55
	// tevent: thread proxy freed
}

// Relative deadlines from the loop's cached clock: Now reads the clock
// once per loop turn, so a handler arming many timers pays for one read.
func ExampleContext_Now() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	start := ev.Now()
	for i := 1; i <= 3; i++ {
		ev.AddTimer(ev.Now().Add(time.Duration(i)*time.Millisecond), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
			fmt.Printf("timer %d: on time %v\n", i, now.Sub(start) >= time.Duration(i)*time.Millisecond)
		})
	}
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// timer 1: on time true
	// timer 2: on time true
	// timer 3: on time true
}
