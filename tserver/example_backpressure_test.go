package tserver_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gotevent/tevent/tserver"
)

// countdown streams a large reply to every client at the pace the client
// reads it: it writes while the connection is not backlogged and goes on
// in OnWritable.
type countdown struct {
	tserver.BaseHandler
	total int
}

func (h countdown) OnOpen(c *tserver.Conn) {
	c.SetContext(new(int)) // bytes sent so far
	h.OnWritable(c)
}

func (h countdown) OnWritable(c *tserver.Conn) {
	sent := c.Context().(*int)
	chunk := make([]byte, 16<<10)
	for *sent < h.total && !c.Backlogged() {
		n := min(len(chunk), h.total-*sent)
		if _, err := c.Write(chunk[:n]); err != nil {
			return // closed; OnClose says why
		}
		*sent += n
	}
	if *sent == h.total {
		c.Close() // after the last byte, then lingers for the client's close
	}
}

func ExampleWritableHandler() {
	srv, err := tserver.New(countdown{total: 8 << 20}, &tserver.Config{
		MaxWriteBuffer: 1 << 20,   // never reached: the handler paces itself
		WriteHighWater: 256 << 10, // Backlogged from here
		WriteLowWater:  64 << 10,  // OnWritable again from here
	})
	if err != nil {
		panic(err)
	}
	addr, _ := srv.Listen("tcp", "127.0.0.1:0")
	srv.Start()

	c, _ := net.Dial("tcp", addr.String())
	n, err := io.Copy(io.Discard, c)
	c.Close()
	fmt.Println(n, err)

	srv.Shutdown(time.Now().Add(time.Second))
	fmt.Println(srv.Wait())
	// Output:
	// 8388608 <nil>
	// <nil>
}
