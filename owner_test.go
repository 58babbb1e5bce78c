package tevent

import (
	"context"
	"testing"
	"time"
)

// TestOwnerContextOrScope: a *Context is accepted wherever an owner is
// (NewReq, Go, Wakeup, Queue.Wait), as is a *Scope and a wrapper; the
// request is owned by the context's root scope (freed with it) or by the
// scope given (freed with that scope, not before).
func TestOwnerContextOrScope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
		if err != nil {
			t.Fatal(err)
		}
		s := ev.NewScope()
		for _, o := range []Owner{ev, &ev.Scope, s, w} {
			r := NewReq[int](o)
			g := Go(o, func(context.Context) (int, error) { return 3, nil })
			wk := Wakeup(o, time.Now())
			q := ev.NewQueue("q")
			qw := q.Wait(o)
			driveUntil(t, ev, func() bool {
				return g.State() != ReqInProgress && wk.State() != ReqInProgress && qw.State() != ReqInProgress
			})
			if v, err := g.Result(); v != 3 || err != nil {
				t.Fatalf("Go(%T): %v %v", o, v, err)
			}
			if _, err := wk.Result(); err != nil {
				t.Fatalf("Wakeup(%T): %v", o, err)
			}
			if _, err := qw.Result(); err != nil {
				t.Fatalf("Queue.Wait(%T): %v", o, err)
			}
			if r.State() != ReqInProgress {
				t.Fatalf("NewReq(%T): state %v", o, r.State())
			}
			r.Free()
			q.Free()
		}
		// Owned by s: freed with it.
		r := NewReq[int](s)
		s.Free()
		if r.State() != ReqReceived {
			t.Fatalf("a request owned by a freed scope: state %v, want ReqReceived", r.State())
		}
	})
}

// TestOwnerNilPanics: a nil owner, of either kind, panics naming the
// function.
func TestOwnerNilPanics(t *testing.T) {
	var ev *Context
	var s *Scope
	misusePanic(t, "NewReq(nil *Context)", func() { NewReq[int](ev) }, "nil owner")
	misusePanic(t, "NewReq(nil *Scope)", func() { NewReq[int](s) }, "nil owner")
	misusePanic(t, "NewReq(nil)", func() { NewReq[int](nil) }, "nil owner")
	misusePanic(t, "Wakeup(nil)", func() { Wakeup(nil, time.Now()) }, "nil owner")
}
