package tserver

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gotevent/tevent"
)

// A Conn used from a goroutine that is not its loop's is reported
// plainly (not only by the race detector): the errors wrap
// tevent.ErrConcurrentUse, Abort panics with a message saying so.
func TestServerConnFromOtherGoroutine(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		s, addr := startServer(t, rec, Config{Backend: backend})
		cl := dial(t, addr)
		defer cl.Close()
		c := waitFor(t, "open", rec.opened)
		ev := s.Loops()[0].Context()
		deadline := time.Now().Add(srvTimeout)
		for !ev.InLoopWait() {
			if time.Now().After(deadline) {
				t.Fatal("the loop never waited")
			}
			runtime.Gosched()
		}
		if n, err := c.Write([]byte("from elsewhere")); !errors.Is(err, tevent.ErrConcurrentUse) || !errors.Is(err, ErrNotOnLoop) || n != 0 {
			t.Errorf("Write from another goroutine = %d, %v; want ErrNotOnLoop (tevent.ErrConcurrentUse)", n, err)
		}
		if _, err := c.Writev([]byte("a"), []byte("b")); !errors.Is(err, ErrNotOnLoop) {
			t.Errorf("Writev from another goroutine = %v", err)
		}
		if err := c.Close(); !errors.Is(err, ErrNotOnLoop) {
			t.Errorf("Close from another goroutine = %v", err)
		}
		if err := c.CloseWrite(); !errors.Is(err, ErrNotOnLoop) {
			t.Errorf("CloseWrite from another goroutine = %v", err)
		}
		func() {
			defer func() {
				if x, _ := recover().(string); !strings.Contains(x, "ConnHandle") {
					t.Errorf("Abort from another goroutine: recovered %q, want a panic naming ConnHandle", x)
				}
			}()
			c.Abort(nil)
		}()
		echoOnce(t, cl, []byte("untouched")) // the connection is fine
	})
}
