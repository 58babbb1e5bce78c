//go:build freebsd

package tsocket

import "golang.org/x/sys/unix"

// readv and writev: x/sys has no Readv on FreeBSD, so one vector moves per
// call (a short transfer, which the stream code handles anyway).
func readv(fd int, v [][]byte) (int, error) {
	for _, b := range v {
		if len(b) > 0 {
			return unix.Read(fd, b)
		}
	}
	return 0, nil
}

func writev(fd int, v [][]byte) (int, error) {
	for _, b := range v {
		if len(b) > 0 {
			return unix.Write(fd, b)
		}
	}
	return 0, nil
}
