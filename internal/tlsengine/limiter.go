package tlsengine

import (
	"fmt"
	"sync"
)

// Defaults of the process-wide Limiter that engines with a nil
// Config.Limiter share.
const (
	// DefaultMaxHandshakes is how many handshakes run at once: each has a
	// goroutine, parked between the peer's flights.
	DefaultMaxHandshakes = 1024
	// DefaultMaxQueuedHandshakes is how many more wait, without a
	// goroutine, for one of those to finish.
	DefaultMaxQueuedHandshakes = 8192
)

// defaultLimiter is shared by engines whose Config.Limiter is nil: a
// goroutine is a process-wide resource.
var defaultLimiter = NewLimiter(DefaultMaxHandshakes, DefaultMaxQueuedHandshakes)

// Limiter bounds the handshakes in flight across the engines that share
// it. A handshake runs on a goroutine of its own (crypto/tls's handshake
// blocks); at most maxRunning such goroutines exist at once. A handshake
// that would exceed that waits in a FIFO queue, holding no goroutine,
// until a running one ends; the goroutine that ends a handshake goes on
// with the first queued one. Time spent queued counts toward the
// engine's handshake timeout. When maxQueued handshakes already wait,
// starting one more fails at once with an error wrapping
// ErrHandshakeLimit: the caller is expected to drop that connection.
//
// A server engine takes its place in the limiter only when the peer's
// first bytes arrive, so connections that never speak hold no goroutine
// (they end at the handshake timeout). A Limiter is safe for concurrent
// use.
type Limiter struct {
	mu         sync.Mutex
	maxRunning int
	maxQueued  int
	running    int
	queued     int
	head, tail *Engine
}

// NewLimiter returns a limiter allowing maxRunning handshakes at once
// (at least 1) and maxQueued more waiting (0: none wait, an excess
// handshake fails at once). Out-of-range values panic: they are
// programming errors.
func NewLimiter(maxRunning, maxQueued int) *Limiter {
	if maxRunning < 1 || maxQueued < 0 {
		panic(fmt.Sprintf("tlsengine: NewLimiter(%d, %d): want maxRunning >= 1 and maxQueued >= 0", maxRunning, maxQueued))
	}
	return &Limiter{maxRunning: maxRunning, maxQueued: maxQueued}
}

// InFlight reports how many handshakes are running (each on a
// goroutine) and how many are queued.
func (l *Limiter) InFlight() (running, queued int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, l.queued
}

// start runs e's handshake on a goroutine, or queues it. It reports
// false when the limiter is full.
func (l *Limiter) start(e *Engine) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running < l.maxRunning {
		l.running++
		go l.run(e)
		return true
	}
	if l.queued >= l.maxQueued {
		return false
	}
	l.queued++
	e.inQueue = true
	e.qnext = nil
	e.qprev = l.tail
	if l.tail != nil {
		l.tail.qnext = e
	} else {
		l.head = e
	}
	l.tail = e
	return true
}

// run is a handshake goroutine: it runs e's handshake, then the queued
// ones, and exits when the queue is empty.
func (l *Limiter) run(e *Engine) {
	for e != nil {
		e.runHandshake()
		l.mu.Lock()
		e = l.head
		if e != nil {
			l.unlinkLocked(e)
		} else {
			l.running--
		}
		l.mu.Unlock()
	}
}

// remove takes e out of the queue; it reports whether e was queued.
func (l *Limiter) remove(e *Engine) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !e.inQueue {
		return false
	}
	l.unlinkLocked(e)
	return true
}

func (l *Limiter) unlinkLocked(e *Engine) {
	if e.qprev != nil {
		e.qprev.qnext = e.qnext
	} else {
		l.head = e.qnext
	}
	if e.qnext != nil {
		e.qnext.qprev = e.qprev
	} else {
		l.tail = e.qprev
	}
	e.qprev, e.qnext = nil, nil
	e.inQueue = false
	l.queued--
}
