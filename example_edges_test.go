package tevent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"syscall"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// LoopContext runs the loop until a context.Context is done; what is
// registered stays registered, so the caller decides what to free.
func ExampleContext_LoopContext() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	// A ticker that re-arms itself: LoopWait alone would never return.
	ticks := 0
	tick := ev.AddTimer(ev.Now(), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
		ticks++
		te.Update(now.Add(5 * time.Millisecond))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err = ev.LoopContext(ctx)
	fmt.Println("LoopContext:", err)
	fmt.Println("ticked:", ticks > 0, "- ticker still registered:", !tick.Freed())
	// Output:
	// LoopContext: context deadline exceeded
	// ticked: true - ticker still registered: true
}

// Stop is safe from any goroutine: here a goroutine stops a loop that
// would otherwise wait an hour for its timer.
func ExampleContext_Stop() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	timer := ev.AddTimer(time.Now().Add(time.Hour), func(*tevent.Context, *tevent.Timer, time.Time) {})
	running := make(chan struct{})
	ev.NewImmediate().Schedule(func(*tevent.Context, *tevent.Immediate) { close(running) })
	go func() {
		<-running
		ev.Stop()
	}()

	err = ev.LoopWait()
	fmt.Println("stopped:", errors.Is(err, tevent.ErrStopped))
	fmt.Println("timer still registered:", !timer.Freed())
	// Output:
	// stopped: true
	// timer still registered: true
}

// A connection made with Go's net package handed to the loop. The loop
// needs a descriptor of its own: dup the connection's inside
// SyscallConn().Control (where the descriptor is valid) and close the
// net.Conn, whose poller then lets go of it; the duplicate shares the open
// file, which Go already made non-blocking. (With (*net.TCPConn).File the
// same works: File returns a duplicate; call unix.SetNonblock(fd, true) on
// it, since os.File.Fd makes it blocking.)
func ExampleScope_AddFD_netConn() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	conn, err := ln.Accept()
	ln.Close()
	if err != nil {
		log.Fatal(err)
	}

	fd, err := dupConnFD(conn.(syscall.Conn))
	conn.Close() // the loop's duplicate keeps the connection open
	if err != nil {
		log.Fatal(err)
	}
	var got []byte
	fde, err := ev.AddFD(fd, tevent.FDRead, func(ev *tevent.Context, fde *tevent.FD, _ tevent.FDFlags) {
		buf := make([]byte, 64)
		n, err := unix.Read(fde.Fd(), buf)
		switch {
		case err == unix.EAGAIN:
			return // readiness went stale: wait again
		case n > 0:
			got = append(got, buf[:n]...)
			return
		}
		fmt.Printf("read %q, then end of file\n", got)
		fde.Free() // closes the duplicate (SetAutoClose)
	})
	if err != nil {
		log.Fatal(err)
	}
	fde.SetAutoClose()

	client.Write([]byte("hello from net"))
	client.Close()
	if err := ev.LoopWait(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// read "hello from net", then end of file
}

// dupConnFD returns a duplicate of c's descriptor, close-on-exec.
func dupConnFD(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return fd, dupErr
}
