//go:build linux || darwin

package sockets

import "golang.org/x/sys/unix"

// Readv reads into up to 8 vectors without allocating (x/sys keeps its
// iovec array on the stack).
func Readv(fd int, v [][]byte) (int, error) { return unix.Readv(fd, v) }

// Writev writes up to 8 vectors without allocating.
func Writev(fd int, v [][]byte) (int, error) { return unix.Writev(fd, v) }
