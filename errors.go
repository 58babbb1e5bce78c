package tevent

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these, so
// match them with errors.Is.
var (
	// ErrFreed is returned by any operation on a context, scope, request
	// or handle that has been freed; the wrapping error says which.
	ErrFreed = errors.New("tevent: freed")
	// ErrNesting is returned when a loop function is called from inside one
	// of the context's own handlers without AllowNesting, or while another
	// goroutine is driving the same context.
	ErrNesting = errors.New("tevent: nested loop call")
	// ErrUnknownBackend is returned for a backend name that Backends does
	// not list.
	ErrUnknownBackend = errors.New("tevent: unknown backend")
	// ErrBadFD is returned by AddFD for a negative or closed file
	// descriptor.
	ErrBadFD = errors.New("tevent: bad file descriptor")
	// ErrSignal is returned by AddSignal for a signal that cannot be
	// caught.
	ErrSignal = errors.New("tevent: unsupported signal")
	// ErrProxyFreed is returned by ThreadProxy.Schedule after the proxy or
	// its context was freed.
	ErrProxyFreed = errors.New("tevent: thread proxy freed")
	// ErrTimeout is the error of a request whose end time passed.
	ErrTimeout = errors.New("tevent: request timed out")
	// ErrCancelled is the error of a request that was cancelled.
	ErrCancelled = errors.New("tevent: request cancelled")
	// ErrConcurrentUse is returned when a loop function is called from a
	// second goroutine while another goroutine is driving the context
	// (wrapped together with ErrNesting when the loop cannot tell that
	// from a nested call), and by AddFD, AddSignal and NewThreadProxy
	// called from another goroutine while the loop waits. A context is
	// driven by one goroutine at a time; see the package documentation
	// for what is caught.
	ErrConcurrentUse = errors.New("tevent: context driven from two goroutines at once")
	// ErrWrongContext is returned when a handle that belongs to one context
	// is used with another.
	ErrWrongContext = errors.New("tevent: handle belongs to another context")
	// ErrNoEvents is returned by LoopOnce and LoopUntil when the context
	// has nothing that could ever fire: no fd, timer, signal or scheduled
	// immediate events and no live thread proxies, or only fd events with
	// flags 0 (disabled, or after an error report). LoopWait returns nil
	// in both cases, as tevent 0.17.2's tevent_loop_wait returns 0. (C's
	// tevent_loop_once would sleep 30 seconds.)
	ErrNoEvents = errors.New("tevent: no events to wait for")
	// ErrWouldBlock is returned by LoopOnce when the wait timeout set with
	// SetWaitTimeout ran out before anything was ready (at once in polling
	// mode, SetWaitTimeout(0)), and in polling mode by LoopWait,
	// LoopUntil, LoopContext and Req.Poll when nothing is ready: C's
	// -1 with errno EAGAIN.
	ErrWouldBlock = errors.New("tevent: nothing ready within the wait timeout")
	// ErrStopped is returned by the loop function that Stop ended.
	ErrStopped = errors.New("tevent: loop stopped")
	// ErrUseRefused is returned by a loop function called through a
	// wrapper whose BeforeUse hook refused the use.
	ErrUseRefused = errors.New("tevent: wrapper refused use")
	// ErrNotFinished is returned by Result on a request that is still in
	// progress.
	ErrNotFinished = errors.New("tevent: request not finished")
	// ErrQueueState is returned by QueueEntry.Untrigger when the entry's
	// queue is running or the entry is not at its head.
	ErrQueueState = errors.New("tevent: queue entry cannot be untriggered")
)
