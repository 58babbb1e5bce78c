package httpsrv

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// testHandler is the handler both servers run in the comparison tests:
// one route per response path of net/http worth comparing.
func testHandler() http.Handler {
	mux := http.NewServeMux()
	big := bytes.Repeat([]byte("0123456789abcdef"), 320) // 5120 bytes
	modTime := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, world!\n")
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
		for k, v := range r.Trailer {
			fmt.Fprintf(w, "\ntrailer %s=%q", k, v)
		}
	})
	mux.HandleFunc("/req", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %q %s %d.%d host=%q cl=%d te=%q close=%v uri=%q\n",
			r.Method, r.URL.String(), r.Proto, r.ProtoMajor, r.ProtoMinor, r.Host,
			r.ContentLength, r.TransferEncoding, r.Close, r.RequestURI)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s=%q\n", k, r.Header[k])
		}
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "body %d %v\n", n, err)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	mux.HandleFunc("/big-pieces", func(w http.ResponseWriter, r *http.Request) {
		w.Write(big[:100])
		w.Write(big[100:3000])
		w.Write(big[3000:])
	})
	mux.HandleFunc("/exact2048", func(w http.ResponseWriter, r *http.Request) { w.Write(big[:2048]) })
	mux.HandleFunc("/exact2049", func(w http.ResponseWriter, r *http.Request) { w.Write(big[:2049]) })
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Zeta", "last")
		h.Add("x-multi", "one")
		h.Add("X-Multi", "two")
		h["x-raw-lower"] = []string{"kept as is"}
		h.Set("X-Newline", "a\nb\r\nc")
		h.Set("X-Spaces", "  padded  ")
		h.Set("Cache-Control", "no-store")
		io.WriteString(w, "headers")
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!DOCTYPE html><html><body>hi</body></html>")
	})
	mux.HandleFunc("/png", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("\x89PNG\x0D\x0A\x1A\x0Arest"))
	})
	mux.HandleFunc("/no-ctype", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html>not sniffed</html>")
	})
	mux.HandleFunc("/gzip-ce", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		io.WriteString(w, "<html>not sniffed either</html>")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(code)
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "after hints")
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "second")
	})
	mux.HandleFunc("/cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/short-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/long-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, err := io.WriteString(w, "hello")
		w.Header().Set("X-Err", fmt.Sprint(err))
	})
	mux.HandleFunc("/bad-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "abc")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/keep-alive", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "keep-alive")
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ka")
	})
	mux.HandleFunc("/identity", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "identity")
		w.Write(big)
	})
	mux.HandleFunc("/te-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "chunked")
		io.WriteString(w, "small but chunked")
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "99")
		http.Error(w, "something broke", http.StatusInternalServerError)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/hello?x=<y>", http.StatusFound)
	})
	mux.HandleFunc("/content", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "data.txt", modTime, bytes.NewReader(big[:3000]))
	})
	mux.HandleFunc("/readfrom", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, io.LimitReader(bytes.NewReader(big), 3000))
	})
	mux.HandleFunc("/readfrom-small", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, io.LimitReader(bytes.NewReader(big), 300))
	})
	mux.HandleFunc("/readfrom-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3000")
		io.Copy(w, io.LimitReader(bytes.NewReader(big), 3000))
	})
	mux.HandleFunc("/noread", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "did not read")
	})
	mux.HandleFunc("/close-body", func(w http.ResponseWriter, r *http.Request) {
		r.Body.Close()
		io.WriteString(w, "closed the body")
	})
	mux.HandleFunc("/read-some", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 10)
		n, _ := io.ReadFull(r.Body, buf)
		fmt.Fprintf(w, "read %q", buf[:n])
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum, X-Other")
		io.WriteString(w, "body with trailers")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	mux.HandleFunc("/head-aware", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "11")
		if r.Method != "HEAD" {
			io.WriteString(w, "full answer")
		}
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/panic-early", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "never sent")
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/superfluous", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "created")
	})
	mux.HandleFunc("/nobody-write", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		_, err := io.WriteString(w, "x")
		_ = err
	})
	mux.HandleFunc("/date", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "handler's own")
		io.WriteString(w, "dated")
	})
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "foo")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
	})
	return mux
}

// trimLines is for readable failure output.
func trimLines(b []byte) string {
	s := strings.ReplaceAll(string(b), "\r\n", "\\r\\n\n")
	if len(s) > 3000 {
		s = s[:3000] + "..."
	}
	return s
}
