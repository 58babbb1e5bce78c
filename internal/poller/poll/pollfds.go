//go:build unix

package poll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFrom is the size from which the pollfd array lives in an anonymous
// mapping of its own instead of on the Go heap (8192 descriptors).
const mapFrom = 64 << 10

// pollfds is the array handed to poll(2). It must be contiguous, so it
// grows by copying; a slice grown by append would leave every old copy
// behind on the Go heap (about five times the final size, at append's
// growth rate for large slices), resident until the collector frees it
// and the runtime returns it to the system: memory a server holding many
// idle connections pays for. Past mapFrom bytes the array is mapped
// instead: it doubles into a new mapping and the old one is unmapped at
// once.
type pollfds struct {
	a   []unix.PollFd
	mem []byte // the mapping a lives in; nil while a is on the Go heap
}

// push appends p.
func (f *pollfds) push(p unix.PollFd) {
	if len(f.a) == cap(f.a) {
		f.grow()
	}
	f.a = append(f.a, p)
}

func (f *pollfds) grow() {
	size := int(unsafe.Sizeof(unix.PollFd{}))
	n := max(2*cap(f.a), 16)
	var mem []byte
	if n*size >= mapFrom {
		// No mapping (out of them, or of memory): the Go heap will do.
		mem, _ = unix.Mmap(-1, 0, n*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	}
	if mem == nil {
		a := make([]unix.PollFd, len(f.a), n)
		copy(a, f.a)
		f.release()
		f.a = a
		return
	}
	a := unsafe.Slice((*unix.PollFd)(unsafe.Pointer(&mem[0])), n)[:len(f.a)]
	copy(a, f.a)
	f.release()
	f.a, f.mem = a, mem
}

// release unmaps the array, if it is mapped.
func (f *pollfds) release() {
	if f.mem != nil {
		unix.Munmap(f.mem)
		f.mem = nil
	}
	f.a = nil
}
