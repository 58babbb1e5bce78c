package tevent

import "fmt"

// CheckOnLoop returns an error wrapping ErrConcurrentUse when the caller
// is known not to be the goroutine that drives ev's loop: the loop is
// waiting in the kernel (a change made now would never reach it), or
// another goroutine is running it. It costs one or two atomic loads, so
// that libraries built on tevent (tsocket's streams) can catch the
// misuse the core catches in its own functions; what describes the
// caller in the error.
func (ev *Context) CheckOnLoop(what string) error {
	if ev.loop.offLoop() {
		return fmt.Errorf("%w: %s called from a goroutine that is not the one driving the context's loop; call it on that goroutine, or reach it through a ThreadProxy", ErrConcurrentUse, what)
	}
	return nil
}
