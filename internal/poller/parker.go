package poller

import (
	"sync/atomic"
	"time"
)

// Waker coordinates a loop's waits with wake-ups from other goroutines.
// When the loop has no descriptor to watch it parks on a channel, which
// the Go scheduler hands over without a system call or a thread wake-up;
// otherwise it waits in the kernel and the backend's own mechanism wakes
// it. Wake picks the mechanism the waiter announced.
type Waker struct {
	woken atomic.Bool
	mode  atomic.Int32
	ch    chan struct{}
	timer *time.Timer
}

// Wait modes.
const (
	ModeKernel int32 = iota
	ModeChan
)

// NewWaker returns a Waker.
func NewWaker() *Waker {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Waker{ch: make(chan struct{}, 1), timer: t}
}

// Announce records how the next wait will block and reports whether a
// wake-up is already pending, in which case the caller must not block.
func (w *Waker) Announce(mode int32) (woken bool) {
	w.mode.Store(mode)
	return w.woken.Swap(false)
}

// Clear forgets a pending wake-up once the wait has returned.
func (w *Waker) Clear() { w.woken.Store(false) }

// Park blocks on the channel for at most timeout (negative: forever). Call
// it after Announce(ModeChan) returned false.
func (w *Waker) Park(timeout time.Duration) {
	if timeout < 0 {
		<-w.ch
		return
	}
	w.timer.Reset(timeout)
	select {
	case <-w.ch:
		w.timer.Stop()
	case <-w.timer.C:
	}
}

// Wake wakes the current or next wait. kernel is the backend's own wake-up
// for ModeKernel waits.
func (w *Waker) Wake(kernel func() error) error {
	w.woken.Store(true)
	if w.mode.Load() == ModeChan {
		select {
		case w.ch <- struct{}{}:
		default:
		}
		return nil
	}
	return kernel()
}
