package tevent

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Freeing from trace callbacks (issue 12): from the loop's trace points
// (item 8) and from per-event EventBeforeHandler callbacks and wrapper
// hooks (item 12).

// TestTraceFreeContextAtEveryPoint: Context.Free from the trace callback
// at each trace point makes the loop call return nil at once, on every
// backend; from TraceBeforeWait it used to go into the kernel wait on the
// freed context and hang.
func TestTraceFreeContextAtEveryPoint(t *testing.T) {
	for _, point := range []TracePoint{TraceBeforeWait, TraceAfterWait, TraceBeforeLoopOnce, TraceAfterLoopOnce} {
		for _, via := range []string{"main", "wrapper"} {
			t.Run(point.String()+"/"+via, func(t *testing.T) {
				forEachBackend(t, func(t *testing.T, ev *Context) {
					drive := ev.LoopWait
					if via == "wrapper" {
						w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
						if err != nil {
							t.Fatal(err)
						}
						drive = w.LoopWait
					}
					p := newSockPair(t)
					writeBytes(t, p.fd[1], "x") // the wait returns at once
					ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
					if _, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, f *FD, _ FDFlags) {
						var b [8]byte
						unix.Read(f.Fd(), b[:])
					}); err != nil {
						t.Fatal(err)
					}
					after := false
					ev.SetTraceCallback(func(tp TracePoint) {
						if ev.IsFreed() {
							after = true
						}
						if tp == point {
							ev.Free()
						}
					})
					if err := boundedLoop(t, "LoopWait", drive); err != nil {
						t.Fatalf("LoopWait: %v", err)
					}
					if !ev.IsFreed() || after {
						t.Fatalf("freed %v; trace callback called after the free: %v", ev.IsFreed(), after)
					}
				})
			})
		}
	}
}

// TestTraceBeforeWaitChanges: what TraceBeforeWait changes is taken into
// account by the wait that follows: freeing the last timer, fd event,
// proxy or wrapper ends LoopWait instead of waiting for nothing; Stop
// ends it with ErrStopped; an fd event, immediate or earlier timer added
// there is handled without waiting for the hour-away timer.
func TestTraceBeforeWaitChanges(t *testing.T) {
	hour := func(ev *Context) *Timer {
		return ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { panic("the hour-away timer fired") })
	}
	cases := []struct {
		name string
		// setup registers what the loop waits for and returns the trace
		// point action and whether the loop call's result is right.
		setup func(t *testing.T, ev *Context) (act func(), ok func(error) bool)
	}{
		{"free-last-timer", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			tm := hour(ev)
			return tm.Free, func(err error) bool { return err == nil }
		}},
		{"free-last-fd", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			p := newSockPair(t)
			f, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) {})
			if err != nil {
				t.Fatal(err)
			}
			return f.Free, func(err error) bool { return err == nil }
		}},
		{"free-last-proxy", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			tp, err := ev.NewThreadProxy()
			if err != nil {
				t.Fatal(err)
			}
			return tp.Free, func(err error) bool { return err == nil }
		}},
		{"free-wrapper", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
			if err != nil {
				t.Fatal(err)
			}
			hour(w)
			return w.Free, func(err error) bool { return err == nil && !ev.IsFreed() }
		}},
		{"stop", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			tm := hour(ev)
			return ev.Stop, func(err error) bool { tm.Free(); return errors.Is(err, ErrStopped) }
		}},
		{"add-fd", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			tm := hour(ev)
			p := newSockPair(t)
			writeBytes(t, p.fd[1], "x")
			return func() {
					if _, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, f *FD, _ FDFlags) { f.Free(); tm.Free() }); err != nil {
						t.Error(err)
					}
				}, func(err error) bool {
					return err == nil
				}
		}},
		{"add-immediate", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			tm := hour(ev)
			return func() { ev.NewImmediate().Schedule(func(*Context, *Immediate) { tm.Free() }) }, func(err error) bool { return err == nil }
		}},
		{"add-earlier-timer", func(t *testing.T, ev *Context) (func(), func(error) bool) {
			tm := hour(ev)
			return func() { ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { tm.Free() }) }, func(err error) bool { return err == nil }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				if ev.loop.sharedChanges && c.name != "free-last-proxy" && c.name != "stop" {
					// poll_mt: the trace callback hands the loop to other
					// goroutines at TraceBeforeWait; the loop does not
					// look at its events after it.
					t.Skip("poll_mt")
				}
				act, ok := c.setup(t, ev)
				once := false
				ev.SetTraceCallback(func(tp TracePoint) {
					if tp == TraceBeforeWait && !once {
						once = true
						act()
					}
				})
				err := boundedLoop(t, "LoopWait", ev.LoopWait)
				if !once || !ok(err) {
					t.Fatalf("LoopWait after %s at TraceBeforeWait: %v (callback ran: %v)", c.name, err, once)
				}
			})
		})
	}
}

// TestEventTraceFreeBeforeHandler: freeing the event, its scope or the
// context from the per-event EventBeforeHandler trace callback stops its
// handler, for fd, timer, immediate and signal events, added directly or
// through a wrapper.
func TestEventTraceFreeBeforeHandler(t *testing.T) {
	type handle interface{ Free() }
	kinds := []string{"fd", "timer", "immediate", "signal"}
	for _, kind := range kinds {
		for _, what := range []string{"event", "scope", "context", "wrapper"} {
			for _, wrapped := range []bool{false, true} {
				if what == "wrapper" && !wrapped {
					continue
				}
				name := kind + "/" + what
				if wrapped {
					name += "/wrapped"
				}
				t.Run(name, func(t *testing.T) {
					forEachBackend(t, func(t *testing.T, ev *Context) {
						on := ev
						if wrapped {
							w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
							if err != nil {
								t.Fatal(err)
							}
							on = w
						}
						s := on.NewScope()
						ran, traced := false, false
						var ev0 any
						var toFree handle
						switch what {
						case "scope":
							toFree = s
						case "context":
							toFree = ev
						case "wrapper":
							toFree = on
						}
						before := func(e any) {
							if e != ev0 || traced {
								return
							}
							traced = true
							if toFree == nil {
								e.(handle).Free()
							} else {
								toFree.Free()
							}
						}
						switch kind {
						case "fd":
							p := newSockPair(t)
							writeBytes(t, p.fd[1], "x")
							ev.SetFDTraceCallback(func(f *FD, tp EventTracePoint) {
								if tp == EventBeforeHandler {
									before(f)
								}
							})
							f, err := s.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { ran = true })
							if err != nil {
								t.Fatal(err)
							}
							ev0 = f
						case "timer":
							ev.SetTimerTraceCallback(func(te *Timer, tp EventTracePoint) {
								if tp == EventBeforeHandler {
									before(te)
								}
							})
							ev0 = s.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { ran = true })
						case "immediate":
							ev.SetImmediateTraceCallback(func(im *Immediate, tp EventTracePoint) {
								if tp == EventBeforeHandler {
									before(im)
								}
							})
							im := s.NewImmediate()
							im.Schedule(func(*Context, *Immediate) { ran = true })
							ev0 = im
						case "signal":
							ev.SetSignalTraceCallback(func(se *Signal, tp EventTracePoint) {
								if tp == EventBeforeHandler {
									before(se)
								}
							})
							se, err := s.AddSignal(syscall.SIGUSR1, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { ran = true })
							if err != nil {
								t.Fatal(err)
							}
							ev0 = se
							killSelf(t, syscall.SIGUSR1)
						}
						driveUntil(t, ev, func() bool { return traced || ran || ev.IsFreed() })
						if !traced || ran {
							t.Fatalf("trace callback ran %v; handler ran after the %s was freed: %v", traced, what, ran)
						}
					})
				})
			}
		}
	}
}

// TestWrapperHookFreeBeforeHandler: a wrapper's Before*Handler hook that
// frees the event (or the wrapper) stops the handler too: a freed event
// never fires.
func TestWrapperHookFreeBeforeHandler(t *testing.T) {
	for _, what := range []string{"event", "wrapper"} {
		for _, kind := range []string{"fd", "timer", "immediate", "signal"} {
			t.Run(kind+"/"+what, func(t *testing.T) {
				forEachBackend(t, func(t *testing.T, ev *Context) {
					var w *Context
					hooked, ran, after := false, false, false
					free := func(h interface{ Free() }) {
						hooked = true
						if what == "wrapper" {
							w.Free()
						} else {
							h.Free()
						}
					}
					w, err := ev.NewWrapper(WrapperHooks{Name: "w",
						BeforeFDHandler:        func(_ *Context, f *FD, _ FDFlags) { free(f) },
						BeforeTimerHandler:     func(_ *Context, te *Timer, _ time.Time) { free(te) },
						BeforeImmediateHandler: func(_ *Context, im *Immediate) { free(im) },
						BeforeSignalHandler:    func(_ *Context, se *Signal, _ syscall.Signal, _ int) { free(se) },
						AfterFDHandler:         func(*Context, *FD, FDFlags) { after = true },
						AfterTimerHandler:      func(*Context, *Timer, time.Time) { after = true },
						AfterImmediateHandler:  func(*Context, *Immediate) { after = true },
						AfterSignalHandler:     func(*Context, *Signal, syscall.Signal, int) { after = true },
					})
					if err != nil {
						t.Fatal(err)
					}
					switch kind {
					case "fd":
						p := newSockPair(t)
						writeBytes(t, p.fd[1], "x")
						if _, err := w.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { ran = true }); err != nil {
							t.Fatal(err)
						}
					case "timer":
						w.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { ran = true })
					case "immediate":
						w.NewImmediate().Schedule(func(*Context, *Immediate) { ran = true })
					case "signal":
						if _, err := w.AddSignal(syscall.SIGUSR1, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { ran = true }); err != nil {
							t.Fatal(err)
						}
						killSelf(t, syscall.SIGUSR1)
					}
					driveUntil(t, ev, func() bool { return hooked || ran })
					if ran {
						t.Fatalf("the handler ran although the %s hook freed the %s", kind, what)
					}
					if what == "wrapper" && after {
						t.Fatal("the After hook of a freed wrapper ran")
					}
				})
			})
		}
	}
}

// TestQueueTraceFreeBeforeTrigger: freeing the entry, its request or the
// queue from the queue trace callback's EventBeforeHandler stops the
// trigger.
func TestQueueTraceFreeBeforeTrigger(t *testing.T) {
	for _, what := range []string{"entry", "request", "queue"} {
		t.Run(what, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				q := ev.NewQueue("q")
				r := NewReq[int](ev)
				triggered, traced := false, false
				var e *QueueEntry
				ev.SetQueueTraceCallback(func(qe *QueueEntry, tp EventTracePoint) {
					if tp != EventBeforeHandler || qe != e {
						return
					}
					traced = true
					switch what {
					case "entry":
						e.Free()
					case "request":
						r.Free()
					case "queue":
						q.Free()
					}
				})
				e = q.Add(r, func(AnyReq) { triggered = true })
				driveUntil(t, ev, func() bool { return traced || triggered })
				if triggered {
					t.Fatalf("the trigger ran although the trace callback freed the %s", what)
				}
				r.Free()
			})
		})
	}
}
