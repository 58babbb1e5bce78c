package main

// The glue between the key-value store and the tserver fast path.
//
// Each loop of the server owns one shard of the key space: a key lives on
// shard hash(key) % loops. A connection is served by the loop that accepted
// it. A command whose keys all live on that loop's shard runs at once, in
// the data callback, its reply appended to the loop's reply buffer, which
// is handed to Conn.Write once per callback: a pipeline of GETs and SETs is
// one read, one write and no allocation.
//
// A command on another shard's key is copied and forwarded to that shard's
// loop (Loop.Schedule, a thread proxy); commands bound for the same loop in
// one callback travel together, and their results come back together
// through the connection's handle (ConnHandle.Do), which drops them if the
// connection has closed meanwhile. Multi-key commands (MGET, MSET, DEL,
// EXISTS) whose keys span shards are split into one part per shard and the
// parts' results combined; DBSIZE and FLUSHALL go to every shard. Replies
// stay in request order: once a connection has a reply outstanding, later
// replies wait in its queue of slots behind it.

import (
	"hash/maphash"
	"net"
	"sync/atomic"
	"time"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/tserver"
)

// sweepEvery is the period of the active expiry sweep (Redis: hz 10).
const sweepEvery = 100 * time.Millisecond

// Buffer limits per connection: room for large values and deep pipelines
// (tserver's defaults are 4 MiB).
const (
	maxInbound = 64 << 20
	maxOutput  = 64 << 20
)

// kvServer is the whole server: the tserver server and one loopState per
// loop.
type kvServer struct {
	srv      *tserver.Server
	loops    []*loopState
	seed     maphash.Seed
	stopping atomic.Bool
}

// loopState is what a loop owns: its shard, its scratch buffers and its
// sweep timer. Only that loop's goroutine touches it.
type loopState struct {
	kv    *kvServer
	loop  *tserver.Loop
	shard *shard
	x     execCtx
	args  [][]byte // parser scratch
	out   []byte   // reply scratch
	sweep *tevent.Timer
}

// config is what newKV needs.
type config struct {
	loops   int
	backend string
}

// handler is the tserver.Handler.
type handler struct{ kv *kvServer }

func newKV(cfg config) (*kvServer, error) {
	kv := &kvServer{seed: maphash.MakeSeed()}
	srv, err := tserver.New(handler{kv}, &tserver.Config{
		Loops:          max(cfg.loops, 1),
		Backend:        cfg.backend,
		MaxInbound:     maxInbound,
		MaxWriteBuffer: maxOutput,
	})
	if err != nil {
		return nil, err
	}
	kv.srv = srv
	for i, l := range srv.Loops() {
		kv.loops = append(kv.loops, &loopState{
			kv:    kv,
			loop:  l,
			shard: newShard(uint64(i) + 1),
			args:  make([][]byte, 0, 16),
			out:   make([]byte, 0, 16<<10),
		})
	}
	return kv, nil
}

func (kv *kvServer) listen(addr string) (net.Addr, error) { return kv.srv.Listen("tcp", addr) }

// start starts the loops and, on each, its expiry sweep.
func (kv *kvServer) start() error {
	for _, ls := range kv.loops {
		if err := ls.loop.Schedule(func(*tserver.Loop) { ls.startSweep() }); err != nil {
			return err
		}
	}
	return kv.srv.Start()
}

// shutdown stops the sweeps and shuts the server down gracefully: replies
// being written are flushed, connections still open at deadline are cut.
func (kv *kvServer) shutdown(deadline time.Time) {
	kv.stopping.Store(true)
	for _, ls := range kv.loops {
		_ = ls.loop.Schedule(func(*tserver.Loop) { ls.stopSweep() })
	}
	kv.srv.Shutdown(deadline)
}

func (kv *kvServer) wait() error { return kv.srv.Wait() }

func (ls *loopState) now() int64 { return int64(ls.loop.Context().Now().Sub(base)) }

func (ls *loopState) startSweep() {
	if ls.kv.stopping.Load() || ls.sweep != nil {
		return
	}
	ev := ls.loop.Context()
	ls.sweep = ev.AddTimer(ev.Now().Add(sweepEvery), func(ev *tevent.Context, te *tevent.Timer, now time.Time) {
		if ls.kv.stopping.Load() {
			ls.sweep = nil
			return
		}
		ls.shard.sweep(int64(now.Sub(base)), func() int64 { return int64(time.Since(base)) })
		te.Update(now.Add(sweepEvery))
	})
}

func (ls *loopState) stopSweep() {
	if ls.sweep != nil {
		ls.sweep.Free()
		ls.sweep = nil
	}
}

// shardOf returns the index of the shard that owns key.
func (kv *kvServer) shardOf(key []byte) int {
	if len(kv.loops) == 1 {
		return 0
	}
	return int(maphash.Bytes(kv.seed, key) % uint64(len(kv.loops)))
}

// client is a connection's state beyond what the loop holds. It exists
// only once the connection has needed it (a command forwarded to another
// shard, or QUIT), so a connection on a one-loop server costs nothing
// here.
type client struct {
	pending []*slot  // replies not written yet, in request order
	batches []*batch // commands for other loops, gathered in one OnData
	closing bool     // QUIT or a protocol error: close once pending drains
}

// slot is one reply in a connection's queue: done once waiting is 0.
type slot struct {
	buf     []byte
	waiting int
	fan     fanKind
	n       int64    // fanSum, fanAllN
	vals    [][]byte // fanMGet, by key position
	isNil   []bool   // fanMGet: the key had no value
	partial bool     // buf holds local replies and may take more
	failed  bool     // a part could not run: the reply is errShardGone
}

// op is a command (or a part of one) run on another loop's shard.
type op struct {
	slot *slot
	cmd  *command
	args [][]byte // copies
	idx  []int    // fanMGet: the positions of args[1:] in the whole MGET
	// results
	reply  []byte
	n      int64
	vals   [][]byte
	isNil  []bool
	failed bool // its loop had stopped
}

// batch is the ops one OnData sends to one other loop.
type batch struct {
	target int
	ops    []*op
}

func (h handler) OnOpen(c *tserver.Conn) {}

func (h handler) OnClose(c *tserver.Conn, err error) { c.SetContext(nil) }

// OnData parses and runs every complete command in in.
func (h handler) OnData(c *tserver.Conn, in []byte) int {
	kv := h.kv
	ls := kv.loops[c.Loop().Index()]
	cl, _ := c.Context().(*client)
	if cl != nil && cl.closing {
		return len(in) // after QUIT or a protocol error, input is dropped
	}
	ls.x = execCtx{s: ls.shard, now: ls.now()}
	out := ls.out[:0]
	pos := 0
	for pos < len(in) {
		args, n, err := parseCommand(in[pos:], ls.args)
		ls.args = args
		if err != nil {
			mark := len(out)
			out = appendError(out, "ERR "+err.Error())
			ls.getClient(c, &cl).closing = true
			out = ls.settle(cl, out, mark)
			pos = len(in)
			break
		}
		if n == 0 {
			break
		}
		pos += n
		if len(args) == 0 {
			continue
		}
		out = ls.dispatch(c, &cl, args, out)
		if cl != nil && cl.closing {
			pos = len(in)
			break
		}
	}
	if len(out) > 0 {
		c.Write(out)
	}
	ls.out = out[:0]
	if cl != nil {
		ls.sendBatches(c, cl)
		if cl.closing && len(cl.pending) == 0 {
			c.Close()
		}
	}
	return pos
}

// settle moves the reply at out[mark:] into the queue if replies are
// outstanding, so it is written after them.
func (ls *loopState) settle(cl *client, out []byte, mark int) []byte {
	if cl == nil || len(cl.pending) == 0 || len(out) == mark {
		return out
	}
	tail := cl.pending[len(cl.pending)-1]
	if tail.partial {
		tail.buf = append(tail.buf, out[mark:]...)
	} else {
		cl.pending = append(cl.pending, &slot{buf: append([]byte(nil), out[mark:]...), partial: true})
	}
	return out[:mark]
}

func (ls *loopState) getClient(c *tserver.Conn, cl **client) *client {
	if *cl == nil {
		*cl = &client{}
		c.SetContext(*cl)
	}
	return *cl
}

// dispatch runs or forwards one command and returns out with whatever
// reply is ready now.
func (ls *loopState) dispatch(c *tserver.Conn, clp **client, args [][]byte, out []byte) []byte {
	mark := len(out)
	cmd := lookupCommand(args[0])
	switch {
	case cmd == nil:
		return ls.settle(*clp, appendUnknown(out, args), mark)
	case !cmd.checkArity(args):
		return ls.settle(*clp, appendArityError(out, cmd.name), mark)
	case cmd.name == "quit":
		cl := ls.getClient(c, clp)
		cl.closing = true
		return ls.settle(cl, append(out, replyOK...), mark)
	}
	nloops := len(ls.kv.loops)
	if nloops == 1 || (cmd.first == 0 && cmd.fan < fanAllN) {
		return ls.settle(*clp, cmd.run(&ls.x, args, out), mark)
	}
	me := ls.loop.Index()
	if cmd.fan >= fanAllN {
		cl := ls.getClient(c, clp)
		s := &slot{fan: cmd.fan, waiting: nloops}
		cl.pending = append(cl.pending, s)
		for t := range nloops {
			o := &op{slot: s, cmd: cmd, args: copyArgs(args)}
			if t == me {
				runOp(&ls.x, o)
				mergeOp(o)
			} else {
				cl.batch(t).ops = append(cl.batch(t).ops, o)
			}
		}
		return out
	}
	first, last, step := cmd.keyRange(args)
	home := ls.kv.shardOf(args[first])
	split := false
	for i := first + step; i <= last; i += step {
		if ls.kv.shardOf(args[i]) != home {
			split = true
			break
		}
	}
	if !split && home == me {
		return ls.settle(*clp, cmd.run(&ls.x, args, out), mark)
	}
	cl := ls.getClient(c, clp)
	if !split {
		s := &slot{waiting: 1}
		cl.pending = append(cl.pending, s)
		b := cl.batch(home)
		b.ops = append(b.ops, &op{slot: s, cmd: cmd, args: copyArgs(args)})
		return out
	}
	// Keys on several shards: one part per shard, in key order within it.
	nkeys := (last-first)/step + 1
	s := &slot{fan: cmd.fan}
	if cmd.fan == fanMGet {
		s.vals = make([][]byte, nkeys)
		s.isNil = make([]bool, nkeys)
	}
	cl.pending = append(cl.pending, s)
	parts := make([]*op, nloops)
	for i, ki := first, 0; i <= last; i, ki = i+step, ki+1 {
		t := ls.kv.shardOf(args[i])
		o := parts[t]
		if o == nil {
			o = &op{slot: s, cmd: cmd, args: [][]byte{args[0]}}
			parts[t] = o
			s.waiting++
		}
		o.args = append(o.args, args[i:i+step]...)
		o.idx = append(o.idx, ki)
	}
	for t, o := range parts {
		if o == nil {
			continue
		}
		o.args = copyArgs(o.args)
		if t == me {
			runOp(&ls.x, o)
			mergeOp(o)
		} else {
			cl.batch(t).ops = append(cl.batch(t).ops, o)
		}
	}
	return out
}

func (cl *client) batch(t int) *batch {
	for len(cl.batches) <= t {
		cl.batches = append(cl.batches, nil)
	}
	if cl.batches[t] == nil {
		cl.batches[t] = &batch{target: t}
	}
	return cl.batches[t]
}

// copyArgs copies args into one new array, for a command that outlives
// the read buffer.
func copyArgs(args [][]byte) [][]byte {
	size := 0
	for _, a := range args {
		size += len(a)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, len(args))
	for i, a := range args {
		start := len(buf)
		buf = append(buf, a...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// runOp runs o on x's shard and keeps its results in o.
func runOp(x *execCtx, o *op) {
	switch o.slot.fan {
	case fanNone:
		o.reply = o.cmd.run(x, o.args, nil)
	case fanSum:
		if o.cmd.name == "exists" {
			o.n = existsKeys(x, o.args[1:])
		} else {
			o.n = delKeys(x, o.args[1:])
		}
	case fanMGet:
		o.vals = make([][]byte, len(o.args)-1)
		o.isNil = make([]bool, len(o.args)-1)
		for i, k := range o.args[1:] {
			if v, ok := x.s.get(k, x.now); ok {
				o.vals[i] = append([]byte(nil), v...)
			} else {
				o.isNil[i] = true
			}
		}
	case fanMSet:
		msetPairs(x, o.args[1:])
	case fanAllN:
		o.n = int64(x.s.size())
	case fanAllOK:
		x.s.flush()
	}
}

// mergeOp adds o's results to its slot and completes the slot's reply when
// o was its last part.
func mergeOp(o *op) {
	s := o.slot
	switch {
	case o.failed:
		s.failed = true
	case s.fan == fanNone:
		s.buf = o.reply
	case s.fan == fanSum, s.fan == fanAllN:
		s.n += o.n
	case s.fan == fanMGet:
		for j, i := range o.idx {
			s.vals[i], s.isNil[i] = o.vals[j], o.isNil[j]
		}
	}
	if s.waiting--; s.waiting > 0 {
		return
	}
	if s.failed {
		s.buf, s.vals, s.isNil = appendError(nil, errShardGone), nil, nil
		return
	}
	switch s.fan {
	case fanSum, fanAllN:
		s.buf = appendInt(nil, s.n)
	case fanMGet:
		s.buf = appendArray(nil, len(s.vals))
		for i, v := range s.vals {
			if s.isNil[i] {
				s.buf = appendNull(s.buf)
			} else {
				s.buf = appendBulk(s.buf, v)
			}
		}
		s.vals, s.isNil = nil, nil
	case fanMSet, fanAllOK:
		s.buf = append([]byte(nil), replyOK...)
	}
}

// errShardGone is the reply of a command whose shard's loop has stopped.
const errShardGone = "ERR server shutting down"

// sendBatches sends the ops gathered in this OnData to their loops; their
// results come back through the connection's handle.
func (ls *loopState) sendBatches(c *tserver.Conn, cl *client) {
	h := c.Handle()
	for t, b := range cl.batches {
		if b == nil {
			continue
		}
		cl.batches[t] = nil
		target := ls.kv.loops[t]
		err := target.loop.Schedule(func(*tserver.Loop) {
			target.x = execCtx{s: target.shard, now: target.now()}
			for _, o := range b.ops {
				runOp(&target.x, o)
			}
			// An error means the connection closed: nobody waits for these.
			_ = h.Do(func(c *tserver.Conn) { ls.deliver(c, b) })
		})
		if err != nil {
			for _, o := range b.ops {
				o.failed = true
			}
			ls.deliver(c, b)
		}
	}
}

// deliver merges a batch's results on the connection's loop and writes
// the replies that are ready, in order.
func (ls *loopState) deliver(c *tserver.Conn, b *batch) {
	cl, _ := c.Context().(*client)
	if cl == nil {
		return
	}
	for _, o := range b.ops {
		mergeOp(o)
	}
	out := ls.out[:0]
	i := 0
	for ; i < len(cl.pending) && cl.pending[i].waiting == 0; i++ {
		out = append(out, cl.pending[i].buf...)
		cl.pending[i] = nil
	}
	n := copy(cl.pending, cl.pending[i:])
	clear(cl.pending[n:])
	cl.pending = cl.pending[:n]
	if len(out) > 0 {
		c.Write(out) // a failure closes the connection
	}
	ls.out = out[:0]
	if cl.closing && len(cl.pending) == 0 {
		c.Close()
	}
}
