//go:build unix && !linux && !freebsd

package poll

import "golang.org/x/sys/unix"

// rawPoll is nil here: darwin's system calls go through libc, and a raw
// trap is not its interface. Its poll waits are ordinary system calls.
var rawPoll func(fds []unix.PollFd, ms int) (int, error)
