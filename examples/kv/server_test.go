package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotevent/tevent"
)

// startKV starts a server with n loops on 127.0.0.1:0 and stops it when
// the test ends.
func startKV(t *testing.T, loops int) string {
	t.Helper()
	return startKVBackend(t, loops, "")
}

func startKVBackend(t *testing.T, loops int, backend string) string {
	t.Helper()
	kv, err := newKV(config{loops: loops, backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := kv.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kv.shutdown(time.Now().Add(2 * time.Second))
		done := make(chan error, 1)
		go func() { done <- kv.wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("wait: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("server did not shut down")
		}
	})
	return addr.String()
}

// respConn is a test client speaking RESP.
type respConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *respConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &respConn{t: t, c: c, r: bufio.NewReader(c)}
}

// encode writes commands (space-separated words) as multibulk requests.
func encode(cmds ...string) []byte {
	var b []byte
	for _, cmd := range cmds {
		f := strings.Fields(cmd)
		b = appendArray(b, len(f))
		for _, a := range f {
			b = appendBulkString(b, a)
		}
	}
	return b
}

func (rc *respConn) send(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one reply and renders it: +OK, -ERR x, :1, "v" for a bulk
// string, nil, [a b] for arrays.
func (rc *respConn) read() string {
	rc.t.Helper()
	s, err := readReply(rc.r)
	if err != nil {
		rc.t.Fatalf("reading a reply: %v", err)
	}
	return s
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") || len(line) < 3 {
		return "", fmt.Errorf("bad reply line %q", line)
	}
	line = line[:len(line)-2]
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "nil", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return strconv.Quote(string(b[:n])), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		var parts []string
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return "[" + strings.Join(parts, " ") + "]", nil
	}
	return "", fmt.Errorf("bad reply %q", line)
}

// do sends commands in one write and returns their replies.
func (rc *respConn) do(cmds ...string) []string {
	rc.t.Helper()
	rc.send(encode(cmds...))
	out := make([]string, len(cmds))
	for i := range cmds {
		out[i] = rc.read()
	}
	return out
}

func (rc *respConn) expectEOF() {
	rc.t.Helper()
	if b, err := rc.r.ReadByte(); err != io.EOF {
		rc.t.Fatalf("want EOF, got %q %v", b, err)
	}
}

func check(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestServerBasics(t *testing.T) {
	for _, loops := range []int{1, 3} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			rc := dial(t, startKV(t, loops))
			check(t, rc.do("PING", "PING hi", "ECHO x", "GET k", "SET k v", "GET k", "SET k w NX", "SET n 10", "INCR n",
				"EXISTS k n nope", "DEL k", "GET k", "TTL n", "NOSUCH a", "GET", "COMMAND DOCS", "CONFIG GET save"),
				"+PONG", `"hi"`, `"x"`, "nil", "+OK", `"v"`, "nil", "+OK", ":11",
				":2", ":1", "nil", ":-1", "-ERR unknown command 'NOSUCH', with args beginning with: 'a' ",
				"-ERR wrong number of arguments for 'get' command", "[]", "[]")
		})
	}
}

// Many commands in one write are answered in order, with keys on every
// shard and local and forwarded commands interleaved.
func TestServerPipeline(t *testing.T) {
	for _, loops := range []int{1, 4} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			addr := startKV(t, loops)
			rc := dial(t, addr)
			var cmds, want []string
			for i := range 300 {
				cmds = append(cmds, fmt.Sprintf("SET key:%d v%d", i, i), fmt.Sprintf("GET key:%d", i), "PING")
				want = append(want, "+OK", fmt.Sprintf(`"v%d"`, i), "+PONG")
			}
			check(t, rc.do(cmds...), want...)
			// Multi-key commands across shards.
			check(t, rc.do("MSET a 1 b 2 c 3 d 4 e 5", "MGET e nope a c b d", "EXISTS a b c d e f",
				"DEL a c e x", "MGET a b c d e", "DBSIZE"),
				"+OK", `["5" nil "1" "3" "2" "4"]`, ":5", ":3", `[nil "2" nil "4" nil]`, ":302")
			// A second connection sees the same keys, whatever loop serves it.
			rc2 := dial(t, addr)
			check(t, rc2.do("GET key:7", "GET b", "FLUSHALL", "DBSIZE", "GET key:7"), `"v7"`, `"2"`, "+OK", ":0", "nil")
		})
	}
}

// Requests split at every byte still parse: the server keeps the rest.
func TestServerPartialWrites(t *testing.T) {
	rc := dial(t, startKV(t, 2))
	req := append(encode("SET key some-value", "GET key"), "PING\r\nGET key\r\n"...)
	for i := range req {
		rc.send(req[i : i+1])
	}
	check(t, []string{rc.read(), rc.read(), rc.read(), rc.read()}, "+OK", `"some-value"`, "+PONG", `"some-value"`)
}

func TestServerInline(t *testing.T) {
	rc := dial(t, startKV(t, 1))
	rc.send([]byte("PING\r\nSET  a  b\nget a\r\n\r\nEXISTS a\n"))
	check(t, []string{rc.read(), rc.read(), rc.read(), rc.read()}, "+PONG", "+OK", `"b"`, ":1")
}

func TestServerQuit(t *testing.T) {
	for _, loops := range []int{1, 3} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			rc := dial(t, startKV(t, loops))
			// Commands before QUIT are answered (forwarded ones too), those
			// after it are not.
			var cmds []string
			for i := range 20 {
				cmds = append(cmds, fmt.Sprintf("SET q%d x", i))
			}
			rc.send(encode(append(cmds, "QUIT", "SET after x")...))
			for range cmds {
				if got := rc.read(); got != "+OK" {
					t.Fatalf("got %s", got)
				}
			}
			if got := rc.read(); got != "+OK" {
				t.Fatalf("QUIT: %s", got)
			}
			rc.expectEOF()
		})
	}
}

func TestServerProtocolError(t *testing.T) {
	rc := dial(t, startKV(t, 1))
	rc.send(append(encode("SET a b"), "*1\r\n+x\r\n"...))
	check(t, []string{rc.read(), rc.read()}, "+OK", "-ERR Protocol error: expected '$', got '+'")
	rc.expectEOF()
}

// A short PX expires: the key is gone once its deadline passes, found by
// access (lazy) or by the sweep for keys nobody reads.
func TestServerExpiry(t *testing.T) {
	for _, loops := range []int{1, 3} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			rc := dial(t, startKV(t, loops))
			check(t, rc.do("SET k v PX 30", "SET long v EX 1000", "PEXPIRE long 1000000"), "+OK", "+OK", ":1")
			deadline := time.Now().Add(10 * time.Second)
			for rc.do("GET k")[0] != "nil" {
				if time.Now().After(deadline) {
					t.Fatal("a 30 ms key still there after 10 s")
				}
			}
			check(t, rc.do("TTL k", "EXISTS long"), ":-2", ":1")

			// Keys nobody reads are removed by the sweep: DBSIZE counts what
			// is stored without touching keys.
			var cmds []string
			for i := range 200 {
				cmds = append(cmds, fmt.Sprintf("SET vol:%d x PX 20", i))
			}
			rc.do(cmds...)
			for {
				n := rc.do("DBSIZE")[0]
				if n == ":1" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("DBSIZE still %s: the sweep did not remove expired keys", n)
				}
			}
		})
	}
}

// Connections come and go while others are forwarded results: replies to a
// closed connection are dropped, the others get theirs.
func TestServerManyClients(t *testing.T) {
	addr := startKV(t, 3)
	done := make(chan error, 8)
	for g := range 8 {
		go func() {
			done <- func() error {
				for round := range 20 {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						return err
					}
					c.SetDeadline(time.Now().Add(20 * time.Second))
					r := bufio.NewReader(c)
					var cmds []string
					for i := range 30 {
						cmds = append(cmds, fmt.Sprintf("INCR ctr:%d", i))
					}
					cmds = append(cmds, fmt.Sprintf("MGET ctr:0 ctr:1 ctr:2 g%d", g))
					if _, err := c.Write(encode(cmds...)); err != nil {
						return err
					}
					if round%2 == 1 {
						c.Close() // drop it with replies in flight
						continue
					}
					for i := range cmds {
						s, err := readReply(r)
						if err != nil {
							return err
						}
						if i < 30 && !strings.HasPrefix(s, ":") {
							return fmt.Errorf("INCR reply %q", s)
						}
					}
					c.Close()
				}
				return nil
			}()
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	rc := dial(t, addr)
	// Every INCR answered was executed (80); those of dropped
	// connections may or may not have been read before the reset.
	got := rc.do("GET ctr:5")[0]
	n, err := strconv.Atoi(strings.Trim(got, `"`))
	if err != nil || n < 80 || n > 160 {
		t.Errorf("ctr:5 = %s, want 80 to 160", got)
	}
}

// A pipeline of GETs and SETs on existing keys allocates nothing in the
// server: counted over the whole process while a client (which allocates
// nothing itself: prebuilt requests, replies read into one buffer) runs
// 1,000 pipelines of 16 commands.
func TestServerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rc := dial(t, startKV(t, 1))
	var cmds []string
	var want []string
	for i := range 8 {
		cmds = append(cmds, fmt.Sprintf("SET key:%d value-%d", i, i), fmt.Sprintf("GET key:%d", i))
		want = append(want, "+OK", fmt.Sprintf(`"value-%d"`, i))
	}
	check(t, rc.do(cmds...), want...) // the keys exist from here on
	req := encode(cmds...)
	var reply []byte
	for i := range 8 {
		reply = append(reply, "+OK\r\n"...)
		reply = appendBulkString(reply, fmt.Sprintf("value-%d", i))
	}
	buf := make([]byte, len(reply))
	round := func() {
		if _, err := rc.c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc.c, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // warm up: buffers grown, pools filled
		round()
	}
	if string(buf) != string(reply) {
		t.Fatalf("reply %q", buf)
	}
	const rounds = 1000
	allocs := testing.AllocsPerRun(rounds, round)
	// AllocsPerRun counts every goroutine's allocations; allow a little
	// for the runtime's own.
	if perCmd := allocs / 16; perCmd > 0.02 {
		t.Errorf("%.3f allocations per command (%.2f per pipeline of 16)", perCmd, allocs)
	}
}

// The parts of a split command combine into one reply in key order; a
// part that could not run turns the whole reply into an error.
func TestMergeParts(t *testing.T) {
	x := &execCtx{s: newShard(1)}
	x.s.set([]byte("a"), []byte("1"), 0, 0, 0)
	x.s.set([]byte("c"), []byte("3"), 0, 0, 0)
	mget := commands["mget"]
	mk := func() (*slot, *op, *op) {
		s := &slot{fan: fanMGet, waiting: 2, vals: make([][]byte, 3), isNil: make([]bool, 3)}
		p1 := &op{slot: s, cmd: mget, args: copyArgs([][]byte{[]byte("MGET"), []byte("a"), []byte("c")}), idx: []int{0, 2}}
		p2 := &op{slot: s, cmd: mget, args: copyArgs([][]byte{[]byte("MGET"), []byte("b")}), idx: []int{1}}
		return s, p1, p2
	}
	s, p1, p2 := mk()
	runOp(x, p1)
	runOp(x, p2)
	mergeOp(p2)
	if s.waiting != 1 || s.buf != nil {
		t.Fatal("slot done after one part of two")
	}
	mergeOp(p1)
	if got := string(s.buf); got != "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n" {
		t.Errorf("MGET parts: %q", got)
	}
	s, p1, p2 = mk()
	runOp(x, p1)
	mergeOp(p1)
	p2.failed = true
	mergeOp(p2)
	if got := string(s.buf); got != "-"+errShardGone+"\r\n" {
		t.Errorf("failed part: %q", got)
	}
}

// Every tevent backend serves the same pipeline, on one loop and on two.
func TestServerBackends(t *testing.T) {
	for _, b := range tevent.Backends() {
		for _, loops := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/loops=%d", b, loops), func(t *testing.T) {
				rc := dial(t, startKVBackend(t, loops, b))
				var cmds, want []string
				for i := range 50 {
					cmds = append(cmds, fmt.Sprintf("SET b%d %d", i, i), fmt.Sprintf("INCR b%d", i))
					want = append(want, "+OK", fmt.Sprintf(":%d", i+1))
				}
				cmds = append(cmds, "MGET b0 b1 b2 b3", "DBSIZE", "QUIT")
				want = append(want, `["1" "2" "3" "4"]`, ":50", "+OK")
				check(t, rc.do(cmds...), want...)
				rc.expectEOF()
			})
		}
	}
}
