//go:build unix

// Package poll is the portable poll(2) backend (see package poller for the
// contract it implements). Wait blocks the calling thread in poll (its
// first poller.ShortWait as a raw system call where the system has one:
// Linux's ppoll, FreeBSD's poll; not darwin, whose system calls go
// through libc); Wake writes to an eventfd (Linux) or a pipe.
package poll

import (
	"fmt"
	"runtime"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/wakefd"
	"golang.org/x/sys/unix"
)

// sysPoll is poll(2), and sysPollRaw poll(2) made as a raw system call
// (nil where there is none: see rawPoll); replaceable by tests (see
// SetFaults).
var (
	sysPoll    = unix.Poll
	sysPollRaw = rawPoll
)

// SetFaults replaces the poll call of every poll backend, raw or not
// (nil keeps the real one), and returns a function that restores it: a
// test seam for fault injection.
func SetFaults(poll func(fds []unix.PollFd, ms int) (int, error)) (restore func()) {
	old, oldRaw := sysPoll, sysPollRaw
	if poll != nil {
		sysPoll = poll
		if sysPollRaw != nil {
			sysPollRaw = poll
		}
	}
	return func() { sysPoll, sysPollRaw = old, oldRaw }
}

// Backend is a poll(2) backend.
type Backend struct {
	wake  *wakefd.WakeFD
	fds   pollfds                    // fds.a[0] is the wake-up descriptor
	toks  poller.Table[poller.Token] // toks[i] is the token of pfds[i]
	pos   poller.Table[int32]        // fd -> index in pfds + 1; 0 when absent
	start int                        // rotating scan start, for fairness when evs fills up
	caps  poller.Caps
	// kernelWait bound once, so that Wait does not allocate
	blockFn func(ms int, raw bool) (int, error)
}

// New returns a poll backend with its wake-up descriptor. shared declares
// poller.CapSharedChanges (tevent's poll_mt).
func New(shared bool) (*Backend, error) {
	w, err := wakefd.New()
	if err != nil {
		return nil, fmt.Errorf("wake-up descriptor: %w", err)
	}
	b := &Backend{wake: w, caps: poller.CapRegularFiles | poller.CapReportsClosed}
	if shared {
		b.caps |= poller.CapSharedChanges
	}
	b.blockFn = b.kernelWait
	b.fds.push(unix.PollFd{Fd: int32(w.ReadFD()), Events: unix.POLLIN})
	return b, nil
}

// Caps implements poller.Backend: poll watches any descriptor, and
// reports a closed one as POLLNVAL.
func (b *Backend) Caps() poller.Caps { return b.caps }

func (b *Backend) index(fd int) int32 { return b.pos.At(fd) }

// Add implements poller.Backend. poll(2) learns of a bad number only when
// it polls: it then reports it as ReadyInvalid.
func (b *Backend) Add(fd int, tok poller.Token, in poller.Interest) error {
	if fd < 0 {
		return fmt.Errorf("poll: %w: %d", poller.ErrBadFD, fd)
	}
	if b.index(fd) != 0 {
		return b.Modify(fd, tok, in)
	}
	b.fds.push(unix.PollFd{Fd: int32(fd), Events: int16(poller.PollBits(in))})
	b.toks.Set(len(b.fds.a)-1, tok)
	b.pos.Set(fd, int32(len(b.fds.a)))
	return nil
}

// Modify implements poller.Backend.
func (b *Backend) Modify(fd int, tok poller.Token, in poller.Interest) error {
	idx := b.index(fd)
	if idx == 0 {
		return fmt.Errorf("poll: %w: %d", poller.ErrNotRegistered, fd)
	}
	b.fds.a[idx-1].Events = int16(poller.PollBits(in))
	b.toks.Set(int(idx-1), tok)
	return nil
}

// Delete implements poller.Backend.
func (b *Backend) Delete(fd int) error {
	idx := b.index(fd)
	if idx == 0 {
		return nil
	}
	i := int(idx - 1)
	pfds := b.fds.a
	last := len(pfds) - 1
	if i != last {
		pfds[i] = pfds[last]
		b.toks.Set(i, b.toks.At(last))
		b.pos.Set(int(pfds[i].Fd), int32(i+1))
	}
	b.fds.a = pfds[:last]
	b.toks.Set(last, 0)
	b.pos.Set(fd, 0)
	return nil
}

// Wait implements poller.Backend.
func (b *Backend) Wait(evs []poller.Event, ms int) (int, error) {
	pfds := b.fds.a
	for i := range pfds {
		pfds[i].Revents = 0
	}
	var n int
	var err error
	switch {
	case ms == 0 && sysPollRaw != nil:
		n, err = sysPollRaw(b.fds.a, 0)
	case ms == 0:
		n, err = sysPoll(b.fds.a, 0)
	case sysPollRaw != nil:
		n, err = poller.Block(ms, b.blockFn)
	default:
		// No raw poll here: one ordinary wait, after the yield Block
		// makes before a wait that releases the P.
		runtime.Gosched()
		n, err = sysPoll(b.fds.a, ms)
	}
	if err != nil {
		if err == unix.EINTR || err == unix.EAGAIN {
			return 0, nil
		}
		return 0, fmt.Errorf("poll: %w: %w", poller.ErrFatal, err)
	}
	if n == 0 {
		return 0, nil
	}
	if pfds[0].Revents != 0 {
		b.wake.Drain()
	}
	count := len(pfds) - 1
	if count == 0 {
		return 0, nil
	}
	if b.start >= count {
		b.start = 0
	}
	out, k := 0, 0
	for ; k < count && out < len(evs); k++ {
		i := 1 + (b.start+k)%count
		if re := pfds[i].Revents; re != 0 {
			evs[out] = poller.Event{Token: b.toks.At(i), Ready: poller.ReadyFromPollBits(uint32(uint16(re)))}
			out++
		}
	}
	// When evs filled up, the next scan starts after the last fd taken,
	// so that the ones left out come first. Otherwise every ready fd was
	// taken and the order stays: moving the start would let some fds
	// jump the queue and serve twice while another waits.
	if k < count {
		b.start = (b.start + k) % count
	}
	return out, nil
}

// kernelWait is the kernel wait of poller.Block: poll(2) of every
// registration, as a raw system call or an ordinary one.
func (b *Backend) kernelWait(ms int, raw bool) (int, error) {
	if raw {
		return sysPollRaw(b.fds.a, ms)
	}
	return sysPoll(b.fds.a, ms)
}

// Wake implements poller.Backend.
func (b *Backend) Wake() error { return b.wake.Wake() }

// Close implements poller.Backend.
func (b *Backend) Close() error {
	b.fds.release()
	return b.wake.Close()
}
