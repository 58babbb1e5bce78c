package tevent

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// SignalFlags are tevent's sigaction flags.
type SignalFlags int

const (
	// SARestart is accepted for compatibility; Go restarts interrupted
	// system calls itself.
	SARestart SignalFlags = 1 << iota
	// SAResetHand frees the event after its handler first runs.
	SAResetHand
	// SASigInfo asks for SigInfo; os/signal cannot supply it, so info is
	// always nil.
	SASigInfo
)

// SigInfo would carry siginfo_t details. os/signal does not deliver them,
// so handlers always get nil; the type exists for tevent's signature.
type SigInfo struct {
	Signo int
	Code  int
	Pid   int
	Uid   int
}

// SignalHandler is called on the loop after the signal arrived; count is
// how many arrivals were seen since the handler last ran.
type SignalHandler func(ev *Context, se *Signal, signum syscall.Signal, count int, info *SigInfo)

// Signal is a signal event (tevent_signal).
type Signal struct {
	link    ownLink
	ctx     *Context // the context it was added through (a wrapper or main)
	handler SignalHandler
	sig     syscall.Signal
	flags   SignalFlags
	freed   bool
	tag     uint64
}

const maxSignal = 65

// ctxSignals is a context's share of the signal machinery.
type ctxSignals struct {
	counts  [maxSignal]atomic.Uint32 // arrivals not yet handled, per signal
	events  [maxSignal][]*Signal
	scratch []*Signal // runSignals' snapshot of a handler list
	n       int
}

// sigHub fans signals out from os/signal to every listening context. It is
// the package's only global state, forced by signals being per process.
var sigHub struct {
	mu       sync.Mutex
	watchers [maxSignal]*sigWatcher
}

type sigWatcher struct {
	ch       chan os.Signal
	stop     chan struct{}
	exited   chan struct{}
	contexts []*loop
}

func validSignal(sig syscall.Signal) bool {
	if sig <= 0 || int(sig) >= maxSignal {
		return false
	}
	switch sig {
	case syscall.SIGKILL, syscall.SIGSTOP:
		return false
	}
	return true
}

// AddSignal adds a signal event (tevent_add_signal). Every context with an
// event for a signal sees each arrival. An uncatchable or out-of-range
// signal gives ErrSignal; a freed scope ErrFreed. A nil handler panics.
//
// Arrivals come through os/signal, which coalesces a burst of one signal
// that arrives before it is read: count is at least 1 and at most the
// number sent.
func (s *Scope) AddSignal(sig syscall.Signal, flags SignalFlags, h SignalHandler) (*Signal, error) {
	if h == nil {
		panic("tevent: AddSignal called with a nil SignalHandler")
	}
	if s.freed || s.ev.freed {
		return nil, s.freedError("AddSignal")
	}
	ev := s.ev.loop
	if err := ev.foreign("AddSignal"); err != nil {
		return nil, err
	}
	if !validSignal(sig) {
		return nil, fmt.Errorf("%w: %d", ErrSignal, int(sig))
	}
	if ev.sig == nil {
		ev.sig = &ctxSignals{}
	}
	se := &Signal{ctx: s.ev, handler: h, sig: sig, flags: flags}
	cs := ev.sig
	if len(cs.events[sig]) == 0 {
		cs.counts[sig].Store(0)
		watchSignal(ev, sig)
	}
	cs.events[sig] = append(cs.events[sig], se)
	cs.n++
	s.adopt(&se.link, se)
	if ev.tracers != nil && ev.tracers.signal != nil {
		ev.tracers.signal(se, EventAttach)
	}
	return se, nil
}

func watchSignal(ev *loop, sig syscall.Signal) {
	sigHub.mu.Lock()
	defer sigHub.mu.Unlock()
	w := sigHub.watchers[sig]
	if w == nil {
		w = &sigWatcher{
			ch:     make(chan os.Signal, 64),
			stop:   make(chan struct{}),
			exited: make(chan struct{}),
		}
		sigHub.watchers[sig] = w
		signal.Notify(w.ch, sig)
		go w.run(sig)
	}
	w.contexts = append(w.contexts, ev)
}

func unwatchSignal(ev *loop, sig syscall.Signal) {
	sigHub.mu.Lock()
	w := sigHub.watchers[sig]
	if w == nil {
		sigHub.mu.Unlock()
		return
	}
	for i, c := range w.contexts {
		if c == ev {
			w.contexts = append(w.contexts[:i], w.contexts[i+1:]...)
			break
		}
	}
	if len(w.contexts) > 0 {
		sigHub.mu.Unlock()
		return
	}
	sigHub.watchers[sig] = nil
	signal.Stop(w.ch)
	close(w.stop)
	sigHub.mu.Unlock()
	<-w.exited
}

func (w *sigWatcher) run(sig syscall.Signal) {
	defer close(w.exited)
	for {
		select {
		case <-w.stop:
			return
		case <-w.ch:
			sigHub.mu.Lock()
			for _, ev := range w.contexts {
				ev.sig.counts[sig].Add(1)
				ev.sigPending.Store(true)
				ev.wake()
			}
			sigHub.mu.Unlock()
		}
	}
}

// Signum returns the signal the event is for.
func (se *Signal) Signum() syscall.Signal { return se.sig }

// Tag returns the tag set with SetTag.
func (se *Signal) Tag() uint64 { return se.tag }

// SetTag attaches an arbitrary number to the event.
func (se *Signal) SetTag(tag uint64) { se.tag = tag }

// Free removes the signal event; when it was the context's last for that
// signal the context stops listening, and when no context listens any more
// the process's handling of the signal goes back to what it was.
// Idempotent; allowed from any handler.
func (se *Signal) Free() {
	if se.freed {
		return
	}
	if se.ctx.loop.handOver(se) {
		return
	}
	disown(&se.link)
	se.freeOwned()
}

// Context returns the context the event was added to (a wrapper, if it
// was added through one).
func (se *Signal) Context() *Context { return se.ctx }

func (se *Signal) freeOwned() {
	se.freed = true
	ev := se.ctx.loop
	if tr := ev.tracers; tr != nil && tr.signal != nil {
		tr.signal(se, EventDetach)
	}
	cs := ev.sig
	list := cs.events[se.sig]
	for i, e := range list {
		if e == se {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			cs.events[se.sig] = list[:len(list)-1]
			break
		}
	}
	cs.n--
	if len(cs.events[se.sig]) == 0 {
		cs.events[se.sig] = nil
		unwatchSignal(ev, se.sig)
		cs.counts[se.sig].Store(0)
	}
}

// runSignals calls the handlers of every signal that arrived. It reports
// whether any handler ran.
func (ev *loop) runSignals() bool {
	cs := ev.sig
	if cs == nil {
		return false
	}
	ran := false
	for sig := 1; sig < maxSignal; sig++ {
		if len(cs.events[sig]) == 0 {
			continue
		}
		count := cs.counts[sig].Swap(0)
		if count == 0 {
			continue
		}
		// Handlers may add or free events: walk a snapshot.
		list := append(cs.scratch[:0], cs.events[sig]...)
		cs.scratch = nil // in use: a nested loop call makes its own
		for _, se := range list {
			if se.freed {
				continue
			}
			ran = true
			if ev.tracers != nil && ev.tracers.signal != nil {
				ev.tracers.signal(se, EventBeforeHandler)
				if ev.freed {
					return true
				}
				if se.freed {
					continue
				}
			}
			if se.ctx.wrap == nil {
				se.handler(se.ctx, se, syscall.Signal(sig), int(count), nil)
			} else {
				se.ctx.callSignal(se, syscall.Signal(sig), int(count))
			}
			if ev.freed {
				return true
			}
			if se.flags&SAResetHand != 0 {
				se.Free()
			}
		}
		clear(list)
		cs.scratch = list[:0]
	}
	return ran
}
