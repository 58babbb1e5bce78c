//go:build linux

// Package standard is tevent's "standard" backend (tevent_standard.c):
// epoll that, when epoll fails, replays every registration into poll and
// goes on with poll for the rest of its life, so that no event is lost.
// Epoll's refusal of a regular file or directory is such a failure too, as
// in C tevent: poll watches those (they are always ready).
package standard

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/poll"
)

// Sources of the two backends, replaceable by tests.
var (
	newEpoll = func(runtime bool) (poller.Backend, error) { return epoll.New(runtime) }
	newPoll  = func() (poller.Backend, error) { return poll.New(false) }
)

type reg struct {
	tok poller.Token
	in  poller.Interest // 0: not registered
}

type current struct{ b poller.Backend }

// Backend is the standard backend.
type Backend struct {
	cur      atomic.Pointer[current] // read by Wake on any goroutine
	fellBack bool
	kick     bool              // the next Wait must not block: a Wake may have gone to the old backend
	regs     poller.Table[reg] // what is registered, indexed by descriptor: replayed on fallback
	retired  []poller.Backend  // closed only by Close: a racing Wake may still use them
	onFall   func(cause, err error)
}

// New returns a standard backend starting on epoll (on poll if epoll
// cannot be created). onFallback, if not nil, is told why it fell back
// and, if the fallback itself failed, why.
func New(runtime bool, onFallback func(cause, err error)) (*Backend, error) {
	s := &Backend{onFall: onFallback}
	b, err := newEpoll(runtime)
	if err != nil {
		if b, err = newPoll(); err != nil {
			return nil, err
		}
		s.fellBack = true
	}
	s.cur.Store(&current{b})
	return s, nil
}

// Current returns the backend in use: epoll, or poll after a fallback.
func (s *Backend) Current() poller.Backend { return s.cur.Load().b }

// Caps implements poller.Backend: regular files are watched, by falling
// back to poll.
func (s *Backend) Caps() poller.Caps {
	return poller.CapRegularFiles | s.Current().Caps()&^poller.CapSharedChanges
}

// fallBack moves every registration to a new poll backend. It returns
// nil if it did, else why not: cause, with the fallback's own error.
func (s *Backend) fallBack(cause error) error {
	if s.fellBack {
		return cause
	}
	p, err := newPoll()
	if err == nil {
		s.regs.Each(func(fd int, r reg) {
			if r.in != 0 && err == nil {
				if err = p.Add(fd, r.tok, r.in); err != nil {
					p.Close()
				}
			}
		})
	}
	if s.onFall != nil {
		s.onFall(cause, err)
	}
	if err != nil {
		return fmt.Errorf("%w; falling back to poll: %w", cause, err)
	}
	s.fellBack = true
	s.retired = append(s.retired, s.Current())
	s.cur.Store(&current{p})
	s.kick = true
	return nil
}

// mustFallBack reports whether err is one the standard backend answers by
// falling back to poll.
func mustFallBack(err error) bool {
	return errors.Is(err, poller.ErrFatal) || errors.Is(err, poller.ErrRefused)
}

func (s *Backend) record(fd int, tok poller.Token, in poller.Interest) {
	if fd >= 0 {
		s.regs.Set(fd, reg{tok, in})
	}
}

// Add implements poller.Backend.
func (s *Backend) Add(fd int, tok poller.Token, in poller.Interest) error {
	err := s.Current().Add(fd, tok, in)
	if err != nil && mustFallBack(err) {
		if err = s.fallBack(err); err == nil {
			err = s.Current().Add(fd, tok, in)
		}
	}
	if err == nil {
		s.record(fd, tok, in)
	}
	return err
}

// Modify implements poller.Backend.
func (s *Backend) Modify(fd int, tok poller.Token, in poller.Interest) error {
	err := s.Current().Modify(fd, tok, in)
	if err != nil && mustFallBack(err) {
		if err = s.fallBack(err); err == nil {
			err = s.Current().Modify(fd, tok, in)
		}
	}
	if err == nil {
		s.record(fd, tok, in)
	} else if errors.Is(err, poller.ErrNotRegistered) && s.regs.At(fd).in != 0 {
		s.regs.Set(fd, reg{})
	}
	return err
}

// Delete implements poller.Backend.
func (s *Backend) Delete(fd int) error {
	if s.regs.At(fd).in != 0 {
		s.regs.Set(fd, reg{})
	}
	err := s.Current().Delete(fd)
	if err != nil && mustFallBack(err) {
		err = s.fallBack(err) // nil: the new backend never had it
	}
	return err
}

// Wait implements poller.Backend. A Wake made before a fallback, or
// racing with it, may have gone to epoll: so the wait in which epoll
// fails returns at once, empty, and after a fallback made by Add, Modify
// or Delete the first wait in poll does not block.
func (s *Backend) Wait(evs []poller.Event, ms int) (int, error) {
	if s.kick {
		s.kick, ms = false, 0
	}
	n, err := s.Current().Wait(evs, ms)
	if err != nil {
		if err = s.fallBack(err); err == nil {
			s.kick = false // returning now serves the Wake
		}
		return 0, err
	}
	return n, err
}

// Wake implements poller.Backend.
func (s *Backend) Wake() error { return s.Current().Wake() }

// Close implements poller.Backend.
func (s *Backend) Close() error {
	for _, b := range s.retired {
		b.Close()
	}
	s.retired = nil
	return s.Current().Close()
}

// String names the backend in use, for debugging.
func (s *Backend) String() string { return fmt.Sprintf("standard(%T)", s.Current()) }
