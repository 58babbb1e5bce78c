package main

// The command table: what each command takes, where its keys are (for
// sharding), and how it runs on one shard.

import "time"

// fanKind says how a command whose keys live on several shards is split
// and its parts' results combined.
type fanKind uint8

const (
	fanNone  fanKind = iota // one key, or none: runs whole on one shard
	fanSum                  // DEL, EXISTS: sum the parts' counts
	fanMGet                 // MGET: values in key order
	fanMSet                 // MSET: +OK once every part is done
	fanAllN                 // DBSIZE: sum over every shard
	fanAllOK                // FLUSHALL: +OK once every shard is done
)

// command describes one command. Keys are args[first], args[first+step],
// ... up to args[last] (last < 0 counts from the end), as in Redis's
// command table; first == 0 means no keys.
type command struct {
	name  string // lower case
	arity int    // exact argument count with the name, or at least -arity
	first int
	last  int
	step  int
	fan   fanKind
	run   func(x *execCtx, args [][]byte, out []byte) []byte
}

// execCtx is what a command runs with: the shard that owns its keys and the
// shard's clock (nanoseconds since base).
type execCtx struct {
	s   *shard
	now int64
}

// base is the zero of every shard's clock.
var base = time.Now()

var (
	commands    map[string]*command
	cmdGetEntry *command
	cmdSetEntry *command
)

func init() {
	list := []*command{
		{name: "ping", arity: -1, run: cmdPing},
		{name: "echo", arity: 2, run: cmdEcho},
		{name: "quit", arity: -1, run: cmdOK},
		{name: "select", arity: 2, run: cmdSelect},
		{name: "command", arity: -1, run: cmdCommand},
		{name: "config", arity: -2, run: cmdConfig},
		{name: "client", arity: -2, run: cmdClient},
		{name: "info", arity: -1, run: cmdInfo},
		{name: "get", arity: 2, first: 1, last: 1, step: 1, run: cmdGet},
		{name: "set", arity: -3, first: 1, last: 1, step: 1, run: cmdSet},
		{name: "del", arity: -2, first: 1, last: -1, step: 1, fan: fanSum, run: cmdDel},
		{name: "unlink", arity: -2, first: 1, last: -1, step: 1, fan: fanSum, run: cmdDel},
		{name: "exists", arity: -2, first: 1, last: -1, step: 1, fan: fanSum, run: cmdExists},
		{name: "incr", arity: 2, first: 1, last: 1, step: 1, run: cmdIncr},
		{name: "decr", arity: 2, first: 1, last: 1, step: 1, run: cmdDecr},
		{name: "incrby", arity: 3, first: 1, last: 1, step: 1, run: cmdIncrBy},
		{name: "decrby", arity: 3, first: 1, last: 1, step: 1, run: cmdDecrBy},
		{name: "mget", arity: -2, first: 1, last: -1, step: 1, fan: fanMGet, run: cmdMGet},
		{name: "mset", arity: -3, first: 1, last: -1, step: 2, fan: fanMSet, run: cmdMSet},
		{name: "expire", arity: -3, first: 1, last: 1, step: 1, run: cmdExpire},
		{name: "pexpire", arity: -3, first: 1, last: 1, step: 1, run: cmdPExpire},
		{name: "ttl", arity: 2, first: 1, last: 1, step: 1, run: cmdTTL},
		{name: "pttl", arity: 2, first: 1, last: 1, step: 1, run: cmdPTTL},
		{name: "dbsize", arity: 1, fan: fanAllN, run: cmdDBSize},
		{name: "flushall", arity: -1, fan: fanAllOK, run: cmdFlush},
		{name: "flushdb", arity: -1, fan: fanAllOK, run: cmdFlush},
	}
	commands = make(map[string]*command, len(list))
	for _, c := range list {
		commands[c.name] = c
	}
	cmdGetEntry, cmdSetEntry = commands["get"], commands["set"]
}

// lookupCommand finds a command by name, in any case, without allocating.
func lookupCommand(name []byte) *command {
	if len(name) == 3 && name[1]|0x20 == 'e' && name[2]|0x20 == 't' {
		switch name[0] | 0x20 { // the hot two, before hashing
		case 'g':
			return cmdGetEntry
		case 's':
			return cmdSetEntry
		}
	}
	var lower [16]byte
	if len(name) > len(lower) {
		return nil
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return commands[string(lower[:len(name)])]
}

// checkArity reports whether args (the name included) suit c.
func (c *command) checkArity(args [][]byte) bool {
	n := len(args)
	if c.arity >= 0 && n != c.arity || c.arity < 0 && n < -c.arity {
		return false
	}
	return c.fan != fanMSet || (n-1)%2 == 0
}

// keyRange returns the positions of c's keys in args: first, last
// (inclusive) and step; first == 0 when it has none.
func (c *command) keyRange(args [][]byte) (first, last, step int) {
	if c.first == 0 {
		return 0, 0, 1
	}
	last = c.last
	if last < 0 {
		last += len(args)
	}
	return c.first, last, c.step
}

func appendArityError(out []byte, name string) []byte {
	return appendError(out, "ERR wrong number of arguments for '"+name+"' command")
}

func appendUnknown(out []byte, args [][]byte) []byte {
	msg := "ERR unknown command '" + clip(args[0]) + "', with args beginning with: "
	for _, a := range args[1:min(len(args), 4)] {
		msg += "'" + clip(a) + "' "
	}
	return appendError(out, msg)
}

// clip makes b fit in an error line: at most 128 bytes, no CR or LF.
func clip(b []byte) string {
	if len(b) > 128 {
		b = b[:128]
	}
	r := []byte(string(b))
	for i, c := range r {
		if c == '\r' || c == '\n' {
			r[i] = ' '
		}
	}
	return string(r)
}

// equalFold reports whether b is s (lower case ASCII) in any case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

const errSyntax = "ERR syntax error"

func cmdPing(x *execCtx, args [][]byte, out []byte) []byte {
	switch len(args) {
	case 1:
		return append(out, replyPong...)
	case 2:
		return appendBulk(out, args[1])
	}
	return appendArityError(out, "ping")
}

func cmdEcho(x *execCtx, args [][]byte, out []byte) []byte { return appendBulk(out, args[1]) }

func cmdOK(x *execCtx, args [][]byte, out []byte) []byte { return append(out, replyOK...) }

func cmdSelect(x *execCtx, args [][]byte, out []byte) []byte {
	if v, ok := parseInt(args[1]); !ok {
		return appendError(out, errNotInt)
	} else if v != 0 {
		return appendError(out, "ERR DB index is out of range")
	}
	return append(out, replyOK...)
}

// cmdCommand answers COMMAND, COMMAND DOCS and COMMAND COUNT minimally:
// enough for redis-cli's start-up, which asks for the docs to show hints.
func cmdCommand(x *execCtx, args [][]byte, out []byte) []byte {
	if len(args) >= 2 && equalFold(args[1], "count") {
		return appendInt(out, int64(len(commands)))
	}
	return appendArray(out, 0)
}

// cmdConfig answers CONFIG GET with no parameters (redis-benchmark asks
// for "save" and "appendonly") and refuses CONFIG SET.
func cmdConfig(x *execCtx, args [][]byte, out []byte) []byte {
	if equalFold(args[1], "get") {
		return appendArray(out, 0)
	}
	if equalFold(args[1], "resetstat") {
		return append(out, replyOK...)
	}
	return appendError(out, "ERR CONFIG subcommand not supported")
}

// cmdClient accepts the CLIENT calls client libraries make at connect time.
func cmdClient(x *execCtx, args [][]byte, out []byte) []byte {
	switch {
	case equalFold(args[1], "setname"), equalFold(args[1], "setinfo"):
		return append(out, replyOK...)
	case equalFold(args[1], "id"):
		return appendInt(out, 1)
	case equalFold(args[1], "getname"):
		return appendNull(out)
	}
	return appendError(out, "ERR CLIENT subcommand not supported")
}

func cmdInfo(x *execCtx, args [][]byte, out []byte) []byte {
	return appendBulkString(out, "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n")
}

func cmdGet(x *execCtx, args [][]byte, out []byte) []byte {
	if v, ok := x.s.get(args[1], x.now); ok {
		return appendBulk(out, v)
	}
	return appendNull(out)
}

// cmdSet is SET key value [NX|XX] [EX seconds|PX milliseconds|KEEPTTL] [GET].
func cmdSet(x *execCtx, args [][]byte, out []byte) []byte {
	var (
		flags  int
		exp    int64
		hasExp bool
		get    bool
	)
	for i := 3; i < len(args); i++ {
		a := args[i]
		switch {
		case equalFold(a, "nx") && flags&setXX == 0:
			flags |= setNX
		case equalFold(a, "xx") && flags&setNX == 0:
			flags |= setXX
		case equalFold(a, "get"):
			get = true
		case equalFold(a, "keepttl") && !hasExp:
			flags |= setKeepTTL
		case (equalFold(a, "ex") || equalFold(a, "px")) && !hasExp && flags&setKeepTTL == 0 && i+1 < len(args):
			unit := int64(time.Second)
			if a[0]|0x20 == 'p' {
				unit = int64(time.Millisecond)
			}
			i++
			v, ok := parseInt(args[i])
			if !ok {
				return appendError(out, errNotInt)
			}
			if v <= 0 || v > (1<<63-1-x.now)/unit {
				return appendError(out, "ERR invalid expire time in 'set' command")
			}
			exp, hasExp = x.now+v*unit, true
		default:
			return appendError(out, errSyntax)
		}
	}
	if get {
		old, ok := x.s.get(args[1], x.now)
		if ok {
			out = appendBulk(out, old) // before set overwrites old's array
		} else {
			out = appendNull(out)
		}
		x.s.set(args[1], args[2], exp, flags, x.now)
		return out
	}
	if !x.s.set(args[1], args[2], exp, flags, x.now) {
		return appendNull(out)
	}
	return append(out, replyOK...)
}

func cmdDel(x *execCtx, args [][]byte, out []byte) []byte {
	return appendInt(out, delKeys(x, args[1:]))
}

func delKeys(x *execCtx, keys [][]byte) int64 {
	n := int64(0)
	for _, k := range keys {
		if x.s.del(k, x.now) {
			n++
		}
	}
	return n
}

func cmdExists(x *execCtx, args [][]byte, out []byte) []byte {
	return appendInt(out, existsKeys(x, args[1:]))
}

func existsKeys(x *execCtx, keys [][]byte) int64 {
	n := int64(0)
	for _, k := range keys {
		if x.s.exists(k, x.now) {
			n++
		}
	}
	return n
}

func incrBy(x *execCtx, key []byte, by int64, out []byte) []byte {
	v, err := x.s.incr(key, by, x.now)
	if err != "" {
		return appendError(out, err)
	}
	return appendInt(out, v)
}

func cmdIncr(x *execCtx, args [][]byte, out []byte) []byte { return incrBy(x, args[1], 1, out) }
func cmdDecr(x *execCtx, args [][]byte, out []byte) []byte { return incrBy(x, args[1], -1, out) }

func cmdIncrBy(x *execCtx, args [][]byte, out []byte) []byte {
	by, ok := parseInt(args[2])
	if !ok {
		return appendError(out, errNotInt)
	}
	return incrBy(x, args[1], by, out)
}

func cmdDecrBy(x *execCtx, args [][]byte, out []byte) []byte {
	by, ok := parseInt(args[2])
	if !ok || by == -1<<63 {
		return appendError(out, errNotInt)
	}
	return incrBy(x, args[1], -by, out)
}

func cmdMGet(x *execCtx, args [][]byte, out []byte) []byte {
	out = appendArray(out, len(args)-1)
	for _, k := range args[1:] {
		if v, ok := x.s.get(k, x.now); ok {
			out = appendBulk(out, v)
		} else {
			out = appendNull(out)
		}
	}
	return out
}

func cmdMSet(x *execCtx, args [][]byte, out []byte) []byte {
	msetPairs(x, args[1:])
	return append(out, replyOK...)
}

func msetPairs(x *execCtx, pairs [][]byte) {
	for i := 0; i+1 < len(pairs); i += 2 {
		x.s.set(pairs[i], pairs[i+1], 0, 0, x.now)
	}
}

// cmdExpire is EXPIRE key seconds [NX|XX|GT|LT].
func cmdExpire(x *execCtx, args [][]byte, out []byte) []byte {
	return expireUnit(x, args, int64(time.Second), "expire", out)
}

// cmdPExpire is PEXPIRE key milliseconds [NX|XX|GT|LT].
func cmdPExpire(x *execCtx, args [][]byte, out []byte) []byte {
	return expireUnit(x, args, int64(time.Millisecond), "pexpire", out)
}

func expireUnit(x *execCtx, args [][]byte, unit int64, name string, out []byte) []byte {
	v, ok := parseInt(args[2])
	if !ok {
		return appendError(out, errNotInt)
	}
	var nx, xx, gt, lt bool
	for _, a := range args[3:] {
		switch {
		case equalFold(a, "nx"):
			nx = true
		case equalFold(a, "xx"):
			xx = true
		case equalFold(a, "gt"):
			gt = true
		case equalFold(a, "lt"):
			lt = true
		default:
			return appendError(out, "ERR Unsupported option "+clip(a))
		}
	}
	if nx && (xx || gt || lt) || gt && lt {
		return appendError(out, "ERR NX and XX, GT or LT options at the same time are not compatible")
	}
	if v > (1<<63-1-x.now)/unit || v < -(x.now/unit)-1 {
		return appendError(out, "ERR invalid expire time in '"+name+"' command")
	}
	exp := x.now + v*unit
	e := x.s.lookup(args[1], x.now)
	if e == nil {
		return appendInt(out, 0)
	}
	switch {
	case nx && e.exp != 0, xx && e.exp == 0,
		gt && (e.exp == 0 || exp <= e.exp),
		lt && e.exp != 0 && exp >= e.exp:
		return appendInt(out, 0)
	}
	x.s.expire(args[1], exp, x.now)
	return appendInt(out, 1)
}

func cmdTTL(x *execCtx, args [][]byte, out []byte) []byte {
	t := x.s.pttl(args[1], x.now)
	if t < 0 {
		return appendInt(out, t)
	}
	return appendInt(out, (t+int64(time.Second)/2)/int64(time.Second))
}

func cmdPTTL(x *execCtx, args [][]byte, out []byte) []byte {
	t := x.s.pttl(args[1], x.now)
	if t < 0 {
		return appendInt(out, t)
	}
	return appendInt(out, (t+int64(time.Millisecond)/2)/int64(time.Millisecond))
}

func cmdDBSize(x *execCtx, args [][]byte, out []byte) []byte {
	return appendInt(out, int64(x.s.size()))
}

func cmdFlush(x *execCtx, args [][]byte, out []byte) []byte {
	x.s.flush()
	return append(out, replyOK...)
}
