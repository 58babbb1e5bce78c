package tevent

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// streamSend is a request in the style of smb2cli_notify or tldap's
// search: each tick delivers an interim result through Notify, the last
// one finishes the request. results is where the caller finds the interim
// values.
func streamSend(s *Scope, n int, results *[]int) *Req[int] {
	req := NewReq[int](s)
	i := 0
	var tick ImmediateHandler
	tick = func(_ *Context, im *Immediate) {
		i++
		if i < n {
			*results = append(*results, i)
			req.Notify()
			im.Schedule(tick)
			return
		}
		req.Done(i)
	}
	req.Scope().NewImmediate().Schedule(tick)
	return req
}

// TestReqNotify: Notify (tevent_req_notify_callback) runs the callback
// at once with the request still in progress (Result says
// ErrNotFinished and changes nothing), as often as called; the callback
// then runs once more when the request finishes, and takes the result.
func TestReqNotify(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var results []int
		var seen []string
		req := streamSend(&ev.Scope, 4, &results)
		final := -1
		req.SetCallback(func(r *Req[int]) {
			if r.IsInProgress() {
				if _, err := r.Result(); !errors.Is(err, ErrNotFinished) {
					t.Errorf("Result inside an interim callback: %v, want ErrNotFinished", err)
				}
				seen = append(seen, "interim")
				return
			}
			v, err := r.Result()
			if err != nil {
				t.Error(err)
			}
			final = v
			seen = append(seen, "final")
		})
		driveUntil(t, ev, func() bool { return final >= 0 })
		if !slices.Equal(seen, []string{"interim", "interim", "interim", "final"}) || final != 4 || !slices.Equal(results, []int{1, 2, 3}) {
			t.Fatalf("callbacks %v, final %d, results %v; want 3 interim then final 4, results [1 2 3]", seen, final, results)
		}
	})
}

// TestReqNotifyDeferred: after Post on a request in progress
// (tevent_req_defer_callback), Notify runs the callback on a later loop
// turn, not inside Notify, and uses the deferral up: the final callback
// then runs directly from Done, as in C.
func TestReqNotifyDeferred(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		req := NewReq[int](ev)
		var seen []string
		req.SetCallback(func(r *Req[int]) {
			if r.IsInProgress() {
				seen = append(seen, "interim")
			} else {
				seen = append(seen, "final")
			}
		})
		req.Post(nil)
		req.Notify()
		if len(seen) != 0 {
			t.Fatalf("the callback ran inside a deferred Notify: %v", seen)
		}
		loopOnce(t, ev)
		if !slices.Equal(seen, []string{"interim"}) {
			t.Fatalf("after a loop turn: %v, want [interim]", seen)
		}
		req.Done(1)
		if !slices.Equal(seen, []string{"interim", "final"}) {
			t.Fatalf("after Done: %v, want the final callback run directly", seen)
		}
		if _, err := req.Result(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReqNotifyEdges: Notify without a callback does nothing; on a
// request that finished it panics like a second Done; on one that timed
// out, was freed, or was created on a freed scope, it does nothing.
func TestReqNotifyEdges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		req := NewReq[int](ev)
		req.Notify() // no callback
		calls := 0
		req.SetCallback(func(*Req[int]) { calls++ })
		req.Done(1)
		if calls != 1 {
			t.Fatalf("callback ran %d times after Done, want 1", calls)
		}
		misusePanic(t, "Notify after Done", req.Notify, "already finished")
		if calls != 1 {
			t.Fatalf("Notify after Done ran the callback again")
		}

		late := NewReq[int](ev)
		late.SetCallback(func(*Req[int]) { calls++ })
		late.SetEndtime(nil, time.Now())
		driveUntil(t, ev, func() bool { return !late.IsInProgress() })
		late.Notify()
		late.Free()
		late.Notify()

		s := ev.NewScope()
		s.Free()
		orphan := NewReq[int](s)
		orphan.SetCallback(func(*Req[int]) { t.Error("an orphan's callback ran") })
		orphan.Notify()
		if calls != 2 {
			t.Fatalf("callbacks %d, want 2 (Done, then the timeout)", calls)
		}
	})
}

// TestReqPrintFn: String uses the function SetPrintFn sets
// (tevent_req_set_print_fn), which can build on DefaultString
// (tevent_req_default_print); nil restores the default, and the function
// is dropped when the request is received, as tevent_req_received does.
func TestReqPrintFn(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	req := NewReq[int](ev)
	def := req.String()
	if def != req.DefaultString() || !strings.Contains(def, "ReqInProgress") {
		t.Fatalf("String %q, DefaultString %q", def, req.DefaultString())
	}
	req.SetPrintFn(func(r *Req[int]) string { return "smb2 read: " + r.DefaultString() })
	if got := req.String(); got != "smb2 read: "+def {
		t.Fatalf("String with a print function: %q", got)
	}
	req.SetPrintFn(nil)
	if got := req.String(); got != def {
		t.Fatalf("String after SetPrintFn(nil): %q, want %q", got, def)
	}
	req.SetPrintFn(func(*Req[int]) string { return "custom" })
	req.Done(1)
	if got := req.String(); got != "custom" {
		t.Fatalf("String of a finished request: %q, want the print function's", got)
	}
	if _, err := req.Result(); err != nil {
		t.Fatal(err)
	}
	if got := req.String(); got == "custom" || !strings.Contains(got, "ReqReceived") {
		t.Fatalf("String after Result: %q, want the default", got)
	}
	req.SetPrintFn(func(*Req[int]) string { return "too late" })
	if got := req.String(); got == "too late" {
		t.Fatal("SetPrintFn took effect on a received request")
	}
}
