//go:build !race

package tevent

// idle marks the loop as no longer running. The flag is set with a
// compare-and-swap, which is what catches a second goroutine entering a
// running loop. Clearing it is a plain store: an atomic store is a full
// barrier (an XCHG on amd64, about 3 ns, 15% of an immediate's loop
// turn), and nothing needs one here. A goroutine that takes the context
// over legitimately is ordered after this one by whatever handed the
// context over; one that races with it is misusing the context, and its
// compare-and-swap sees either value, each aligned word store being
// atomic on every platform Go supports. Under the race detector the store
// is atomic (running_race.go), so that the misuse tests, which drive one
// context from two goroutines on purpose, report ErrConcurrentUse rather
// than a data race.
func (ev *Context) idle() { ev.running = 0 }
