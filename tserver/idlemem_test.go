package tserver

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// idleHeapPerConn is the bound on the Go heap an idle plain connection
// costs the server, stated in the package documentation: its Conn (80
// bytes), its fd event (64), the loop's state of its descriptor (56), a
// slot in the server scope's child table (24) and in the fd tables of the
// loop and its backend (8 to 21): measured 205 to 255 bytes, depending on
// the backend and the collector's timing. The bound leaves room for that
// noise, not for a buffer, a map entry or a closure per connection.
const idleHeapPerConn = 300

// idleAllocPerConn bounds the bytes allocated while an idle connection is
// set up (accepted, registered, one message echoed), garbage included:
// measured 250 (epoll) to 280 (poll, standard, io_uring). Garbage made
// per connection counts in a server's resident memory until the
// collector runs and the runtime returns it: tables grown by copying
// (which left 90 to 130 bytes per connection behind before they were kept
// in pages: 325 to 400 allocated) or an allocation per epoll_ctl would
// break this bound.
const idleAllocPerConn = 320

// A plain Conn stays in the allocator's 80-byte size class: a field more
// takes it to 96.
func TestConnSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 80 {
		t.Errorf("Conn is %d bytes, want at most 80 (the 80-byte size class)", n)
	}
}

// An idle connection costs the heap no more than idleHeapPerConn bytes,
// and setting it up allocates no more than idleAllocPerConn, on every
// backend: heap in use (after a collection) with n idle connections, each
// of which echoed one message, minus heap in use before them, over n; and
// the same for bytes allocated. The clients are raw descriptors, so the
// deltas are the server's. Growth that rounds (tables in pages, slabs of
// fd states) is spread over n, and nothing else in the process allocates
// meanwhile.
func TestServerIdleHeapPerConn(t *testing.T) {
	n := 2000
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip("no descriptor limit:", err)
	}
	if want := uint64(2*n + 256); uint64(rl.Cur) < want && uint64(rl.Max) > uint64(rl.Cur) {
		old := rl
		setRlimitCur(&rl.Cur, int(min(want, uint64(rl.Max))))
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
			t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
		}
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	if room := (int(rl.Cur) - 256) / 2; room < n {
		n = room
	}
	if n < 500 {
		t.Skipf("descriptor limit %d: too few connections to measure", rl.Cur)
	}
	forEachServerBackend(t, func(t *testing.T, backend string) {
		per, alloc := idleHeapPerConnOn(t, backend, n)
		t.Logf("%s: %d idle connections, %.0f bytes of heap each (%.0f allocated)", backend, n, per, alloc)
		if per > idleHeapPerConn {
			t.Errorf("%s: %.0f bytes of heap per idle connection, want at most %d", backend, per, idleHeapPerConn)
		}
		if alloc > idleAllocPerConn {
			t.Errorf("%s: %.0f bytes allocated per idle connection set up, want at most %d", backend, alloc, idleAllocPerConn)
		}
	})
}

// idleHeapPerConnOn measures the heap per idle connection on a server on
// one backend, driving its loop from this goroutine.
func idleHeapPerConnOn(t *testing.T, backend string, n int) (live, allocated float64) {
	ev, err := tevent.New(tevent.WithBackend(backend))
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	s, err := New(echoHandler{}, &Config{Contexts: []*tevent.Context{ev}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := parseV4(a.String())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(srvTimeout)
	clients := make([]int, 0, n+1)
	defer func() {
		for _, fd := range clients {
			unix.Close(fd)
		}
	}()
	msg := []byte("0123456789abcdef")
	got := make([]byte, len(msg))
	// open connects k clients, has one message echoed on each and leaves
	// the connections idle. A batch at a time: fewer loop turns (poll's
	// cost grows with the descriptors).
	open := func(k int) {
		batch := clients[len(clients):]
		for i := 0; i < k; i++ {
			fd, err := testSocketTCP()
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, fd)
			if err := unix.Connect(fd, sa); err != nil {
				t.Fatal(err)
			}
			if _, err := unix.Write(fd, msg); err != nil {
				t.Fatal(err)
			}
		}
		batch = batch[:k]
		for _, fd := range batch {
			for m := 0; m < len(got); {
				if time.Now().After(deadline) {
					t.Fatalf("connection %d: no echo within %v", len(clients), srvTimeout)
				}
				// The echo comes in a loop turn; the client is
				// blocking: read only what came.
				fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				if r, _ := unix.Poll(fds[:], 0); r == 1 {
					r, err := unix.Read(fd, got[m:])
					if err != nil || r == 0 {
						t.Fatalf("connection %d: read: %d, %v", len(clients), r, err)
					}
					m += r
					continue
				}
				if err := ev.LoopOnce(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	open(1) // the first one sets up what every later one shares
	before, allocBefore := heapInUse()
	for i := 0; i < n; i += 50 {
		open(min(50, n-i))
	}
	after, allocAfter := heapInUse()
	if c := s.Stats().Conns; c != n+1 {
		t.Fatalf("%d connections open on the server, want %d", c, n+1)
	}

	for _, fd := range clients {
		unix.Close(fd)
	}
	clients = clients[:0]
	for s.Stats().Conns > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open %v after their clients closed", s.Stats().Conns, srvTimeout)
		}
		if err := ev.LoopOnce(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	for s.left.Load() > 0 {
		if err := ev.LoopOnce(); err != nil {
			t.Fatal(err)
		}
	}
	waitServer(t, s)
	return float64(int64(after)-int64(before)) / float64(n), float64(allocAfter-allocBefore) / float64(n)
}

// echoHandler writes back what it reads.
type echoHandler struct{ BaseHandler }

func (echoHandler) OnData(c *Conn, in []byte) int {
	c.Write(in)
	return len(in)
}

// heapInUse is the heap's live bytes after a full collection, and the
// bytes allocated since the process started.
func heapInUse() (live, total uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.TotalAlloc
}
