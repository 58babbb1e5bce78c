package tevent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRefusedFDReportedWithoutHang: an fd the kernel refuses (a regular
// file: epoll says EPERM) is reported to its handler once, on the next
// turn, even when nothing else could wake the loop. (Review finding: the
// report used to wait behind a wait with no timeout.)
func TestRefusedFDReportedWithoutHang(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		f, err := os.Create(filepath.Join(t.TempDir(), "regular"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var got FDFlags
		calls := 0
		fde, err := ev.AddFD(int(f.Fd()), FDRead, func(ev *Context, fde *FD, fl FDFlags) {
			calls++
			got = fl
			fde.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = fde
		done := make(chan error, 1)
		go func() { done <- ev.LoopOnce() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(testTimeout):
			t.Fatal("LoopOnce blocked: the refused fd was never reported")
		}
		// poll reports a regular file as readable; epoll refuses it and
		// reports it once: either way the handler ran once with FDRead.
		if calls != 1 || got != FDRead {
			t.Fatalf("handler ran %d times with %v, want once with FDRead", calls, got)
		}
	})
}

// TestPostThroughWrapperSurvivesWrapperFree: the context's post queue
// does not belong to the wrapper that happened to post first.
func TestPostThroughWrapperSurvivesWrapperFree(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	w, _ := ev.NewWrapper(WrapperHooks{})
	r1 := NewReq[int](&w.Scope)
	r1.Done(1)
	r1.Post(nil)
	r1.SetCallback(func(r *Req[int]) { r.Result() })
	if err := r1.Poll(w); err != nil {
		t.Fatal(err)
	}
	if err := ev.LoopWait(); err != nil {
		t.Fatal(err)
	}
	w.Free()
	r2 := NewReq[int](&ev.Scope)
	r2.Done(2)
	r2.Post(ev)
	delivered := false
	r2.SetCallback(func(r *Req[int]) { delivered = true })
	driveUntil(t, ev, func() bool { return delivered })
}
