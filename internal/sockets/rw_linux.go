package sockets

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The descriptors read and written here are non-blocking, so their reads
// and writes never block: a raw system call skips the runtime's
// entersyscall and exitsyscall bookkeeping, which unix.Read pays on every
// call.

// Read reads from the non-blocking descriptor fd into p (0, nil for an
// empty p).
func Read(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Write writes p to the non-blocking descriptor fd (0, nil for an empty p).
func Write(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
