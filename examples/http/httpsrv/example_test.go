package httpsrv_test

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gotevent/tevent/examples/http/httpsrv"
	"github.com/gotevent/tevent/tserver"
)

func ExampleServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, loop!\n")
	})
	hs := &httpsrv.Server{Handler: mux}
	srv, err := tserver.New(hs, &tserver.Config{MaxInbound: hs.InboundLimit()})
	if err != nil {
		panic(err)
	}
	addr, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv.Start()

	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr.String() + "/hello")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	fmt.Print(resp.Status, " ", resp.Header.Get("Content-Length"), " ", string(body))

	srv.Shutdown(time.Now().Add(time.Second))
	fmt.Println(srv.Wait())
	// Output:
	// 200 OK 13 Hello, loop!
	// <nil>
}
