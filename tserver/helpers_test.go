package tserver

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

const srvTimeout = 20 * time.Second

// warmRuntimeFDs has the runtime open the descriptors it keeps for good
// (the netpoller's) before any count is taken.
var warmRuntimeFDs = sync.OnceFunc(func() {
	r, w, err := os.Pipe()
	if err == nil {
		r.SetReadDeadline(time.Now().Add(time.Hour))
		r.Close()
		w.Close()
	}
})

// openFDCount returns the number of open descriptors, -1 without /proc.
func openFDCount() int {
	warmRuntimeFDs()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func srvOpenFDs(t testing.TB) int {
	t.Helper()
	n := openFDCount()
	if n < 0 {
		t.Skip("no /proc/self/fd")
	}
	return n
}

// srvCheckFDs fails t if the process holds more descriptors at the end of the
// test than at its start.
func srvCheckFDs(t *testing.T) {
	t.Helper()
	before := srvOpenFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(srvTimeout)
		for srvOpenFDs(t) > before && time.Now().Before(deadline) {
			// Go's net closes client descriptors asynchronously; give
			// the runtime a turn without sleeping on a guess.
			runtime.Gosched()
		}
		if n := srvOpenFDs(t); n > before {
			t.Errorf("descriptors: %d at start, %d at end", before, n)
		}
	})
}

func forEachServerBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range tevent.Backends() {
		t.Run(b, func(t *testing.T) {
			srvCheckFDs(t)
			fn(t, b)
		})
	}
}

// recorder is a Handler that records opens and closes.
type recorder struct {
	mu     sync.Mutex
	opens  int
	closes []error
	closed chan error
	opened chan *Conn
	data   func(c *Conn, in []byte) int
	open   func(c *Conn)
	close  func(c *Conn, err error)
	t      testing.TB // for handlers that report errors
}

func newRecorder() *recorder {
	return &recorder{closed: make(chan error, 20000), opened: make(chan *Conn, 20000)}
}

func (r *recorder) OnOpen(c *Conn) {
	r.mu.Lock()
	r.opens++
	r.mu.Unlock()
	if r.open != nil {
		r.open(c)
	}
	select {
	case r.opened <- c:
	default:
	}
}

func (r *recorder) OnData(c *Conn, in []byte) int {
	if r.data != nil {
		return r.data(c, in)
	}
	c.Write(in)
	return len(in)
}

func (r *recorder) OnClose(c *Conn, err error) {
	if r.close != nil {
		r.close(c, err)
	}
	r.mu.Lock()
	r.closes = append(r.closes, err)
	r.mu.Unlock()
	r.closed <- err
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opens, len(r.closes)
}

// startServer starts a server on 127.0.0.1:0 and stops it at cleanup.
func startServer(t *testing.T, h Handler, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(h, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		waitServer(t, s)
	})
	return s, a.String()
}

func waitServer(t testing.TB, s *Server) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
	case <-time.After(srvTimeout):
		t.Fatal("server did not stop")
	}
}

func waitFor[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(srvTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, srvTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(srvTimeout))
	return c
}

func echoOnce(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo mismatch")
	}
}

// ---- client helper process for the 10,000-connection test ----

const helperEnv = "TSERVER_CLIENT_HELPER"

// runClientHelper opens $TSERVER_CLIENT_HELPER_N connections to
// $TSERVER_CLIENT_HELPER, prints OPEN, waits for a line on stdin, then
// exits, dropping them all at once.
func runClientHelper() int {
	addr := os.Getenv(helperEnv)
	n, _ := strconv.Atoi(os.Getenv(helperEnv + "_N"))
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		rl.Cur = rl.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	sa, err := parseV4(addr)
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fds := make([]int, 0, n)
	for i := 0; i < n; i++ {
		fd, err := testSocketTCP()
		if err == nil {
			err = unix.Connect(fd, sa)
		}
		if err != nil {
			fmt.Println("ERR", i, err)
			return 1
		}
		fds = append(fds, fd)
	}
	fmt.Println("OPEN")
	var b [1]byte
	os.Stdin.Read(b[:])
	// Half of them reset (SO_LINGER 0), half close cleanly.
	for i, fd := range fds {
		if i%2 == 0 {
			unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		}
	}
	return 0
}

func parseV4(addr string) (*unix.SockaddrInet4, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	return sa, nil
}

// testSocketTCP makes a blocking, close-on-exec TCP socket on every
// platform (SOCK_CLOEXEC is not one of darwin's socket flags).
func testSocketTCP() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}

// setRlimitCur sets a Rlimit field, whose type is uint64 on Linux and
// darwin and int64 on FreeBSD.
func setRlimitCur[T int64 | uint64](p *T, n int) { *p = T(n) }

// onLoop runs fn on l's goroutine and waits for it.
func onLoop(t testing.TB, l *Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if err := l.Schedule(func(*Loop) { fn(); close(done) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a call on the loop", done)
}

// readToEOF reads c until EOF (or an error) and returns what came.
func readToEOF(c net.Conn) ([]byte, error) {
	return io.ReadAll(c)
}
