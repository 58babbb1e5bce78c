package wakefd

import "golang.org/x/sys/unix"

// New creates an eventfd.
func New() (*WakeFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &WakeFD{r: fd, w: fd}, nil
}

var one = [8]byte{1, 0, 0, 0, 0, 0, 0, 0}

// Wake makes ReadFD readable.
func (w *WakeFD) Wake() error {
	for {
		_, err := unix.Write(w.w, one[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN { // counter saturated: already readable
			return nil
		}
		return err
	}
}

// Drain consumes pending wake-ups.
func (w *WakeFD) Drain() {
	var buf [8]byte
	for {
		_, err := unix.Read(w.r, buf[:])
		if err != unix.EINTR {
			return
		}
	}
}

// Close closes the descriptor.
func (w *WakeFD) Close() error { return unix.Close(w.r) }
