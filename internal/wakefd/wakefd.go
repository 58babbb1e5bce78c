// Package wakefd provides a descriptor that another goroutine can make
// readable to wake a loop blocked in the kernel: an eventfd on Linux, a
// non-blocking pipe elsewhere.
package wakefd

// WakeFD is a wake-up descriptor. ReadFD is polled for reading; Wake makes
// it readable; Drain makes it unreadable again.
type WakeFD struct {
	r, w int
}

// ReadFD is the descriptor to poll for reading.
func (w *WakeFD) ReadFD() int { return w.r }
