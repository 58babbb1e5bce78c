package tserver_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gotevent/tevent/tserver"
)

// upper echoes every byte back in upper case.
type upper struct{ tserver.BaseHandler }

func (upper) OnData(c *tserver.Conn, in []byte) int {
	for i, b := range in {
		if 'a' <= b && b <= 'z' {
			in[i] = b - 'a' + 'A' // in is the loop's buffer: ours during the call
		}
	}
	c.Write(in) // copied; sent with one write after OnData returns
	return len(in)
}

func ExampleNew() {
	srv, err := tserver.New(upper{}, &tserver.Config{Loops: 2, IdleTimeout: time.Minute})
	if err != nil {
		panic(err)
	}
	addr, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv.Start()

	c, _ := net.Dial("tcp", addr.String())
	c.Write([]byte("hello, loop"))
	buf := make([]byte, 11)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	c.Close()

	srv.Shutdown(time.Now().Add(time.Second))
	fmt.Println(srv.Wait())
	// Output:
	// HELLO, LOOP
	// <nil>
}
