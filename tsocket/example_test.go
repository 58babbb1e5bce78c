package tsocket_test

import (
	"fmt"
	"log"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tsocket"
)

// An echo over TCP on one loop: accept, read a 5-byte message, write it
// back, and read the echo on the client side.
func Example() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()
	s := &ev.Scope

	addr, _ := tsocket.InetAddress("ipv4", "127.0.0.1", 0)
	l, err := tsocket.Listen(s, addr, 0)
	if err != nil {
		log.Fatal(err)
	}
	l.Accept(s).SetCallback(func(r *tevent.Req[*tsocket.Stream]) {
		srv, err := r.Result()
		if err != nil {
			log.Fatal(err)
		}
		buf := make([]byte, 5)
		srv.Readv(s, buf).SetCallback(func(r *tevent.Req[int]) {
			if _, err := r.Result(); err == nil {
				srv.Writev(s, buf)
			}
		})
	})

	conn := tsocket.Connect(s, tsocket.Address{}, l.Addr())
	if err := conn.Poll(ev); err != nil {
		log.Fatal(err)
	}
	c, err := conn.Result()
	if err != nil {
		log.Fatal(err)
	}
	c.Writev(s, []byte("hello"))
	echo := make([]byte, 5)
	r := c.Readv(s, echo)
	if err := r.Poll(ev); err != nil {
		log.Fatal(err)
	}
	if _, err := r.Result(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %v\n", echo, l.Addr().IP())
	// Output: hello from 127.0.0.1
}

// ExampleMemoryPair: two Streams connected in memory, with the same rules
// as a socket pair: for tests of code written against *tsocket.Stream.
func ExampleMemoryPair() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()
	a, b, err := tsocket.MemoryPair(ev)
	if err != nil {
		log.Fatal(err)
	}
	a.Writev(ev, []byte("hello"))
	a.CloseWrite()
	buf := make([]byte, 5)
	r := b.Readv(ev, buf)
	r.Poll(ev)
	n, err := r.Result()
	fmt.Println(n, err, string(buf))
	eof := b.Readv(ev, buf)
	eof.Poll(ev)
	_, err = eof.Result()
	fmt.Println(err)
	// Output:
	// 5 <nil> hello
	// EOF
}
