// Package poller is the small interface between the portable event loop and
// the kernel's readiness APIs. Each backend lives in its own package.
package poller

import (
	"errors"
	"time"
)

// Interest and readiness bits, independent of the kernel API.
const (
	In    uint32 = 1 << iota // readable
	Out                      // writable
	RdHup                    // peer closed its end (only asked for, reported as Err)
	Err                      // error or hang-up (always reported, never asked for)
)

// Event is one ready fd harvested by Wait.
type Event struct {
	Fd     int32
	Events uint32
}

// Poller is a kernel readiness backend. Control, Wait and Close are called
// only by the goroutine driving the loop; Wake may be called from any
// goroutine.
type Poller interface {
	// Control changes the interest for fd from old (0: not registered) to
	// new (0: remove).
	Control(fd int, old, new uint32) error
	// Wait harvests ready fds into evs. A negative timeout waits forever,
	// zero does not block. A Wake makes it return early with n == 0.
	Wait(evs []Event, timeout time.Duration) (n int, err error)
	// Wake makes a current or the next Wait return. Safe from any
	// goroutine.
	Wake() error
	// Close releases the poller's own descriptors.
	Close() error
}

// ErrFatal wraps an error after which the poller cannot be used again
// (the "standard" backend then falls back to poll).
var ErrFatal = errors.New("poller failed")
