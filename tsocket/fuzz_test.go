package tsocket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// FuzzStream sends length-prefixed PDUs through a unix stream socket pair
// on the loop and checks what the reader gets against a model. The input picks
// the PDU sizes, how the writer splits its bytes into WritevQueue calls
// and vectors (with small socket buffers, so that writes come up short and
// stay pending), how the reader splits each body into vectors, and where
// the writer stops with an EOF or a reset. The model: the reader gets the
// PDUs that were sent whole, intact and in order, then io.EOF if the cut
// fell between PDUs and io.ErrUnexpectedEOF if inside one; after a reset it
// gets an intact prefix of them and then ECONNRESET (or EOF).
func FuzzStream(f *testing.F) {
	f.Add([]byte{0, 10, 20, 30})
	f.Add([]byte{1, 200, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{2, 0, 255, 255, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		h := fnv.New64a()
		h.Write(data)
		rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
		backends := tevent.Backends()
		ev, err := tevent.New(tevent.WithBackend(backends[int(data[0])%len(backends)]))
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Free()
		s := &ev.Scope
		mode := data[1] % 3 // 0: all sent then EOF, 1: cut then EOF, 2: cut then reset

		// The PDUs and the byte stream they make.
		var pdus [][]byte
		var stream []byte
		for _, b := range data[2:min(len(data), 10)] {
			body := make([]byte, int(b)*int(b)/4) // up to ~16 KiB, many small
			for i := range body {
				body[i] = byte(rng.Uint32())
			}
			pdus = append(pdus, body)
			stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
			stream = append(stream, body...)
		}
		cut := len(stream)
		if mode != 0 && len(stream) > 0 {
			cut = rng.IntN(len(stream) + 1)
		}

		// A unix socket pair: as short-write-prone as TCP with small
		// buffers, without TCP's zero-window probe delays, so every exec is
		// fast and deterministic.
		w, r := pair(t, ev)
		defer r.Free()
		unix.SetsockoptInt(w.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 2048+rng.IntN(8192))

		// Writer: stream[:cut] in random WritevQueue calls of random vectors.
		q := s.NewQueue("fuzz")
		var writes []*tevent.Req[int]
		for off := 0; off < cut; {
			n := 1 + rng.IntN(min(cut-off, 9000))
			chunk := stream[off : off+n]
			var vec [][]byte
			for len(chunk) > 0 {
				k := rng.IntN(len(chunk) + 1)
				vec = append(vec, chunk[:k])
				chunk = chunk[k:]
			}
			writes = append(writes, WritevQueue(s, q, w, vec...))
			off += n
		}

		// Reader: PDUs one after another, bodies split into random vectors.
		var got [][]byte
		var readErr error
		var startRead func()
		startRead = func() {
			hdr := make([]byte, 4)
			var body []byte
			step := 0
			req := r.ReadvPDU(s, func(*Stream) ([][]byte, error) {
				step++
				if step == 1 {
					return [][]byte{hdr}, nil
				}
				if step > 2 {
					return nil, nil
				}
				body = make([]byte, binary.BigEndian.Uint32(hdr))
				var vec [][]byte
				for rest := body; len(rest) > 0; {
					k := 1 + rng.IntN(len(rest))
					vec = append(vec, rest[:k])
					if rng.IntN(4) == 0 {
						vec = append(vec, nil) // empty vectors in between are fine
					}
					rest = rest[k:]
				}
				return vec, nil
			})
			req.SetCallback(func(req *tevent.Req[int]) {
				n, err := req.Result()
				if err != nil {
					readErr = err
					return
				}
				if n != 4+len(body) {
					t.Errorf("PDU read returned %d for a %d-byte body", n, len(body))
				}
				got = append(got, body)
				startRead()
			})
		}
		startRead()

		done := func() bool {
			for _, wr := range writes {
				if wr.IsInProgress() {
					return false
				}
			}
			return true
		}
		drive(t, ev, done)
		for _, wr := range writes {
			if _, err := wr.Result(); err != nil {
				t.Fatalf("write failed: %v", err)
			}
		}
		if mode == 2 {
			// A unix stream socket closed with unread data resets its peer.
			must(t, ev, r.Writev(s, []byte("unread")))
		}
		w.Free()
		drive(t, ev, func() bool { return readErr != nil })

		// The model.
		whole, rest := 0, cut
		for _, p := range pdus {
			if rest < 4+len(p) {
				break
			}
			rest -= 4 + len(p)
			whole++
		}
		if len(got) > whole {
			t.Fatalf("got %d PDUs, only %d were sent whole", len(got), whole)
		}
		for i := range got {
			if !bytes.Equal(got[i], pdus[i]) {
				t.Fatalf("PDU %d corrupted", i)
			}
		}
		switch {
		case mode == 2:
			if !errors.Is(readErr, syscall.ECONNRESET) && readErr != io.EOF && readErr != io.ErrUnexpectedEOF {
				t.Fatalf("after reset: %v", readErr)
			}
		case len(got) != whole:
			t.Fatalf("got %d PDUs, %d were sent whole", len(got), whole)
		case rest == 0 && readErr != io.EOF:
			t.Fatalf("cut between PDUs: %v, want io.EOF", readErr)
		case rest > 0 && readErr != io.ErrUnexpectedEOF:
			t.Fatalf("cut inside a PDU: %v, want io.ErrUnexpectedEOF", readErr)
		}
	})
}
