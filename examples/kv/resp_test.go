package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// parseAll parses every complete command in buf, as the server does, and
// returns them (copied), the bytes left over and the error that stopped
// it, if any.
func parseAll(buf []byte) (cmds [][]string, rest int, err error) {
	var args [][]byte
	for {
		var n int
		args, n, err = parseCommand(buf, args)
		if err != nil || n == 0 {
			return cmds, len(buf), err
		}
		if n < 0 || n > len(buf) {
			panic(fmt.Sprintf("parseCommand consumed %d of %d bytes", n, len(buf)))
		}
		if len(args) > 0 {
			c := make([]string, len(args))
			for i, a := range args {
				c[i] = string(a)
			}
			cmds = append(cmds, c)
		}
		buf = buf[n:]
	}
}

// parseSplit feeds data in two pieces split at i, the way a server sees a
// stream arrive: parse what is complete, keep the rest, append, parse on.
func parseSplit(data []byte, i int) (cmds [][]string, rest int, err error) {
	var args [][]byte
	buf := append([]byte(nil), data[:i]...)
	next := data[i:]
	for {
		var n int
		args, n, err = parseCommand(buf, args)
		if err != nil {
			return cmds, len(buf), err
		}
		if n == 0 {
			if len(next) == 0 {
				return cmds, len(buf), nil
			}
			buf = append(buf, next...)
			next = nil
			continue
		}
		if len(args) > 0 {
			c := make([]string, len(args))
			for i, a := range args {
				c[i] = string(a)
			}
			cmds = append(cmds, c)
		}
		buf = buf[n:]
	}
}

// q renders commands unambiguously for comparison.
func q(c [][]string) string { return fmt.Sprintf("%q", c) }

func TestParseCommands(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][]string
		rest int
	}{
		{"", nil, 0},
		{"*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}, 0},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", [][]string{{"SET", "k", ""}}, 0},
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"GET", "k"}, {"PING"}}, 0},
		{"*2\r\n$3\r\nGET\r\n$1\r\n", nil, 17},                   // incomplete bulk
		{"*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n", [][]string{{"x"}}, 0}, // empty commands skipped
		{"*1\r\n$6\r\na\r\nb\r\n\r\n", [][]string{{"a\r\nb\r\n"}}, 0},
		{"PING\r\n", [][]string{{"PING"}}, 0},
		{"set  k\tv  \n", [][]string{{"set", "k", "v"}}, 0},
		{"\r\n\n   \r\nGET k\r\n", [][]string{{"GET", "k"}}, 0},
		{"GET k", nil, 5}, // inline without its newline yet
		{"*1\r", nil, 3},
	} {
		cmds, rest, err := parseAll([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if q(cmds) != q(tc.want) || rest != tc.rest {
			t.Errorf("%q: got %q rest %d, want %q rest %d", tc.in, cmds, rest, tc.want, tc.rest)
		}
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", maxInline+1)
	for _, tc := range []struct{ in, msg string }{
		{"*x\r\n", "invalid multibulk length"},
		{"*1x\r\n", "invalid multibulk length"},
		{"*1\n", "invalid multibulk length"},
		{"*\r\n", "invalid multibulk length"},
		{"*01\r\n", "invalid multibulk length"},
		{"*99999999999999999999999\r\n", "invalid multibulk length"},
		{"*2000000\r\n", "invalid multibulk length"},
		{"*" + strings.Repeat("1", 40), "invalid multibulk length"}, // header too long, no CRLF yet
		{"*1\r\n+PING\r\n", "expected '$', got '+'"},
		{"*1\r\n\x00", `expected '$', got '\x00'`},
		{"*1\r\n$-1\r\n", "invalid bulk length"},
		{"*1\r\n$x\r\n", "invalid bulk length"},
		{"*1\r\n$999999999999\r\n", "invalid bulk length"},
		{"*1\r\n$3\r\nabcd\r\n", "expected CRLF after bulk string"},
		{"*1\r\n$3\r\nabc\n\n", "expected CRLF after bulk string"},
		{long, "too big inline request"},
		{long + "\n", "too big inline request"},
	} {
		_, _, err := parseAll([]byte(tc.in))
		var pe protoError
		if !errors.As(err, &pe) {
			t.Errorf("%.40q: got %v, want a protocol error", tc.in, err)
			continue
		}
		if string(pe) != tc.msg {
			t.Errorf("%.40q: got %q, want %q", tc.in, string(pe), tc.msg)
		}
		if !strings.HasPrefix(err.Error(), "Protocol error: ") {
			t.Errorf("%q: message %q", tc.in, err)
		}
	}
}

// The arguments are sub-slices of the buffer with their capacity clipped,
// so appending to one cannot overwrite the next.
func TestParseInPlace(t *testing.T) {
	buf := []byte("*2\r\n$1\r\na\r\n$1\r\nb\r\n")
	args, n, err := parseCommand(buf, nil)
	if err != nil || n != len(buf) || len(args) != 2 {
		t.Fatalf("got %q %d %v", args, n, err)
	}
	if &args[0][0] != &buf[8] || cap(args[0]) != 1 {
		t.Errorf("first argument is not buf[8:9:9]")
	}
}

func TestParseIntStrict(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"-7", -7, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false}, {"-", 0, false}, {"+1", 0, false}, {"01", 0, false},
		{"-0", 0, false}, {" 1", 0, false}, {"1 ", 0, false}, {"1.5", 0, false},
	} {
		v, ok := parseInt([]byte(tc.in))
		if v != tc.v || ok != tc.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
}

func TestWriters(t *testing.T) {
	var b []byte
	b = appendSimple(b, "OK")
	b = appendError(b, "ERR x")
	b = appendInt(b, -42)
	b = appendBulk(b, []byte("hi"))
	b = appendBulk(b, nil)
	b = appendBulkString(b, "yo")
	b = appendNull(b)
	b = appendArray(b, 3)
	want := "+OK\r\n-ERR x\r\n:-42\r\n$2\r\nhi\r\n$0\r\n\r\n$2\r\nyo\r\n$-1\r\n*3\r\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

// Parsing allocates nothing once the argument slice has grown.
func TestParseAllocs(t *testing.T) {
	buf := []byte("*3\r\n$3\r\nSET\r\n$8\r\nkey:0001\r\n$16\r\nxxxxxxxxxxxxxxxx\r\n")
	args := make([][]byte, 0, 8)
	allocs := testing.AllocsPerRun(1000, func() {
		var n int
		args, n, _ = parseCommand(buf, args)
		if n != len(buf) {
			panic("short parse")
		}
	})
	if allocs != 0 {
		t.Errorf("parseCommand allocates %v times per command", allocs)
	}
}

// Every split point of a stream of commands gives the same commands as
// reading it whole.
func TestParseSplitEverywhere(t *testing.T) {
	data := []byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nQUIT\r\n")
	want, _, err := parseAll(data)
	if err != nil || len(want) != 4 {
		t.Fatalf("whole: %q %v", want, err)
	}
	for i := range len(data) + 1 {
		got, rest, err := parseSplit(data, i)
		if err != nil || rest != 0 || q(got) != q(want) {
			t.Errorf("split at %d: %q rest %d %v", i, got, rest, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"PING\r\nECHO hi\n",
		"*2\r\n$3\r\nGET\r\n$1\r\n",
		"*1\r\n$3\r\nabcd\r\n",
		"*-1\r\n*0\r\n",
		"*1\r\n$-1\r\n",
		"$3\r\nabc\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 512 {
			data = data[:512] // every split point is tried: keep it quadratic in little
		}
		want, wantRest, wantErr := parseAll(data)
		if wantErr != nil {
			var pe protoError
			if !errors.As(wantErr, &pe) {
				t.Fatalf("error %v is not a protocol error", wantErr)
			}
		}
		for i := range len(data) + 1 {
			got, rest, err := parseSplit(data, i)
			if q(got) != q(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("split at %d: %q %v; whole: %q %v", i, got, err, want, wantErr)
			}
			if err == nil && rest != wantRest {
				t.Fatalf("split at %d: %d bytes left, whole: %d", i, rest, wantRest)
			}
		}
		// What was parsed, written back as multibulk, parses the same.
		var b []byte
		for _, c := range want {
			b = appendArray(b, len(c))
			for _, a := range c {
				b = appendBulkString(b, a)
			}
		}
		again, rest, err := parseAll(b)
		if err != nil || rest != 0 || q(again) != q(want) {
			t.Fatalf("round trip: %q rest %d %v; want %q", again, rest, err, want)
		}
	})
}
