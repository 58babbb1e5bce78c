package tsocket_test

import (
	"fmt"
	"log"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tsocket"
)

// upperOps is a StreamOps stacked on another implementation, as the TLS
// stream is: it forwards everything to the ops under it and upper-cases
// what it reads (where TLS decrypts). It is also the notifier of the ops
// under it, passing their readiness up.
type upperOps struct {
	tsocket.StreamOps                        // the implementation underneath
	up                tsocket.StreamNotifier // the *Stream above
}

func (u *upperOps) Attach(n tsocket.StreamNotifier) {
	u.up = n
	u.StreamOps.Attach(u) // readiness from below comes to u
}

func (u *upperOps) Ready(read, write bool) { u.up.Ready(read, write) }
func (u *upperOps) Failed(err error)       { u.up.Failed(err) }

func (u *upperOps) Readv(iov [][]byte) (int, error) {
	n, err := u.StreamOps.Readv(iov)
	left := n
	for _, v := range iov {
		for i := 0; i < len(v) && left > 0; i, left = i+1, left-1 {
			if 'a' <= v[i] && v[i] <= 'z' {
				v[i] -= 'a' - 'A'
			}
		}
	}
	return n, err
}

// ExampleNewCustomStream stacks an implementation on another stream's, as
// TLSConnect and TLSAccept do: TakeOps detaches the implementation from
// one end of a MemoryPair, NewCustomStream wraps the new layer in a
// *Stream, and every Stream request (Readv, ReadvPDU, WritevQueue ...)
// works on it unchanged. An implementation is done when
// tsocket/streamtest passes on it.
func ExampleNewCustomStream() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()
	a, b, err := tsocket.MemoryPair(ev)
	if err != nil {
		log.Fatal(err)
	}
	lower, err := b.TakeOps() // b is empty from now on
	if err != nil {
		log.Fatal(err)
	}
	top, err := tsocket.NewCustomStream(ev, &upperOps{StreamOps: lower})
	if err != nil {
		log.Fatal(err)
	}
	defer top.Free() // closes the ops underneath too

	a.Writev(ev, []byte("hello, "), []byte("seam"))
	buf := make([]byte, 11)
	r := top.Readv(ev, buf)
	r.Poll(ev)
	n, err := r.Result()
	fmt.Println(n, err, string(buf))
	// Output: 11 <nil> HELLO, SEAM
}
