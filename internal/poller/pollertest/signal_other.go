//go:build unix && !linux

package pollertest

import "golang.org/x/sys/unix"

// threadID is 0 where a thread cannot be signalled on its own.
func threadID() int { return 0 }

// interrupt sends SIGURG to the process: some thread gets it, not always
// the waiting one, so the EINTR test proves less here.
func interrupt(int) error { return unix.Kill(unix.Getpid(), unix.SIGURG) }
