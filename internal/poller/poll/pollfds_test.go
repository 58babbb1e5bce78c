//go:build unix

package poll

import (
	"testing"
	"unsafe"

	"github.com/gotevent/tevent/internal/poller"
	"golang.org/x/sys/unix"
)

// The pollfd array keeps its entries as it grows onto a mapping of its
// own, and release gives the mapping back.
func TestPollfdsGrow(t *testing.T) {
	var f pollfds
	n := 3 * mapFrom / int(unsafe.Sizeof(unix.PollFd{}))
	for i := 0; i < n; i++ {
		f.push(unix.PollFd{Fd: int32(i), Events: int16(i)})
	}
	if f.mem == nil {
		t.Fatalf("%d entries (%d bytes) not in a mapping", n, n*int(unsafe.Sizeof(unix.PollFd{})))
	}
	for i, p := range f.a {
		if p.Fd != int32(i) || p.Events != int16(i) {
			t.Fatalf("entry %d is %+v after growing", i, p)
		}
	}
	f.release()
	if f.mem != nil || f.a != nil {
		t.Error("release left the array")
	}
}

// A backend whose array grew onto a mapping, and shrank again, still
// polls: a registration moved by Delete keeps its token.
func TestManyRegistrations(t *testing.T) {
	b, err := New(false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	// Numbers not open: poll learns of them only when it polls, and
	// they are deleted before it does.
	const base, n = 1 << 20, 10000
	for i := 0; i < n; i++ {
		if err := b.Add(base+i, poller.Token(i), poller.Readable); err != nil {
			t.Fatal(err)
		}
	}
	if b.fds.mem == nil {
		t.Fatalf("%d registrations: array not in a mapping", n)
	}
	if err := b.Add(p[0], 77, poller.Readable); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := b.Delete(base + i); err != nil {
			t.Fatal(err)
		}
	}
	unix.Write(p[1], []byte("x"))
	evs := make([]poller.Event, 4)
	k, err := b.Wait(evs, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if k != 1 || evs[0].Token != 77 || evs[0].Ready&poller.ReadyRead == 0 {
		t.Fatalf("Wait: %d events %v, want the pipe's (token 77, readable)", k, evs[:k])
	}
}
