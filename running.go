package tevent

import "sync/atomic"

// runFlag is 1 while a loop function runs on the loop. A loop call enters
// it with a compare-and-swap, which is what catches a second goroutine
// driving the same loop; other goroutines read it atomically. Leaving it is
// a release store (leave, in running_tso.go and running_atomic.go): the
// next goroutine that enters must see the loop as this one left it, and
// nothing more is needed. An atomic store in Go is sequentially consistent,
// a full barrier on x86 (XCHG): it cost a busy LoopOnce 6 ns of its 21.
type runFlag struct{ v int32 }

// enter marks the loop running; false if it already was.
func (f *runFlag) enter() bool { return atomic.CompareAndSwapInt32(&f.v, 0, 1) }

// held reports whether a loop function runs.
func (f *runFlag) held() bool { return atomic.LoadInt32(&f.v) == 1 }
