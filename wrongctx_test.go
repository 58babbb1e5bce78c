package tevent

import (
	"errors"
	"testing"
	"time"
)

// TestWrongContextMisuse: a request used with a context other than its
// own is refused plainly: Poll returns ErrWrongContext, and Post,
// SetEndtime and Queue.Add (which cannot return an error) panic with a
// message naming the misuse and the fix. A wrapper of the request's
// context counts as its own loop.
func TestWrongContextMisuse(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	r := NewReq[int](&a.Scope)
	if err := r.Poll(b); !errors.Is(err, ErrWrongContext) {
		t.Fatalf("Poll with another context: %v", err)
	}
	mustPanicWith := func(what string, fn func()) {
		t.Helper()
		misusePanic(t, what+" with another context", fn, ErrWrongContext.Error(), what, "pass the context")
	}
	mustPanicWith("SetEndtime", func() { r.SetEndtime(b, time.Now()) })
	mustPanicWith("Post", func() { r.Post(b) })
	mustPanicWith("Queue.Add", func() { b.NewQueue("q").Add(r, func(AnyReq) {}) })

	w, _ := a.NewWrapper(WrapperHooks{})
	if !r.SetEndtime(w, time.Now().Add(time.Hour)) {
		t.Fatal("SetEndtime through a wrapper of the request's context refused")
	}
	r.Done(1)
	r.Post(w)
	if err := r.Poll(w); err != nil {
		t.Fatalf("Poll through a wrapper: %v", err)
	}
	if v, err := r.Result(); v != 1 || err != nil {
		t.Fatalf("Result = %d, %v", v, err)
	}
}
