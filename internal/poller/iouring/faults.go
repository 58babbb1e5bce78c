//go:build linux

package iouring

import "sync/atomic"

// Faults are refusals SetFaults makes every New see, as a kernel or a
// sandbox would give them.
type Faults struct {
	// Setup, if not nil, is what io_uring_setup fails with: EPERM under
	// a container's default seccomp profile or kernel.io_uring_disabled,
	// ENOSYS on a kernel built without io_uring.
	Setup error
	// NoEpollWait makes the opcode probe report IORING_OP_EPOLL_WAIT
	// missing, as a kernel before 6.15 does.
	NoEpollWait bool
}

var faults atomic.Pointer[Faults]

// SetFaults makes every later New see f, and returns a function that
// restores the previous faults: a test seam to simulate a system without
// a usable io_uring. Safe to call while other goroutines create
// backends.
func SetFaults(f Faults) (restore func()) {
	old := faults.Swap(&f)
	return func() { faults.Store(old) }
}

// setupFault is the simulated io_uring_setup refusal, if any.
func setupFault() error {
	if f := faults.Load(); f != nil {
		return f.Setup
	}
	return nil
}

// probeHides reports whether the probe is to report op missing.
func probeHides(op uint8) bool {
	f := faults.Load()
	return f != nil && f.NoEpollWait && op == opEpollWait
}
