//go:build !linux

package sockets

import (
	"golang.org/x/sys/unix"
)

// Read reads from the non-blocking descriptor fd into p; n is never
// negative.
func Read(fd int, p []byte) (int, error) {
	n, err := unix.Read(fd, p)
	if n < 0 {
		n = 0
	}
	return n, err
}

// Write writes p to the non-blocking descriptor fd; n is never negative.
func Write(fd int, p []byte) (int, error) {
	n, err := unix.Write(fd, p)
	if n < 0 {
		n = 0
	}
	return n, err
}
