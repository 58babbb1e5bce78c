//go:build unix && !linux

package poller

// pollRdHup is zero where poll(2) has no POLLRDHUP: there a peer's
// shutdown is seen only as readability, or as POLLHUP once it closes.
const pollRdHup = 0
