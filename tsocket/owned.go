package tsocket

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A descriptor number is not a socket: once closed behind its owner's
// back, the number may be reused by another file at once. A Stream or
// Dgram remembers the identity of the socket it took over (device and
// inode, from fstat), checks it before it acts on the number where the
// loop cannot tell (see sockOps.handle) and before it closes it, and gives
// up the number for good when it no longer names its socket: its requests
// fail with ErrFDLost, and freeing it closes nothing. The descriptors
// owned by Streams and Dgrams are registered, process-wide, so that
// NewStream or NewDgram on a number another one still owns fails with
// ErrFDInUse instead of making two owners.

// fdIdentity is what names a socket beyond its number.
type fdIdentity struct {
	dev uint64
	ino uint64
}

// identityOf returns fd's identity.
func identityOf(fd int) (fdIdentity, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fdIdentity{}, err
	}
	return fdIdentity{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// ownedFD is one registered descriptor: its number, its identity, and
// whether its owner found it lost.
type ownedFD struct {
	fd   int
	id   fdIdentity
	lost atomic.Bool
}

// stillOurs reports whether the number still names the socket taken
// over; a lost descriptor stays lost.
func (o *ownedFD) stillOurs() bool {
	if o.lost.Load() {
		return false
	}
	id, err := identityOf(o.fd)
	if err != nil || id != o.id {
		o.lose()
		return false
	}
	return true
}

// lose gives the number up: it is no longer ours to use or close.
func (o *ownedFD) lose() {
	if o.lost.Swap(true) {
		return
	}
	owners.Lock()
	if owners.m[o.fd] == o {
		delete(owners.m, o.fd)
	}
	owners.Unlock()
}

// release unregisters the number before its owner closes it.
func (o *ownedFD) release() {
	owners.Lock()
	if owners.m[o.fd] == o {
		delete(owners.m, o.fd)
	}
	owners.Unlock()
}

var owners struct {
	sync.Mutex
	m map[int]*ownedFD
}

// own registers fd for a new owner. A number another Stream or Dgram
// still owns, with the same socket behind it, fails with ErrFDInUse; one
// whose registered owner lost it (closed behind its back and reused) is
// taken from that owner, which then finds it lost.
func own(fd int) (*ownedFD, error) {
	id, err := identityOf(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: descriptor %d: %w", ErrNotSocket, fd, err)
	}
	o := &ownedFD{fd: fd, id: id}
	owners.Lock()
	defer owners.Unlock()
	if owners.m == nil {
		owners.m = make(map[int]*ownedFD)
	}
	if old := owners.m[fd]; old != nil {
		if old.id == id && !old.lost.Load() {
			return nil, fmt.Errorf("%w: descriptor %d", ErrFDInUse, fd)
		}
		old.lost.Store(true)
	}
	owners.m[fd] = o
	return o, nil
}
