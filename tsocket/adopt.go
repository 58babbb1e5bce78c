package tsocket

import (
	"fmt"

	"github.com/gotevent/tevent"
	"golang.org/x/sys/unix"
)

// prepareFD makes an existing descriptor non-blocking and close-on-exec,
// after checking that it is a socket of type typ (0: any stream or
// datagram type is taken as found). It returns the socket type.
func prepareFD(fd int, want int) (int, error) {
	if fd < 0 {
		return 0, fmt.Errorf("%w: descriptor %d", tevent.ErrBadFD, fd)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		if err == unix.EBADF {
			return 0, fmt.Errorf("%w: descriptor %d: %w", tevent.ErrBadFD, fd, err)
		}
		return 0, fmt.Errorf("%w: descriptor %d: %w", ErrNotSocket, fd, err)
	}
	if want != 0 && typ != want {
		return 0, fmt.Errorf("%w: descriptor %d has socket type %d, want %d", ErrNotSocket, fd, typ, want)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return 0, fmt.Errorf("tsocket: set non-blocking: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return 0, fmt.Errorf("tsocket: set close-on-exec: %w", err)
	}
	return typ, nil
}
