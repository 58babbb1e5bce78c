package tsocket

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 10 * time.Second

var warmRuntimeFDs = sync.OnceFunc(func() {
	r, w, err := os.Pipe()
	if err == nil {
		r.SetReadDeadline(time.Now().Add(time.Hour))
		r.Close()
		w.Close()
	}
})

// openFDCount returns the number of open descriptors, -1 without /proc.
func openFDCount() int {
	warmRuntimeFDs()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// checkFDs fails the test if it ends with more or fewer descriptors open
// than it started with. Register it before anything that opens fds.
func checkFDs(t testing.TB) {
	t.Helper()
	before := openFDCount()
	t.Cleanup(func() {
		if before >= 0 {
			if after := openFDCount(); after != before {
				t.Errorf("descriptor leak: %d open before, %d after", before, after)
			}
		}
	})
}

// forEachBackend runs fn as a subtest on a fresh context of every backend,
// frees the context afterwards and checks the descriptor count.
func forEachBackend(t *testing.T, fn func(t *testing.T, ev *tevent.Context)) {
	for _, name := range tevent.Backends() {
		t.Run(name, func(t *testing.T) {
			checkFDs(t)
			ev, err := tevent.New(tevent.WithBackend(name))
			if err != nil {
				t.Fatalf("New(%s): %v", name, err)
			}
			t.Cleanup(ev.Free)
			fn(t, ev)
		})
	}
}

// drive runs ev's loop until cond holds, at most testTimeout.
func drive(t testing.TB, ev *tevent.Context, cond func() bool) {
	t.Helper()
	timedOut := false
	g := ev.NewScope()
	g.AddTimer(time.Now().Add(testTimeout), func(*tevent.Context, *tevent.Timer, time.Time) { timedOut = true })
	defer g.Free()
	for !cond() {
		if timedOut {
			t.Fatalf("condition not met within %v", testTimeout)
		}
		if err := ev.LoopOnce(); err != nil {
			t.Fatalf("LoopOnce: %v", err)
		}
	}
}

// wait drives the loop until req finished and returns its result.
func wait[T any](t testing.TB, ev *tevent.Context, req *tevent.Req[T]) (T, error) {
	t.Helper()
	drive(t, ev, func() bool { return !req.IsInProgress() })
	return req.Result()
}

// must returns the value of a request that must succeed.
func must[T any](t testing.TB, ev *tevent.Context, req *tevent.Req[T]) T {
	t.Helper()
	v, err := wait(t, ev, req)
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	return v
}

// pair returns the two ends of a stream socket pair on ev.
func pair(t testing.TB, ev *tevent.Context) (*Stream, *Stream) {
	t.Helper()
	a, b, err := StreamPair(&ev.Scope)
	if err != nil {
		t.Fatalf("StreamPair: %v", err)
	}
	return a, b
}

// rawPair returns a socketpair whose ends the test closes itself.
func rawPair(t testing.TB) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fds
}

// tcpPair returns a connected TCP client and server stream on ev.
func tcpPair(t testing.TB, ev *tevent.Context) (*Stream, *Stream) {
	t.Helper()
	la, _ := InetAddress("ipv4", "127.0.0.1", 0)
	l, err := Listen(&ev.Scope, la, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	acc := l.Accept(&ev.Scope)
	c := must(t, ev, Connect(&ev.Scope, Address{}, l.Addr()))
	s := must(t, ev, acc)
	return c, s
}

func osNewFile(fd int) *os.File { return os.NewFile(uintptr(fd), "socket") }
