//go:build linux || darwin

package tsocket

import "golang.org/x/sys/unix"

// readv and writev move up to 8 vectors without allocating (x/sys keeps
// its iovec array on the stack).
func readv(fd int, v [][]byte) (int, error)  { return unix.Readv(fd, v) }
func writev(fd int, v [][]byte) (int, error) { return unix.Writev(fd, v) }
