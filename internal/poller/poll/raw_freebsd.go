//go:build freebsd

package poll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawPoll is poll(2) made as a raw system call: without the scheduler's
// bookkeeping for a call that may block, so the goroutine keeps its P
// (see poller.Block).
func rawPoll(fds []unix.PollFd, ms int) (int, error) {
	var p unsafe.Pointer
	if len(fds) > 0 {
		p = unsafe.Pointer(&fds[0])
	}
	r, _, e := unix.RawSyscall(unix.SYS_POLL, uintptr(p), uintptr(len(fds)), uintptr(ms))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
