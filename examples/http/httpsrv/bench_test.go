package httpsrv

import (
	"io"
	"log"
	"net/http"
	"testing"
)

// BenchmarkHello is one keep-alive GET through the parser, the handler
// and the response writer, with no socket (a fake connection).
func BenchmarkHello(b *testing.B) {
	hs := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, world!\n")
	}), ErrorLog: log.New(io.Discard, "", 0)}
	ft := &fakeTransport{}
	c := &conn{srv: hs, tc: ft}
	in := []byte("GET /hello HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		ft.out.Reset()
		if c.onData(in) != len(in) {
			b.Fatal("not consumed")
		}
	}
}
