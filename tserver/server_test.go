package tserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

func TestServerEcho(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		_, addr := startServer(t, rec, Config{Loops: 3, Backend: backend})
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(srvTimeout))
				r := rand.New(rand.NewPCG(uint64(i), 1))
				for k := 0; k < 20; k++ {
					msg := make([]byte, 1+r.IntN(200000))
					for j := range msg {
						msg[j] = byte(r.Uint32())
					}
					go c.Write(msg)
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(c, got); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, msg) {
						errs <- errors.New("echo mismatch")
						return
					}
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := 0; i < 16; i++ {
			if err := waitFor(t, "close", rec.closed); err != io.EOF {
				t.Errorf("close reason %v, want io.EOF", err)
			}
		}
	})
}

// A handler that consumes whole lines only: the rest is kept and handed
// back with the next bytes appended.
func TestServerPartialConsume(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		rec.data = func(c *Conn, in []byte) int {
			n := 0
			for {
				i := bytes.IndexByte(in[n:], '\n')
				if i < 0 {
					break
				}
				c.Writev([]byte("<"), in[n:n+i], []byte(">\n"))
				n += i + 1
			}
			return n
		}
		_, addr := startServer(t, rec, Config{Backend: backend, ReadBufferSize: 16})
		c := dial(t, addr)
		defer c.Close()
		want := ""
		msg := ""
		for i := 0; i < 50; i++ {
			line := string(bytes.Repeat([]byte{'a' + byte(i%26)}, i*3))
			msg += line + "\n"
			want += "<" + line + ">\n"
		}
		// Trickle it in small pieces.
		go func() {
			for i := 0; i < len(msg); i += 7 {
				c.Write([]byte(msg[i:min(i+7, len(msg))]))
			}
		}()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("got %q", got)
		}
	})
}

func TestServerWriteLimit(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		chunk := make([]byte, 1<<16)
		rec.data = func(c *Conn, in []byte) int {
			// Flood a peer that never reads.
			for {
				if _, err := c.Write(chunk); err != nil {
					if !errors.Is(err, ErrWriteLimit) {
						t.Errorf("Write: %v, want ErrWriteLimit", err)
					}
					return len(in)
				}
				if c.OutboundBuffered() > 0 {
					// Keep going only through pending output.
				}
			}
		}
		_, addr := startServer(t, rec, Config{Backend: backend, MaxWriteBuffer: 1 << 20})
		c := dial(t, addr)
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		c.Write([]byte("go"))
		if err := waitFor(t, "close", rec.closed); !errors.Is(err, ErrWriteLimit) {
			t.Fatalf("close reason %v, want ErrWriteLimit", err)
		}
	})
}

func TestServerInboundLimit(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		rec.data = func(c *Conn, in []byte) int { return 0 } // never consumes
		_, addr := startServer(t, rec, Config{Backend: backend, MaxInbound: 100000})
		c := dial(t, addr)
		defer c.Close()
		go c.Write(make([]byte, 300000))
		if err := waitFor(t, "close", rec.closed); !errors.Is(err, ErrInboundLimit) {
			t.Fatalf("close reason %v, want ErrInboundLimit", err)
		}
	})
}

// TestServerIdleTimeout: connections idle after the server's greeting
// are closed with ErrIdleTimeout, on each of two loops; the clients read
// the greeting, then EOF. The clients never write: an exchange started by
// the client would race the 30 ms timeout on a loaded machine (the
// timeout may come first), and bytes the server had not read when it
// closed would turn the client's EOF into a reset.
func TestServerIdleTimeout(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		rec.open = func(c *Conn) { c.Write([]byte("hello")) }
		s, addr := startServer(t, rec, Config{Backend: backend, IdleTimeout: 30 * time.Millisecond, Loops: 2})
		c1 := dial(t, addr)
		defer c1.Close()
		c2 := dial(t, addr)
		defer c2.Close()
		for i := 0; i < 2; i++ {
			if err := waitFor(t, "close", rec.closed); !errors.Is(err, ErrIdleTimeout) {
				t.Fatalf("close reason %v, want ErrIdleTimeout", err)
			}
		}
		for i, c := range []net.Conn{c1, c2} {
			if got, err := readToEOF(c); string(got) != "hello" || err != nil {
				t.Fatalf("client %d read %q, %v after the idle close; want the greeting, then EOF", i+1, got, err)
			}
		}
		if n := s.Stats().Conns; n != 0 {
			t.Fatalf("%d conns left", n)
		}
	})
}

// A handle taken from a closed connection must never reach the connection
// that reuses its descriptor number (and its recycled Conn).
func TestServerHandleGeneration(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		_, addr := startServer(t, rec, Config{Backend: backend})
		c1 := dial(t, addr)
		first := waitFor(t, "open", rec.opened)
		h := first.Handle() // taken here for the test; normally on the loop
		echoOnce(t, c1, []byte("a"))
		c1.Close()
		waitFor(t, "close", rec.closed)
		if err := h.Write([]byte("stale")); !errors.Is(err, ErrConnClosed) {
			t.Fatalf("stale handle Write: %v, want ErrConnClosed", err)
		}
		c2 := dial(t, addr)
		defer c2.Close()
		second := waitFor(t, "open", rec.opened)
		if err := h.Write([]byte("stale")); !errors.Is(err, ErrConnClosed) {
			t.Fatalf("stale handle Write on reused conn: %v", err)
		}
		h.Close()
		h2 := make(chan ConnHandle, 1)
		second.Loop().Schedule(func(*Loop) { h2 <- second.Handle() })
		hh := waitFor(t, "handle", h2)
		if err := hh.Write([]byte("fresh")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(c2, got); err != nil || string(got) != "fresh" {
			t.Fatalf("got %q, %v", got, err)
		}
		if err := hh.Close(); err != nil {
			t.Fatal(err)
		}
		if rest, err := readToEOF(c2); len(rest) != 0 || err != nil {
			t.Fatalf("after Close: %q, %v", rest, err)
		}
		c2.Close() // the server lingers for the peer's close
		if err := waitFor(t, "close", rec.closed); err != nil {
			t.Fatalf("close reason %v, want nil", err)
		}
	})
}

func TestServerHandleFromGoroutines(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		hs := make(chan ConnHandle, 1)
		rec.open = func(c *Conn) { hs <- c.Handle() }
		rec.data = func(c *Conn, in []byte) int { return len(in) }
		_, addr := startServer(t, rec, Config{Backend: backend, Loops: 2})
		c := dial(t, addr)
		defer c.Close()
		h := waitFor(t, "handle", hs)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					h.Write([]byte{byte('a' + g)})
				}
			}(g)
		}
		wg.Wait()
		got := make([]byte, 400)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		var n [4]int
		for _, b := range got {
			n[b-'a']++
		}
		if n != [4]int{100, 100, 100, 100} {
			t.Fatalf("counts %v", n)
		}
	})
}

func TestServerCloseWrite(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		got := make(chan string, 10)
		rec.open = func(c *Conn) {
			c.Write([]byte("bye"))
			if err := c.CloseWrite(); err != nil {
				t.Error(err)
			}
			if _, err := c.Write([]byte("x")); !errors.Is(err, ErrConnClosed) {
				t.Errorf("Write after CloseWrite: %v", err)
			}
		}
		rec.data = func(c *Conn, in []byte) int { got <- string(in); return len(in) }
		_, addr := startServer(t, rec, Config{Backend: backend})
		c := dial(t, addr)
		defer c.Close()
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "bye" {
			t.Fatalf("read %q %v", b, err)
		}
		c.Write([]byte("still"))
		if s := waitFor(t, "data", got); s != "still" {
			t.Fatalf("got %q", s)
		}
		c.(*net.TCPConn).CloseWrite()
		if err := waitFor(t, "close", rec.closed); err != io.EOF {
			t.Fatalf("close %v", err)
		}
	})
}

func TestServerShutdownGraceful(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		big := make([]byte, 4<<20)
		for i := range big {
			big[i] = byte(i)
		}
		rec.data = func(c *Conn, in []byte) int {
			c.Write(big)
			return len(in)
		}
		s, err := New(rec, &Config{Backend: backend, Loops: 2, MaxWriteBuffer: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		c := dial(t, a.String())
		defer c.Close()
		c.Write([]byte("x"))
		first := make([]byte, 1)
		io.ReadFull(c, first) // the server has written; most is pending
		s.Shutdown(time.Now().Add(srvTimeout))
		rest, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(first, rest...), big) {
			t.Fatalf("got %d bytes, want all %d", 1+len(rest), len(big))
		}
		c.Close() // the server lingers for the peer's close
		waitServer(t, s)
		if err := waitFor(t, "close", rec.closed); err != nil {
			t.Fatalf("close reason %v, want nil", err)
		}
		if _, err := net.Dial("tcp", a.String()); err == nil {
			t.Fatal("still accepting after shutdown")
		}
	})
}

func TestServerShutdownDeadline(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		rec := newRecorder()
		wrote := make(chan int, 1)
		rec.data = func(c *Conn, in []byte) int {
			c.Write(make([]byte, 32<<20))
			c.Loop().Context().NewImmediate().Schedule(func(*tevent.Context, *tevent.Immediate) { wrote <- c.OutboundBuffered() })
			return len(in)
		}
		s, err := New(rec, &Config{Backend: backend, MaxWriteBuffer: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.Listen("tcp", "127.0.0.1:0")
		s.Start()
		c := dial(t, a.String())
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		c.Write([]byte("x"))
		// The client never reads: the deadline forces the close.
		waitFor(t, "write", wrote)
		s.Shutdown(time.Now().Add(20 * time.Millisecond))
		waitServer(t, s)
		if err := waitFor(t, "close", rec.closed); !errors.Is(err, ErrServerClosed) {
			t.Fatalf("close reason %v, want ErrServerClosed", err)
		}
	})
}

// The caller's own contexts, driven by the caller, with its own timer on
// the same loop.
func TestServerUserContexts(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		ev, err := tevent.New(tevent.WithBackend(backend))
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Free()
		rec := newRecorder()
		var ticks int
		var conns []*Conn
		rec.open = func(c *Conn) { conns = append(conns, c) }
		s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if s.Loops()[0].Context() != ev {
			t.Fatal("Loop.Context is not the given context")
		}
		ev.AddTimer(ev.Now().Add(time.Millisecond), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
			ticks++
			// Write to the connection from our own timer.
			for _, c := range conns {
				c.Write([]byte("tick"))
			}
			if len(conns) == 0 {
				te.Update(now.Add(time.Millisecond))
			}
		})
		loopErr := make(chan error, 1)
		go func() { loopErr <- ev.LoopWait() }()
		c := dial(t, a.String())
		defer c.Close()
		got := make([]byte, 4)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "tick" {
			t.Fatalf("got %q %v", got, err)
		}
		s.Shutdown(time.Now().Add(srvTimeout))
		readToEOF(c)
		c.Close() // the server lingers for the peer's close
		waitServer(t, s)
		// LoopWait returns: the server left nothing behind on ev.
		if err := waitFor(t, "LoopWait", loopErr); err != nil {
			t.Fatal(err)
		}
	})
}

func TestServerUnix(t *testing.T) {
	srvCheckFDs(t)
	rec := newRecorder()
	s, err := New(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.sock")
	if _, err := s.Listen("unix", path); err != nil {
		t.Fatal(err)
	}
	s.Start()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(srvTimeout))
	echoOnce(t, c, []byte("hello unix"))
	c.Close()
	s.Close()
	waitServer(t, s)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket path left behind: %v", err)
	}
}

func TestServerBadInput(t *testing.T) {
	srvCheckFDs(t)
	s, err := New(BaseHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close(); s.Start(); waitServer(t, s) }()
	for _, tc := range []struct{ net, addr string }{
		{"tcp", "localhost:80"}, {"tcp", "1.2.3.4"}, {"udp", "127.0.0.1:0"},
		{"tcp4", "[::1]:0"}, {"unix", ""}, {"tcp", "127.0.0.1:notaport"},
	} {
		if _, err := s.Listen(tc.net, tc.addr); err == nil {
			t.Errorf("Listen(%q, %q) succeeded", tc.net, tc.addr)
		}
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if err := s.ListenFD(int(r.Fd())); err == nil {
		t.Error("ListenFD on a pipe succeeded")
	}
	if err := s.ListenFD(-1); err == nil {
		t.Error("ListenFD(-1) succeeded")
	}
	fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := s.ListenFD(fd); err == nil {
		t.Error("ListenFD on a non-listening socket succeeded")
	}
	unix.Close(fd)
	if err := s.ListenFD(fd); err == nil {
		t.Error("ListenFD on a closed fd succeeded")
	}
}

// 10,000 connections opened at once by another process, which then exits:
// every one is opened and closed exactly once, and nothing is left.
func TestServerManyConnsDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	const n = 10000
	if rl.Max < n+200 {
		t.Skipf("fd hard limit %d", rl.Max)
	}
	old := rl
	rl.Cur = rl.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	forEachServerBackend(t, func(t *testing.T, backend string) {
		if backend != "epoll" && backend != "poll" {
			t.Skip("one epoll and one poll backend are enough for 10,000 conns")
		}
		rec := newRecorder()
		s, addr := startServer(t, rec, Config{Backend: backend, Loops: 2})
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+addr, helperEnv+"_N=10000")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if line != "OPEN\n" {
			stdin.Close()
			cmd.Wait()
			t.Fatalf("helper: %q", line)
		}
		for i := 0; i < n; i++ {
			waitFor(t, "open", rec.opened)
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		resets := 0
		for i := 0; i < n; i++ {
			err := waitFor(t, "close", rec.closed)
			switch {
			case err == io.EOF:
			case errors.Is(err, syscall.ECONNRESET):
				resets++
			default:
				t.Fatalf("close reason %v", err)
			}
		}
		if o, c := rec.counts(); o != n || c != n {
			t.Fatalf("opens %d closes %d, want %d", o, c, n)
		}
		if st := s.Stats(); st.Conns != 0 || st.Accepted != n {
			t.Fatalf("stats %+v", st)
		}
	})
}

// EMFILE on accept pauses the listener instead of spinning the loop.
func TestServerEMFILE(t *testing.T) {
	forEachServerBackend(t, func(t *testing.T, backend string) {
		ev, err := tevent.New(tevent.WithBackend(backend))
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Free()
		rec := newRecorder()
		s, err := New(rec, &Config{Contexts: []*tevent.Context{ev}, AcceptBackoff: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.Listen("tcp", "127.0.0.1:0")
		sa, _ := parseV4(a.String())
		var clients []int
		for i := 0; i < 3; i++ {
			fd, _ := testSocketTCP()
			if err := unix.Connect(fd, sa); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, fd)
		}
		// Use every descriptor up.
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
		old := rl
		setRlimitCur(&rl.Cur, srvOpenFDs(t)+16)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
		var fill []int
		for {
			fd, err := unix.Dup(0)
			if err != nil {
				break
			}
			fill = append(fill, fd)
		}
		turns := 0
		ev.SetTraceCallback(func(p tevent.TracePoint) {
			if p == tevent.TraceBeforeLoopOnce {
				turns++
			}
		})
		// The first turn gets EMFILE; the listener must then sleep until
		// the retry timer, which gets EMFILE again: count the turns until
		// the second retry.
		retries := 0
		for retries < 2 && turns < 1000 {
			ln := s.lns[0]
			was := ln.paused
			if err := ev.LoopOnce(); err != nil {
				t.Fatal(err)
			}
			if was && !ln.paused {
				retries++
			}
		}
		if turns > 20 {
			t.Fatalf("%d loop turns for 2 accept retries under EMFILE: the loop spins", turns)
		}
		ev.SetTraceCallback(nil)
		for _, fd := range fill {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
		deadline := time.Now().Add(srvTimeout)
		for len(rec.opened) < 3 && time.Now().Before(deadline) {
			ev.LoopOnce()
		}
		if len(rec.opened) != 3 {
			t.Fatalf("%d accepted after EMFILE, want 3", len(rec.opened))
		}
		for _, fd := range clients {
			unix.Close(fd)
		}
		s.Close()
		for s.Stats().Conns > 0 || !s.acceptClosed.Load() || len(rec.closed) < 3 {
			if time.Now().After(deadline) {
				t.Fatal("not closed")
			}
			ev.LoopOnce()
		}
		for ev.LoopOnce() == nil && s.left.Load() > 0 && time.Now().Before(deadline) {
		}
		waitServer(t, s)
	})
}
