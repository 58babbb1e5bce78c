//go:build linux

package poll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawPoll is poll(2) made as a raw system call (ppoll, which every Linux
// architecture has, without a signal mask): without the scheduler's
// bookkeeping for a call that may block, so the goroutine keeps its P
// (see poller.Block).
func rawPoll(fds []unix.PollFd, ms int) (int, error) {
	var ts *unix.Timespec
	var t unix.Timespec
	if ms >= 0 {
		t = unix.NsecToTimespec(int64(ms) * 1e6)
		ts = &t
	}
	var p unsafe.Pointer
	if len(fds) > 0 {
		p = unsafe.Pointer(&fds[0])
	}
	r, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(p), uintptr(len(fds)), uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
