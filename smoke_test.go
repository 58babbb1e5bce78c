package tevent

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSmoke(t *testing.T) {
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) {
			ev, err := New(WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Free()
			var order []string
			im := ev.NewImmediate()
			im.Schedule(func(ev *Context, im *Immediate) { order = append(order, "imm") })
			ev.AddTimer(time.Now(), func(ev *Context, te *Timer, now time.Time) { order = append(order, "timer") })
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p[1])
			fde, err := ev.AddFD(p[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
				var b [8]byte
				unix.Read(fde.Fd(), b[:])
				order = append(order, "fd")
				fde.Free()
			})
			if err != nil {
				t.Fatal(err)
			}
			fde.SetAutoClose()
			unix.Write(p[1], []byte("x"))
			tp, _ := ev.NewThreadProxy()
			done := make(chan struct{})
			go func() { tp.Schedule(func(ev *Context) { order = append(order, "proxy"); tp.Free() }); close(done) }()
			<-done
			if err := ev.LoopWait(); err != nil {
				t.Fatal(err)
			}
			t.Log(order)
			if len(order) != 4 {
				t.Fatalf("order %v", order)
			}
		})
	}
}
