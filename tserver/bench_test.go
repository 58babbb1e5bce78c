package tserver

import (
	"testing"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// BenchmarkServerEcho64 echoes 64-byte messages through a server on a
// loop the benchmark drives (epoll), client and server in one goroutine:
// the server's cost per message plus the client's two system calls. Run
// it under callgrind at two b.N to get instructions per message.
func BenchmarkServerEcho64(b *testing.B) {
	ev, err := tevent.New(tevent.WithBackend("epoll"))
	if err != nil {
		b.Fatal(err)
	}
	defer ev.Free()
	rec := newRecorder()
	s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := s.Listen("tcp", "127.0.0.1:0")
	sa, _ := parseV4(a.String())
	cfd, _ := testSocketTCP()
	defer unix.Close(cfd)
	if err := unix.Connect(cfd, sa); err != nil {
		b.Fatal(err)
	}
	for len(rec.opened) == 0 {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
	msg := make([]byte, 64)
	got := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Write(cfd, msg); err != nil {
			b.Fatal(err)
		}
		if err := ev.LoopOnce(); err != nil { // read, OnData, write
			b.Fatal(err)
		}
		if n, err := unix.Read(cfd, got); err != nil || n != 64 {
			b.Fatal(n, err)
		}
	}
	b.StopTimer()
	s.Close()
	for s.left.Load() > 0 {
		if err := ev.LoopOnce(); err != nil {
			b.Fatal(err)
		}
	}
}
