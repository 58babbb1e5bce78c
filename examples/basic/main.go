// Command basic shows the four kinds of tevent events working together on
// one loop: an fd event reads what a timer writes into a pipe, an
// immediate runs before anything else, and a signal (sent to ourselves)
// ends the program.
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}

func run() error {
	ev, err := tevent.New()
	if err != nil {
		return err
	}
	defer ev.Free()
	fmt.Println("backend:", ev.Backend())

	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
	}
	w := p[1]
	defer unix.Close(w)

	// An fd event: print every line the timer writes.
	reader, err := ev.AddFD(p[0], tevent.FDRead, func(ev *tevent.Context, fde *tevent.FD, flags tevent.FDFlags) {
		var buf [64]byte
		n, _ := unix.Read(fde.Fd(), buf[:])
		fmt.Printf("fd: read %q\n", buf[:n])
	})
	if err != nil {
		return err
	}
	reader.SetAutoClose() // close(p[0]) when the event is freed

	// A timer that re-arms itself three times, writing to the pipe.
	ticks := 0
	ev.AddTimer(time.Now().Add(10*time.Millisecond), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
		ticks++
		fmt.Fprintf(os.Stdout, "timer: tick %d\n", ticks)
		unix.Write(w, []byte(fmt.Sprintf("tick %d", ticks)))
		if ticks < 3 {
			te.Update(now.Add(10 * time.Millisecond))
			return
		}
		// Last tick: signal ourselves.
		unix.Kill(unix.Getpid(), unix.SIGUSR1)
	})

	// A signal event ends the program: freeing the reader leaves nothing
	// for LoopWait to wait for.
	_, err = ev.AddSignal(syscall.SIGUSR1, tevent.SAResetHand, func(ev *tevent.Context, se *tevent.Signal, sig syscall.Signal, count int, _ *tevent.SigInfo) {
		fmt.Printf("signal: %v (count %d)\n", sig, count)
		reader.Free()
	})
	if err != nil {
		return err
	}

	// An immediate runs on the next loop turn, before timers and fds.
	ev.NewImmediate().Schedule(func(ev *tevent.Context, im *tevent.Immediate) {
		fmt.Println("immediate: first")
	})

	return ev.LoopWait()
}
