package tevent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReqProfileTree: a profiled request that runs two sub-requests (one
// done, one failed) has a profile tree with both, their states, errors and
// stop times; unprofiled requests have no profile.
func TestReqProfileTree(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	if NewReq[int](&ev.Scope).Profile() != nil {
		t.Fatal("unprofiled request has a profile")
	}
	outer := NewReq[int](&ev.Scope)
	prof := outer.EnableProfile("outer")
	errSub := errors.New("sub failed")
	sub1 := NewReq[string](outer.Scope())
	sub2 := NewReq[int](outer.Scope())
	sub1.SetCallback(func(r *Req[string]) {
		r.Result()
		sub2.Error(errSub)
	})
	sub2.SetCallback(func(r *Req[int]) {
		_, err := r.Result()
		outer.Error(err)
	})
	ev.NewImmediate().Schedule(func(*Context, *Immediate) { sub1.Done("ok") })
	done := false
	outer.SetCallback(func(*Req[int]) { done = true })
	driveUntil(t, ev, func() bool { return done })
	if _, err := outer.Result(); !errors.Is(err, errSub) {
		t.Fatalf("outer result: %v", err)
	}
	if prof.Name != "outer" || prof.State != ReqUserError || !errors.Is(prof.Err, errSub) || prof.Stop.IsZero() || prof.Duration() < 0 {
		t.Fatalf("outer profile: %+v", prof)
	}
	if len(prof.Subs) != 2 {
		t.Fatalf("outer has %d sub-profiles, want 2", len(prof.Subs))
	}
	if s := prof.Subs[0]; s.State != ReqDone || s.Err != nil || s.Stop.IsZero() || !strings.Contains(s.Name, "Req[string]") {
		t.Fatalf("sub 1 profile: %+v", s)
	}
	if s := prof.Subs[1]; s.State != ReqUserError || !errors.Is(s.Err, errSub) {
		t.Fatalf("sub 2 profile: %+v", s)
	}
	out := prof.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "outer state=") || !strings.HasPrefix(lines[1], "  ") || !strings.Contains(out, `error="sub failed"`) {
		t.Fatalf("printed profile:\n%s", out)
	}
}

// TestReqProfileTimeout: a timed-out request's profile says so.
func TestReqProfileTimeout(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	r := NewReq[int](&ev.Scope)
	p := r.EnableProfile("")
	if !strings.Contains(p.Name, "Req[int]") {
		t.Fatalf("default name %q", p.Name)
	}
	r.SetEndtime(ev, time.Now())
	if err := r.Poll(ev); err != nil {
		t.Fatal(err)
	}
	if p.State != ReqTimedOut || !errors.Is(p.Err, ErrTimeout) {
		t.Fatalf("profile after timeout: %+v", p)
	}
}

// TestQueueEntryTagsAndTrace: queue entries carry tags, and the queue
// trace callback sees attach, before-handler (trigger) and detach.
func TestQueueEntryTagsAndTrace(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	var log []string
	var entries []*QueueEntry
	ev.SetQueueTraceCallback(func(e *QueueEntry, p EventTracePoint) {
		if p == EventAttach {
			// Attach comes from inside Add, before the caller can tag.
			entries = append(entries, e)
			log = append(log, "attach")
			return
		}
		if entries[e.Tag()-1] != e {
			t.Errorf("%v reported for an entry with the wrong tag", p)
		}
		log = append(log, p.String()+":"+string(rune('0'+e.Tag())))
	})
	q := ev.NewQueue("q")
	var reqs []*Req[int]
	for i := 1; i <= 2; i++ {
		r := NewReq[int](&ev.Scope)
		reqs = append(reqs, r)
		e := q.Add(r, func(req AnyReq) { req.(*Req[int]).Done(0) })
		e.SetTag(uint64(i))
		if e.Tag() != uint64(i) || e.Queue() != q || e.Request() != AnyReq(r) {
			t.Fatal("entry accessors")
		}
	}
	driveUntil(t, ev, func() bool { return q.Length() == 0 })
	want := "attach attach before-handler:1 detach:1 before-handler:2 detach:2"
	if got := strings.Join(log, " "); got != want {
		t.Fatalf("queue trace\n got %s\nwant %s", got, want)
	}
	for _, r := range reqs {
		r.Free()
	}
}
