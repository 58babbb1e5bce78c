package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

// checkVolatile verifies the shard's invariants: every entry with a
// deadline is in volatile at its index, and nothing else is.
func checkVolatile(t *testing.T, s *shard) {
	t.Helper()
	n := 0
	for k, e := range s.m {
		if e.key != k {
			t.Fatalf("entry %q under key %q", e.key, k)
		}
		if e.exp != 0 {
			n++
			if int(e.vidx) >= len(s.volatile) || s.volatile[e.vidx] != e {
				t.Fatalf("entry %q not at volatile[%d]", k, e.vidx)
			}
		}
	}
	if n != len(s.volatile) {
		t.Fatalf("%d entries with a deadline, %d in volatile", n, len(s.volatile))
	}
}

func TestShardBasics(t *testing.T) {
	s := newShard(1)
	k, v := []byte("k"), []byte("v1")
	if _, ok := s.get(k, 0); ok {
		t.Fatal("get on an empty shard found a value")
	}
	if !s.set(k, v, 0, 0, 0) {
		t.Fatal("set refused")
	}
	v[1] = '9' // the shard keeps a copy
	if got, ok := s.get(k, 0); !ok || string(got) != "v1" {
		t.Fatalf("get = %q %v", got, ok)
	}
	if s.set(k, []byte("x"), 0, setNX, 0) {
		t.Fatal("SET NX on an existing key succeeded")
	}
	if s.set([]byte("other"), []byte("x"), 0, setXX, 0) {
		t.Fatal("SET XX on a missing key succeeded")
	}
	if !s.set(k, []byte("v2"), 0, setXX, 0) {
		t.Fatal("SET XX on an existing key refused")
	}
	if got, _ := s.get(k, 0); string(got) != "v2" {
		t.Fatalf("after XX: %q", got)
	}
	if !s.exists(k, 0) || s.exists([]byte("other"), 0) {
		t.Fatal("exists wrong")
	}
	if !s.del(k, 0) || s.del(k, 0) || s.size() != 0 {
		t.Fatal("del wrong")
	}
}

func TestShardIncr(t *testing.T) {
	s := newShard(1)
	k := []byte("n")
	for i := int64(1); i <= 3; i++ {
		if v, err := s.incr(k, 1, 0); v != i || err != "" {
			t.Fatalf("incr %d: %d %q", i, v, err)
		}
	}
	if v, _ := s.incr(k, -10, 0); v != -7 {
		t.Fatalf("incr -10 = %d", v)
	}
	if got, _ := s.get(k, 0); string(got) != "-7" {
		t.Fatalf("value %q", got)
	}
	s.set(k, []byte("9223372036854775807"), 0, 0, 0)
	if _, err := s.incr(k, 1, 0); err != errOverflow {
		t.Fatalf("overflow: %q", err)
	}
	s.set(k, []byte("12a"), 0, 0, 0)
	if _, err := s.incr(k, 1, 0); err != errNotInt {
		t.Fatalf("not an int: %q", err)
	}
	s.set(k, []byte("-9223372036854775808"), 0, 0, 0)
	if _, err := s.incr(k, -1, 0); err != errOverflow {
		t.Fatalf("underflow: %q", err)
	}
}

func TestShardExpiry(t *testing.T) {
	s := newShard(1)
	k := []byte("k")
	s.set(k, []byte("v"), 10*sec, 0, 0)
	checkVolatile(t, s)
	if got := s.pttl(k, 4*sec); got != 6*sec {
		t.Fatalf("pttl = %d", got)
	}
	if got := s.pttl([]byte("none"), 0); got != -2 {
		t.Fatalf("pttl of a missing key = %d", got)
	}
	// KEEPTTL keeps it, a plain SET clears it.
	s.set(k, []byte("v2"), 0, setKeepTTL, 1)
	if got := s.pttl(k, 0); got != 10*sec {
		t.Fatalf("after KEEPTTL pttl = %d", got)
	}
	s.set(k, []byte("v3"), 0, 0, 1)
	if got := s.pttl(k, 0); got != -1 {
		t.Fatalf("after SET pttl = %d", got)
	}
	checkVolatile(t, s)
	// Lazy expiry: found expired on access, deleted.
	s.expire(k, 5*sec, 0)
	if _, ok := s.get(k, 5*sec-1); !ok {
		t.Fatal("expired early")
	}
	if _, ok := s.get(k, 5*sec); ok {
		t.Fatal("not expired at its deadline")
	}
	if s.size() != 0 || s.expired != 1 {
		t.Fatalf("size %d expired %d", s.size(), s.expired)
	}
	checkVolatile(t, s)
	// A deadline in the past deletes at once.
	s.set(k, []byte("v"), 0, 0, 0)
	if !s.expire(k, 0, 1) || s.size() != 0 {
		t.Fatal("expire in the past did not delete")
	}
	if s.expire(k, 10, 0) {
		t.Fatal("expire on a missing key reported true")
	}
}

// The sweep deletes expired keys nobody reads, sampling, and leaves live
// ones alone; repeated sweeps clear them all.
func TestShardSweep(t *testing.T) {
	s := newShard(7)
	for i := range 1000 {
		k := []byte(fmt.Sprintf("k%d", i))
		exp := int64(100 * sec) // live
		if i%2 == 0 {
			exp = sec // will have expired
		}
		s.set(k, []byte("v"), exp, 0, 0)
	}
	s.set([]byte("forever"), []byte("v"), 0, 0, 0)
	checkVolatile(t, s)
	clock := func() int64 { return 2 * sec }
	total := 0
	for i := 0; i < 1000 && s.size() > 501; i++ {
		total += s.sweep(2*sec, clock)
		checkVolatile(t, s)
	}
	if s.size() != 501 || total != 500 {
		t.Fatalf("after sweeps: %d keys, %d deleted; want 501, 500", s.size(), total)
	}
	// With few expired keys a sweep stops after one sample.
	if n := s.sweep(2*sec, clock); n != 0 {
		t.Fatalf("sweep of live keys deleted %d", n)
	}
	s.flush()
	if s.size() != 0 || len(s.volatile) != 0 {
		t.Fatal("flush left keys")
	}
}

// SET on an existing key and GET allocate nothing.
func TestShardAllocs(t *testing.T) {
	s := newShard(1)
	k, v := []byte("key:000001"), []byte(strings.Repeat("x", 64))
	s.set(k, v, 0, 0, 0)
	x := &execCtx{s: s}
	set := [][]byte{[]byte("SET"), k, v}
	get := [][]byte{[]byte("GET"), k}
	out := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		out = lookupCommand(set[0]).run(x, set, out[:0])
		out = lookupCommand(get[0]).run(x, get, out[:0])
	})
	if allocs != 0 {
		t.Errorf("SET+GET allocate %v times", allocs)
	}
}

// runLine executes one command line (split at spaces) on x, as the server
// would on a single shard, and returns the reply.
func runLine(x *execCtx, line string) string {
	var args [][]byte
	for _, a := range strings.Fields(line) {
		args = append(args, []byte(a))
	}
	c := lookupCommand(args[0])
	if c == nil {
		return string(appendUnknown(nil, args))
	}
	if !c.checkArity(args) {
		return string(appendArityError(nil, c.name))
	}
	return string(c.run(x, args, nil))
}

func TestCommands(t *testing.T) {
	x := &execCtx{s: newShard(1), now: 1000 * sec}
	for _, tc := range []struct{ in, want string }{
		{"PING", "+PONG\r\n"},
		{"ping hello", "$5\r\nhello\r\n"},
		{"PING a b", "-ERR wrong number of arguments for 'ping' command\r\n"},
		{"ECHO hi", "$2\r\nhi\r\n"},
		{"GET", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"NOPE a b", "-ERR unknown command 'NOPE', with args beginning with: 'a' 'b' \r\n"},
		{"GET k", "$-1\r\n"},
		{"SET k v", "+OK\r\n"},
		{"get k", "$1\r\nv\r\n"},
		{"SET k w NX", "$-1\r\n"},
		{"SET k w XX GET", "$1\r\nv\r\n"},
		{"SET k w NX XX", "-ERR syntax error\r\n"},
		{"SET k w EX", "-ERR syntax error\r\n"},
		{"SET k w EX 0", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k w EX -5", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k w EX x", "-ERR value is not an integer or out of range\r\n"},
		{"SET k w EX 1 PX 1", "-ERR syntax error\r\n"},
		{"SET k w EX 99999999999999999", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k w BOGUS", "-ERR syntax error\r\n"},
		{"TTL k", ":-1\r\n"},
		{"TTL missing", ":-2\r\n"},
		{"SET k w EX 10", "+OK\r\n"},
		{"TTL k", ":10\r\n"},
		{"PTTL k", ":10000\r\n"},
		{"SET k w px 1500", "+OK\r\n"},
		{"TTL k", ":2\r\n"}, // rounded, as Redis does
		{"SET k w KEEPTTL", "+OK\r\n"},
		{"PTTL k", ":1500\r\n"},
		{"EXPIRE k 100", ":1\r\n"},
		{"EXPIRE k 50 GT", ":0\r\n"},
		{"EXPIRE k 50 LT", ":1\r\n"},
		{"EXPIRE k 70 NX", ":0\r\n"},
		{"EXPIRE k 70 XX", ":1\r\n"},
		{"EXPIRE k 70 NX XX", "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"},
		{"EXPIRE k 70 FOO", "-ERR Unsupported option FOO\r\n"},
		{"EXPIRE k x", "-ERR value is not an integer or out of range\r\n"},
		{"EXPIRE missing 10", ":0\r\n"},
		{"PEXPIRE k 2500", ":1\r\n"},
		{"PTTL k", ":2500\r\n"},
		{"EXPIRE k 0", ":1\r\n"},
		{"EXISTS k", ":0\r\n"},
		{"INCR n", ":1\r\n"},
		{"INCRBY n 41", ":42\r\n"},
		{"DECR n", ":41\r\n"},
		{"DECRBY n 1", ":40\r\n"},
		{"INCRBY n x", "-ERR value is not an integer or out of range\r\n"},
		{"SET s abc", "+OK\r\n"},
		{"INCR s", "-ERR value is not an integer or out of range\r\n"},
		{"MSET a 1 b 2", "+OK\r\n"},
		{"MSET a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n"},
		{"MGET a nope b", "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"},
		{"EXISTS a b a nope", ":3\r\n"},
		{"DEL a b nope", ":2\r\n"},
		{"DBSIZE", ":2\r\n"},
		{"SELECT 0", "+OK\r\n"},
		{"SELECT 1", "-ERR DB index is out of range\r\n"},
		{"COMMAND DOCS", "*0\r\n"},
		{"COMMAND", "*0\r\n"},
		{"CONFIG GET save", "*0\r\n"},
		{"CONFIG SET save x", "-ERR CONFIG subcommand not supported\r\n"},
		{"CLIENT SETNAME me", "+OK\r\n"},
		{"FLUSHALL", "+OK\r\n"},
		{"DBSIZE", ":0\r\n"},
		{"QUIT", "+OK\r\n"},
	} {
		if got := runLine(x, tc.in); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.in, got, tc.want)
		}
	}
	checkVolatile(t, x.s)
}

func TestCommandKeys(t *testing.T) {
	args := func(s string) [][]byte {
		var a [][]byte
		for _, f := range strings.Fields(s) {
			a = append(a, []byte(f))
		}
		return a
	}
	for _, tc := range []struct {
		in                string
		first, last, step int
	}{
		{"GET k", 1, 1, 1},
		{"SET k v EX 1", 1, 1, 1},
		{"MSET a 1 b 2", 1, 4, 2},
		{"DEL a b c", 1, 3, 1},
		{"PING", 0, 0, 1},
	} {
		a := args(tc.in)
		f, l, s := lookupCommand(a[0]).keyRange(a)
		if f != tc.first || l != tc.last || s != tc.step {
			t.Errorf("%s: keys %d..%d step %d", tc.in, f, l, s)
		}
	}
	if lookupCommand([]byte("averyveryverylongname")) != nil {
		t.Error("long name found")
	}
}

// BenchmarkPipeline is the server's per-command work without the network:
// parse, look up, run, for a pipeline of 16 SETs and GETs.
func BenchmarkPipeline(b *testing.B) {
	var req []byte
	for i := range 8 {
		k := fmt.Sprintf("key:%06d", i)
		req = append(req, encodeCmd("SET", k, "xxx")...)
		req = append(req, encodeCmd("GET", k)...)
	}
	x := &execCtx{s: newShard(1)}
	args := make([][]byte, 0, 8)
	out := make([]byte, 0, 4096)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		out = out[:0]
		for pos := 0; pos < len(req); {
			var n int
			args, n, _ = parseCommand(req[pos:], args)
			pos += n
			out = lookupCommand(args[0]).run(x, args, out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/cmd")
}

func encodeCmd(args ...string) []byte {
	b := appendArray(nil, len(args))
	for _, a := range args {
		b = appendBulkString(b, a)
	}
	return b
}
