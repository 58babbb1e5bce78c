//go:build linux

package pollertest

import "golang.org/x/sys/unix"

// threadID names the calling OS thread for interrupt.
func threadID() int { return unix.Gettid() }

// interrupt sends SIGURG to one thread of the process. The Go runtime
// handles SIGURG (it preempts with it) and a blocking epoll_wait or poll
// it interrupts returns EINTR, whatever SA_RESTART says.
func interrupt(tid int) error { return unix.Tgkill(unix.Getpid(), tid, unix.SIGURG) }
