//go:build unix && !linux

package wakefd

import "golang.org/x/sys/unix"

// New creates a non-blocking pipe.
func New() (*WakeFD, error) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return nil, err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return nil, err
		}
	}
	return &WakeFD{r: p[0], w: p[1]}, nil
}

// Wake makes ReadFD readable.
func (w *WakeFD) Wake() error {
	b := [1]byte{1}
	for {
		_, err := unix.Write(w.w, b[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN { // pipe full: already readable
			return nil
		}
		return err
	}
}

// Drain consumes pending wake-ups.
func (w *WakeFD) Drain() {
	var buf [64]byte
	for {
		n, err := unix.Read(w.r, buf[:])
		if err == unix.EINTR {
			continue
		}
		if n < len(buf) {
			return
		}
	}
}

// Close closes both ends.
func (w *WakeFD) Close() error {
	err := unix.Close(w.r)
	if e := unix.Close(w.w); err == nil {
		err = e
	}
	return err
}
