package tevent

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy calls and Go results take turns with immediates (issue 12, item
// 9): a self-rescheduling immediate cannot starve them.

// chainLimit is how many links the immediate chain runs, at most, after
// the work it competes with was queued: far more than that work needs
// when they take turns.
const chainLimit = 100000

// chain is a self-rescheduling immediate. It runs until stop holds, or
// chainLimit links after mark was called, or testTimeout passes.
type chain struct {
	links  atomic.Int64
	marked atomic.Int64 // links when mark was called, plus one; 0: not yet
}

func (c *chain) start(ev *Context, stop func() bool) {
	deadline := time.Now().Add(testTimeout)
	var h ImmediateHandler
	h = func(_ *Context, im *Immediate) {
		n := c.links.Add(1)
		if m := c.marked.Load(); m != 0 && n-(m-1) >= chainLimit {
			return
		}
		if !stop() && (n%1024 != 0 || time.Now().Before(deadline)) {
			im.Schedule(h)
		}
	}
	ev.NewImmediate().Schedule(h)
}

// waitRunning waits, on a goroutine other than the loop's, until the chain
// has run a few links (bounded by testTimeout).
func (c *chain) waitRunning() {
	deadline := time.Now().Add(testTimeout)
	for c.links.Load() < 10 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
}

// mark records that the competing work is queued.
func (c *chain) mark() { c.marked.Store(c.links.Load() + 1) }

// behind is how many links ran after mark.
func (c *chain) behind() int64 { return c.links.Load() - (c.marked.Load() - 1) }

// TestFairnessProxyVsImmediateChain: calls scheduled from another
// goroutine while an immediate chain runs are run long before the chain
// ends, whether the loop is driven by LoopWait, LoopUntil or LoopOnce,
// and whether the calls arrive one at a time or several in one inbox
// batch (taken from the inbox at once: its later calls must not wait
// behind the chain either).
func TestFairnessProxyVsImmediateChain(t *testing.T) {
	for _, how := range []string{"LoopWait", "LoopUntil", "LoopOnce"} {
		for _, batch := range []int{1, 3} {
			t.Run(how+"/batch"+string(rune('0'+batch)), func(t *testing.T) {
				forEachBackend(t, func(t *testing.T, ev *Context) {
					tp, err := ev.NewThreadProxy()
					if err != nil {
						t.Fatal(err)
					}
					var c chain
					ran := 0
					c.start(ev, func() bool { return ran == batch })
					sent := make(chan struct{})
					go func() {
						defer close(sent)
						c.waitRunning()
						calls := make([]func(*Context), batch)
						for i := range calls {
							calls[i] = func(*Context) {
								ran++
								if ran == batch && how == "LoopWait" {
									tp.Free() // the chain stops too: LoopWait returns
								}
							}
						}
						for _, fn := range calls {
							if err := tp.Schedule(fn); err != nil {
								t.Error(err)
							}
						}
						c.mark()
					}()
					done := func() bool { return ran == batch || c.behind() >= chainLimit && c.marked.Load() != 0 }
					switch how {
					case "LoopWait":
						err = ev.LoopWait()
					case "LoopUntil":
						err = ev.LoopUntil(done)
					case "LoopOnce":
						for !done() && err == nil {
							err = ev.LoopOnce()
						}
					}
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					waitChan(t, "the sender", sent)
					if ran != batch || c.behind() >= chainLimit/2 {
						t.Fatalf("%d of %d proxy calls ran; %d links of the immediate chain ran after they were queued", ran, batch, c.behind())
					}
					tp.Free()
					if err := ev.LoopWait(); err != nil {
						t.Fatal(err)
					}
				})
			})
		}
	}
}

// TestFairnessGoResultVsImmediateChain: a Go request's result, which
// comes through the pool's proxy, is delivered while an immediate chain
// runs, with LoopUntil and with LoopOnce.
func TestFairnessGoResultVsImmediateChain(t *testing.T) {
	for _, how := range []string{"LoopUntil", "LoopOnce"} {
		t.Run(how, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				var c chain
				r := Go(ev, func(context.Context) (int, error) {
					c.waitRunning()
					c.mark()
					return 1, nil
				})
				c.start(ev, func() bool { return r.State() != ReqInProgress })
				done := func() bool { return r.State() != ReqInProgress || c.marked.Load() != 0 && c.behind() >= chainLimit }
				var err error
				if how == "LoopUntil" {
					err = ev.LoopUntil(done)
				} else {
					for !done() && err == nil {
						err = ev.LoopOnce()
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.State() != ReqDone || c.behind() >= chainLimit/2 {
					t.Fatalf("request %v; %d links of the chain ran after the result was sent", r.State(), c.behind())
				}
				if err := ev.LoopWait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
