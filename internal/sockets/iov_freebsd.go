//go:build freebsd

package sockets

import "golang.org/x/sys/unix"

// Readv reads into the first non-empty vector: x/sys has no Readv on
// FreeBSD, so one vector moves per call (a short transfer, which callers
// handle anyway).
func Readv(fd int, v [][]byte) (int, error) {
	for _, b := range v {
		if len(b) > 0 {
			return unix.Read(fd, b)
		}
	}
	return 0, nil
}

// Writev writes the first non-empty vector (see Readv).
func Writev(fd int, v [][]byte) (int, error) {
	for _, b := range v {
		if len(b) > 0 {
			return unix.Write(fd, b)
		}
	}
	return 0, nil
}
