package tevent

import (
	"fmt"
	"slices"
	"testing"
)

// flowLog records what the call-depth callback is told, naming requests.
type flowLog struct {
	names map[AnyReq]string
	got   []string
}

func newFlowLog(ev *Context) *flowLog {
	fl := &flowLog{names: map[AnyReq]string{}}
	ev.SetCallDepthCallback(func(f CallFlow, r AnyReq, depth int) {
		name := "nil"
		if r != nil {
			if name = fl.names[r]; name == "" {
				name = "?"
			}
		}
		fl.got = append(fl.got, fmt.Sprintf("%v %s %d", f, name, depth))
	})
	return fl
}

func (fl *flowLog) want(t *testing.T, want ...string) {
	t.Helper()
	if !slices.Equal(fl.got, want) {
		t.Fatalf("call flow:\n got  %q\n want %q", fl.got, want)
	}
	fl.got = nil
}

// TestCallDepth: the call-depth callback
// (tevent_thread_call_depth_set_callback) is told of creation with the
// depth (a request made on another's scope, or a scope under it, is one
// deeper), of cleanup when a request finishes and when it is received, of
// each callback with the caller's depth (one less), of Cancel, of
// ResetCallDepth (tevent_thread_call_depth_reset_from_req), and of the
// reset to depth 0 after each loop turn; the callback it replaces is told
// of a reset first.
func TestCallDepth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		fl := newFlowLog(ev)
		parent := NewReq[int](ev)
		fl.names[parent] = "parent"
		child := NewReq[int](parent.Scope())
		fl.names[child] = "child"
		grand := NewReq[int](child.Scope().NewScope())
		fl.names[grand] = "grand"
		// The names are set after creation: the creations log as "?".
		fl.want(t, "create ? 0", "create ? 1", "create ? 2")

		ResetCallDepth(child)
		fl.want(t, "reset child 1")

		grand.SetCallback(func(g *Req[int]) {
			if _, err := g.Result(); err != nil {
				t.Error(err)
			}
			child.Done(1)
		})
		child.SetCallback(func(c *Req[int]) {
			if _, err := c.Result(); err != nil {
				t.Error(err)
			}
			parent.Done(2)
		})
		grand.Done(3)
		fl.want(t,
			"cleanup grand 2", "notify grand 1", // grand finishes, calls back child's code
			"cleanup grand 2",                   // received
			"cleanup child 1", "notify child 0", // child finishes
			"cleanup child 1",  // received
			"cleanup parent 0", // parent finishes; no callback
		)

		c := NewReq[int](ev)
		fl.names[c] = "c"
		c.SetCancelFn(func(r *Req[int]) bool { return r.Error(ErrCancelled) })
		fl.got = nil
		if !c.Cancel() {
			t.Fatal("Cancel returned false")
		}
		fl.want(t, "cancel c 0", "cleanup c 0")
		c.Free()
		fl.want(t, "cleanup c 0")

		// A loop turn ends with a reset to depth 0.
		ev.NewImmediate().Schedule(func(*Context, *Immediate) {})
		loopOnce(t, ev)
		fl.want(t, "reset nil 0")

		// Replacing the callback resets the old one.
		ev.SetCallDepthCallback(nil)
		fl.want(t, "reset nil 0")
		NewReq[int](ev).Free()
		loopOnceIfAny(t, ev)
		fl.want(t)
		parent.Free()
	})
}

// loopOnceIfAny runs one LoopOnce unless nothing is left.
func loopOnceIfAny(t *testing.T, ev *Context) {
	t.Helper()
	if err := ev.LoopOnce(); err != nil && err != ErrNoEvents {
		t.Fatal(err)
	}
}

// TestCallDepthQueue: queue entry, trigger and leave are told with the
// request's depth (TEVENT_CALL_FLOW_REQ_QUEUE_ENTER, _TRIGGER, _LEAVE);
// a posted callback is told as a direct one is.
func TestCallDepthQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		fl := newFlowLog(ev)
		parent := NewReq[int](ev)
		r := NewReq[int](parent.Scope())
		fl.names[parent], fl.names[r] = "parent", "r"
		fl.got = nil
		q := ev.NewQueue("q")
		q.Add(r, func(AnyReq) {
			r.Done(1)
			r.Post(nil)
		})
		r.SetCallback(func(r *Req[int]) {
			if _, err := r.Result(); err != nil {
				t.Error(err)
			}
		})
		fl.want(t, "queue-enter r 1")
		loopOnce(t, ev)
		fl.want(t, "queue-trigger r 1", "cleanup r 1", "queue-leave r 1", "notify r 0", "cleanup r 1", "reset nil 0")

		posted := NewReq[int](parent.Scope())
		fl.names[posted] = "posted"
		posted.Done(1)
		posted.Post(nil)
		posted.SetCallback(func(p *Req[int]) {
			if _, err := p.Result(); err != nil {
				t.Error(err)
			}
		})
		fl.want(t, "create ? 1", "cleanup posted 1")
		loopOnce(t, ev)
		fl.want(t, "notify posted 0", "cleanup posted 1", "reset nil 0")
		parent.Free()
		fl.want(t, "cleanup parent 0")
	})
}
