package tevent

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Go runs fn on the context's bounded pool of goroutines and returns a
// request, owned by o (a *Scope or a *Context), that finishes on the loop with fn's result: Done
// with the value when fn returns a nil error, Error with the error
// otherwise (Samba's pthreadpool_tevent). It is how blocking work (file
// I/O, DNS, CPU-heavy code) leaves the loop without blocking it.
//
// The pool has WithPoolSize goroutines at most (default
// runtime.GOMAXPROCS(0)); more jobs wait in a FIFO queue, and idle pool
// goroutines exit. The result reaches the loop through a ThreadProxy, so a
// pending Go request keeps LoopWait running.
//
// ctx is cancelled when the request finishes in any other way (Cancel,
// which finishes it with ErrCancelled; its end time; its own Error), when
// it is freed, and when the context is freed; a job cancelled before it
// started never runs. fn must return promptly once ctx is done: freeing the
// context waits for running jobs. fn must not touch the loop's state; it
// runs on another goroutine. A nil fn panics.
func Go[T any](o Owner, fn func(ctx context.Context) (T, error)) *Req[T] {
	if fn == nil {
		panic("tevent: Go called with a nil function")
	}
	r := NewReq[T](ownerScope(o, "Go"))
	if r.orphan {
		r.Error(ErrFreed)
		return r
	}
	p := r.ev.workPool()
	tp, err := p.acquire(r.ev)
	if err != nil {
		r.Error(err)
		return r.Post(r.ev)
	}
	ctx, cancel := context.WithCancel(p.ctx)
	j := &poolJob{pool: p, cancel: cancel}
	j.run = func() {
		v, pe, err := runJob(ctx, fn)
		// ErrProxyFreed: the request is gone, and its result with it.
		err2 := tp.Schedule(func(*Context) {
			if pe != nil {
				// fn panicked: the request finishes with the panic as its
				// error, then the panic goes on from the loop call that
				// delivered it, where the caller can recover it.
				if r.state == stInProgress && r.ext().job == j {
					r.Error(pe)
				}
				panic(pe)
			}
			if r.state != stInProgress || r.ext().job != j {
				return // cancelled, timed out or freed meanwhile
			}
			if err != nil {
				r.Error(err)
			} else {
				r.Done(v)
			}
		})
		if err2 != nil && pe != nil {
			// Nobody is left to deliver the panic to: say so, at least.
			tp.ctx.loop.debugf(levelError, "tevent: a Go function panicked after its request was freed", "panic", pe.Value, "stack", string(pe.Stack))
		}
	}
	r.extra().job = j
	r.cancelFn = cancelGo[T]
	p.submit(j)
	if pl := r.ev.loop.poller; pl != nil {
		// The job's goroutine may need this loop's P (GOMAXPROCS 1):
		// let it run before the loop's next wait keeps the P.
		pl.Yield()
	}
	return r
}

// PanicError is a recovered panic: its value, the stack where it happened
// and what panicked. A panic in a Go function is re-raised with one on the
// loop's goroutine, from the loop call that delivers the request (the
// request finishes with it as its error first); libraries built on a
// context that contain their handlers' panics (tserver) report them with
// one, naming the handler in Where.
type PanicError struct {
	Value any    // what was panicked with
	Stack []byte // the stack of the goroutine that panicked, at the panic
	// Where names what panicked, for Error: "a Go function" for a Go
	// function (also when empty), or the handler, such as "the tserver
	// handler's OnData".
	Where string
}

// Error says what panicked, with what, and the stack.
func (e *PanicError) Error() string {
	where := e.Where
	if where == "" {
		where = goFunction
	}
	return fmt.Sprintf("tevent: panic in %s: %v\n\n%s", where, e.Value, e.Stack)
}

// goFunction is PanicError.Where for a Go function's panic.
const goFunction = "a Go function"

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// runJob calls fn, turning a panic into a *PanicError.
func runJob[T any](ctx context.Context, fn func(context.Context) (T, error)) (v T, pe *PanicError, err error) {
	defer func() {
		if x := recover(); x != nil {
			pe = &PanicError{Value: x, Stack: debug.Stack(), Where: goFunction}
		}
	}()
	v, err = fn(ctx)
	return v, nil, err
}

// cancelGo is the default cancel function of a Go request.
func cancelGo[T any](r *Req[T]) bool {
	return r.Error(ErrCancelled)
}

// workPool is a context's pool of goroutines for Go, created on first
// use. Its loop-side fields are touched only by the goroutine driving the
// context; the job queue is shared with the pool goroutines under mu.
type workPool struct {
	// loop side
	proxy *ThreadProxy // delivers results; freed when no job is live
	live  int          // Go requests not yet finished, received or freed

	ctx       context.Context // parent of every job's context
	cancelAll context.CancelFunc
	size      int

	mu         sync.Mutex
	head, tail *poolJob // jobs waiting for a goroutine
	workers    int      // pool goroutines alive
	closed     bool
	wg         sync.WaitGroup
}

// poolJob is one Go call.
type poolJob struct {
	pool       *workPool
	cancel     context.CancelFunc
	run        func() // on a pool goroutine
	prev, next *poolJob
	queued     bool // waiting in pool's queue; guarded by pool.mu
}

// workPool returns the context's pool, creating it on first use.
func (ev *Context) workPool() *workPool {
	l := ev.loop
	if l.pool == nil {
		l.pool = &workPool{}
	}
	return l.pool
}

// acquire counts a new live job and returns the proxy its result goes
// through.
func (p *workPool) acquire(ev *Context) (*ThreadProxy, error) {
	if p.ctx == nil {
		p.size = ev.loop.poolSize
		if p.size <= 0 {
			p.size = runtime.GOMAXPROCS(0)
		}
		p.ctx, p.cancelAll = context.WithCancel(context.Background())
	}
	if p.proxy == nil {
		// The main context's: a wrapper freed later must not take the
		// delivery of every Go result with it.
		l := ev.loop
		if l.freed {
			return nil, ev.Scope.freedError("Go")
		}
		p.proxy = l.newProxy(l.main)
	}
	p.live++
	return p.proxy, nil
}

// submit queues j and starts a pool goroutine if the pool is not full.
func (p *workPool) submit(j *poolJob) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	j.queued = true
	j.prev = p.tail
	if p.tail != nil {
		p.tail.next = j
	} else {
		p.head = j
	}
	p.tail = j
	if p.workers < p.size {
		p.workers++
		p.wg.Add(1)
		go p.worker()
	}
}

// unqueue takes j out of the waiting queue; p.mu is held.
func (p *workPool) unqueue(j *poolJob) {
	if j.prev != nil {
		j.prev.next = j.next
	} else {
		p.head = j.next
	}
	if j.next != nil {
		j.next.prev = j.prev
	} else {
		p.tail = j.prev
	}
	j.prev, j.next = nil, nil
	j.queued = false
}

// worker runs queued jobs until there are none, then exits.
func (p *workPool) worker() {
	defer p.wg.Done()
	p.mu.Lock()
	for p.head != nil && !p.closed {
		j := p.head
		p.unqueue(j)
		p.mu.Unlock()
		j.run()
		p.mu.Lock()
	}
	p.workers--
	p.mu.Unlock()
}

// release is called on the loop when the job's request finishes, is
// received or is freed: it cancels the job's context, drops the job if it
// has not started, and frees the result proxy when no job is live, so
// that an idle pool does not keep LoopWait running.
func (j *poolJob) release() {
	j.cancel()
	p := j.pool
	p.mu.Lock()
	if j.queued {
		p.unqueue(j)
	}
	p.mu.Unlock()
	if p.live > 0 {
		p.live--
	}
	if p.live == 0 && p.proxy != nil {
		p.proxy.Free()
		p.proxy = nil
	}
}

// close is called by Context.Free: it drops the jobs that have not
// started, cancels the running ones, waits for the pool goroutines to
// exit.
func (p *workPool) close() {
	p.mu.Lock()
	p.closed = true
	for p.head != nil {
		p.unqueue(p.head)
	}
	p.mu.Unlock()
	if p.cancelAll != nil {
		p.cancelAll()
	}
	p.wg.Wait()
	if p.proxy != nil {
		p.proxy.Free()
		p.proxy = nil
	}
	p.live = 0
}
