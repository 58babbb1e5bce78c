package main

// RESP2, the Redis serialization protocol, as the server side needs it:
// a parser for requests (multibulk arrays of bulk strings, and inline
// commands as typed into telnet) that works in place on the read buffer,
// and append-style writers for replies.
//
// The parser keeps no state between calls: it is handed everything
// buffered so far and either returns one command (its arguments are
// sub-slices of the buffer, valid until the buffer is reused) and how many
// bytes it took, or reports that the command is not complete yet (n == 0),
// or returns a protocol error. Every limit is checked the same way whether
// the bytes have all arrived or not, so splitting a stream at any point
// gives the same commands and the same error as reading it whole
// (FuzzParse checks this).

import (
	"bytes"
	"strconv"
)

// Limits, as Redis has them.
const (
	maxInline    = 64 << 10  // longest inline command line
	maxHeader    = 32        // longest "*<n>\r\n" or "$<n>\r\n" line
	maxMultibulk = 1 << 20   // most arguments in one command
	maxBulk      = 512 << 20 // longest argument
)

// protoError is a malformed request. The server answers it with
// "-ERR Protocol error: ..." and closes the connection, as Redis does.
type protoError string

func (e protoError) Error() string { return "Protocol error: " + string(e) }

// parseCommand parses one command from the front of buf. It returns the
// arguments appended to args[:0] (sub-slices of buf), and the number of
// bytes used. n == 0 with a nil error means buf holds no complete command
// yet. A command with no arguments (an empty inline line, "*0\r\n") is
// returned with n > 0 and no arguments: skip it.
func parseCommand(buf []byte, args [][]byte) (out [][]byte, n int, err error) {
	args = args[:0]
	if len(buf) == 0 {
		return args, 0, nil
	}
	if buf[0] != '*' {
		return parseInline(buf, args)
	}
	count, pos, err := parseHeader(buf, '*')
	if pos == 0 || err != nil {
		return args, 0, err
	}
	if count > maxMultibulk {
		return args, 0, protoError("invalid multibulk length")
	}
	for i := int64(0); i < count; i++ {
		rest := buf[pos:]
		if len(rest) == 0 {
			return args, 0, nil
		}
		if rest[0] != '$' {
			return args, 0, protoError("expected '$', got '" + printable(rest[0]) + "'")
		}
		size, hl, err := parseHeader(rest, '$')
		if hl == 0 || err != nil {
			return args, 0, err
		}
		if size < 0 || size > maxBulk {
			return args, 0, protoError("invalid bulk length")
		}
		rest = rest[hl:]
		if int64(len(rest)) < size+2 {
			return args, 0, nil
		}
		if rest[size] != '\r' || rest[size+1] != '\n' {
			return args, 0, protoError("expected CRLF after bulk string")
		}
		args = append(args, rest[:size:size])
		pos += hl + int(size) + 2
	}
	return args, pos, nil
}

// parseHeader parses a "<kind><integer>\r\n" line at the front of buf and
// returns the integer and the line's length, 0 if it is not complete.
func parseHeader(buf []byte, kind byte) (v int64, n int, err error) {
	// A byte loop: the line is a few bytes, shorter than IndexByte's setup.
	for i, lim := 1, min(len(buf), maxHeader+1); i < lim; i++ {
		if buf[i] != '\n' {
			continue
		}
		if i < 2 || buf[i-1] != '\r' {
			return 0, 0, headerError(kind)
		}
		v, ok := parseInt(buf[1 : i-1])
		if !ok {
			return 0, 0, headerError(kind)
		}
		return v, i + 1, nil
	}
	if len(buf) > maxHeader {
		return 0, 0, headerError(kind)
	}
	return 0, 0, nil
}

func headerError(kind byte) error {
	if kind == '*' {
		return protoError("invalid multibulk length")
	}
	return protoError("invalid bulk length")
}

// parseInline splits one line at spaces and tabs. Redis also takes quoted
// arguments here; this server does not (every client library and
// redis-cli send multibulk requests, inline is for typing by hand).
func parseInline(buf []byte, args [][]byte) ([][]byte, int, error) {
	end := bytes.IndexByte(buf[:min(len(buf), maxInline+1)], '\n')
	if end < 0 {
		if len(buf) > maxInline {
			return args, 0, protoError("too big inline request")
		}
		return args, 0, nil
	}
	line := buf[:end]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	for len(line) > 0 {
		i := 0
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		line = line[i:]
		j := 0
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j > 0 {
			if len(args) == maxMultibulk {
				return args, 0, protoError("too many arguments")
			}
			args = append(args, line[:j:j])
		}
		line = line[j:]
	}
	return args, end + 1, nil
}

func printable(c byte) string {
	if c < ' ' || c > '~' {
		return "\\x" + strconv.FormatUint(uint64(c)|0x100, 16)[1:]
	}
	return string(rune(c))
}

// parseInt parses a decimal int64 as Redis's string2ll does: an optional
// '-', digits, no leading '+', no spaces, no leading zeros but "0" itself,
// within range.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] == '0' && (len(b) > 1 || neg) {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (1<<64-1-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// Reply writers: each appends one RESP2 value to b.

func appendSimple(b []byte, s string) []byte {
	b = append(b, '+')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// appendError appends an error reply; msg starts with its code ("ERR ...").
func appendError(b []byte, msg string) []byte {
	b = append(b, '-')
	b = append(b, msg...)
	return append(b, '\r', '\n')
}

func appendInt(b []byte, v int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, v, 10)
	return append(b, '\r', '\n')
}

func appendBulk(b, v []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

func appendBulkString(b []byte, v string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// appendNull appends the null bulk string ($-1), a missing value.
func appendNull(b []byte) []byte { return append(b, "$-1\r\n"...) }

func appendArray(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// Common replies.
var (
	replyOK   = []byte("+OK\r\n")
	replyPong = []byte("+PONG\r\n")
)
