// Command echo is an echo server and client on tsocket's request layer,
// both on one tevent loop: the server accepts connections on
// 127.0.0.1:0 and echoes newline-terminated lines; the client sends a few
// lines, checks each echo, and the program exits 0.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tsocket"
)

// readLine reads up to and including '\n', one byte at a time for
// simplicity, using the PDU reader's next-vector callback.
func readLine(s *tevent.Scope, st *tsocket.Stream) (*tevent.Req[int], *[]byte) {
	var line []byte
	one := make([]byte, 1)
	vec := [][]byte{one}
	started := false
	req := st.ReadvPDU(s, func(*tsocket.Stream) ([][]byte, error) {
		if started {
			line = append(line, one[0])
			if one[0] == '\n' {
				return nil, nil
			}
			if len(line) > 4096 {
				return nil, errors.New("line too long")
			}
		}
		started = true
		return vec, nil
	})
	return req, &line
}

// serve echoes lines on st until the client goes away.
func serve(s *tevent.Scope, st *tsocket.Stream, q *tevent.Queue) {
	req, line := readLine(s, st)
	req.SetCallback(func(req *tevent.Req[int]) {
		if _, err := req.Result(); err != nil {
			if err != io.EOF {
				log.Printf("server: %v", err)
			}
			st.Free()
			return
		}
		w := tsocket.WritevQueue(s, q, st, *line)
		w.SetCallback(func(w *tevent.Req[int]) { w.Result() })
		serve(s, st, q)
	})
}

// accept takes connections for ever, each on a scope of its own.
func accept(s *tevent.Scope, l *tsocket.Listener) {
	l.Accept(s).SetCallback(func(r *tevent.Req[*tsocket.Stream]) {
		st, err := r.Result()
		if err != nil {
			log.Printf("accept: %v", err)
			return
		}
		serve(s, st, s.NewQueue("echo writes"))
		accept(s, l)
	})
}

func main() {
	ev, err := tevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer ev.Free()

	addr, _ := tsocket.InetAddress("ipv4", "127.0.0.1", 0)
	server := ev.NewScope()
	l, err := tsocket.Listen(server, addr, 0)
	if err != nil {
		log.Fatal(err)
	}
	accept(server, l)
	fmt.Println("listening on", l.Addr())

	client := ev.NewScope()
	conn := tsocket.Connect(client, tsocket.Address{}, l.Addr())
	conn.SetEndtime(ev, time.Now().Add(5*time.Second))
	if err := conn.Poll(ev); err != nil {
		log.Fatal(err)
	}
	c, err := conn.Result()
	if err != nil {
		log.Fatal(err)
	}
	for _, msg := range []string{"hello\n", "tevent\n", "tsocket says hi\n"} {
		w := c.Writev(client, []byte(msg))
		r, line := readLine(client, c)
		r.SetEndtime(ev, time.Now().Add(5*time.Second))
		if err := r.Poll(ev); err != nil {
			log.Fatal(err)
		}
		if _, err := r.Result(); err != nil {
			log.Fatal("client read: ", err)
		}
		if _, err := w.Result(); err != nil {
			log.Fatal("client write: ", err)
		}
		if !bytes.Equal(*line, []byte(msg)) {
			log.Fatalf("echo %q, want %q", *line, msg)
		}
		fmt.Printf("echoed %q\n", msg)
	}
	client.Free() // closes the connection: the server sees io.EOF
	server.Free()
}
