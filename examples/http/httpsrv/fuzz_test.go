package httpsrv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"testing"
)

// fuzzHandler reads the whole body and answers with what it saw of the
// request.
var fuzzHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s %d %q %v", r.Method, r.RequestURI, r.Proto, r.ContentLength, b, err)
})

// maxFuzzInput is how much of an input FuzzParse looks at.
const maxFuzzInput = 256

// FuzzParse checks the request framer against net/http and against
// itself split anywhere:
//   - a head the framer calls malformed, http.ReadRequest refuses too; a
//     head it accepts whole and http.ReadRequest accepts ends where
//     ReadRequest stopped reading;
//   - a chunked body it accepts decodes to what net/http's chunked reader
//     gives, and one it refuses makes that reader fail with the same text;
//   - the server's answer to the input does not depend on where the
//     input is cut.
func FuzzParse(f *testing.F) {
	for _, tc := range compareCases {
		if len(tc.in) <= maxFuzzInput {
			f.Add([]byte(tc.in), uint16(len(tc.in)/2))
		}
	}
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), uint16(3))
	f.Add([]byte("3;x=y \r\nabc\r\n0\r\nT: 1\r\n\r\n"), uint16(5))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		// Every input runs the server twice, and the fuzzer's minimizer
		// runs the body about len(in)²/2 times for each new input: a cap
		// of 1024 made a minimization take up to its 60 s limit, with no
		// fuzzing meanwhile. 256 bytes hold a pipeline of several
		// requests.
		if len(in) > maxFuzzInput {
			in = in[:maxFuzzInput]
		}
		c := int(cut) % (len(in) + 1)
		checkHead(t, in, c)
		checkChunked(t, in, c)
		s := newTestServer(fuzzHandler)
		whole := feed(s, in, 0)
		if got := feed(s, in, c); !bytes.Equal(got, whole) {
			t.Fatalf("cut at %d changes the answer:\n%q\n%q", c, whole, got)
		}
	})
}

func checkHead(t *testing.T, in []byte, cut int) {
	const maxBytes, maxFields = 1 << 20, 1000
	var a headScan
	n1, err1 := a.scan(in, maxBytes, maxFields)
	var b headScan
	n2, err2 := b.scan(in[:cut], maxBytes, maxFields)
	if n2 == 0 && err2 == nil {
		n2, err2 = b.scan(in, maxBytes, maxFields)
	}
	if n1 != n2 || !errors.Is(err2, err1) && err1 != err2 {
		t.Fatalf("whole: %d %v; cut at %d: %d %v", n1, err1, cut, n2, err2)
	}
	br := bufio.NewReader(bytes.NewReader(in))
	_, rerr := http.ReadRequest(br)
	switch {
	case errors.Is(err1, ErrMalformed):
		if rerr == nil {
			t.Fatalf("framer refused a head net/http accepts: %v", err1)
		}
	case n1 > 0 && rerr == nil:
		if used := len(in) - br.Buffered(); used != n1 {
			t.Fatalf("framer says the head is %d bytes, net/http read %d", n1, used)
		}
	}
}

func checkChunked(t *testing.T, in []byte, cut int) {
	const maxBody = 1 << 20
	var a chunkScan
	n, err := a.scan(in, maxBody)
	var b chunkScan
	n2, err2 := b.scan(in[:cut], maxBody)
	if n2 == 0 && err2 == nil {
		n2, err2 = b.scan(in, maxBody)
	}
	if n != n2 || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
		t.Fatalf("chunked: whole %d %v; cut at %d: %d %v", n, err, cut, n2, err2)
	}
	got, rerr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in)))
	var ce *chunkError
	switch {
	case errors.As(err, &ce):
		if rerr == nil || rerr.Error() != ce.Error() {
			t.Fatalf("chunked: we refuse with %v, net/http's reader says %v", err, rerr)
		}
		if want := decodeChunked(nil, in[:a.pos]); !bytes.Equal(got, want) {
			t.Fatalf("chunked: good part %q, net/http's reader gave %q", want, got)
		}
	case err != nil:
	case n > 0:
		if rerr != nil {
			t.Fatalf("chunked: we accept %d bytes, net/http's reader fails: %v", n, rerr)
		}
		if want := decodeChunked(nil, in[:n]); !bytes.Equal(got, want) {
			t.Fatalf("chunked: we decode %q, net/http's reader %q", want, got)
		}
	}
}
