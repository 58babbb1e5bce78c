package tserver

import (
	"fmt"
	"net"
	"os"

	"github.com/gotevent/tevent"
	"github.com/gotevent/tevent/internal/sockets"
	"golang.org/x/sys/unix"
)

// listener is a listening socket of a Server, accepted on by loop 0.
type listener struct {
	fd     int
	fde    *tevent.FD
	addr   net.Addr
	path   string // unix socket path to remove at close
	tcp    bool
	paused bool
	retry  *tevent.Timer
	pause  sockets.Backoff // after a failed accept
}

// openListener makes a listening socket for Server.Listen.
func openListener(network, address string, backlog int, pause sockets.Backoff) (*listener, error) {
	domain, sa, v6only, err := sockets.ParseListenAddr(network, address)
	if err != nil {
		return nil, fmt.Errorf("tserver: %w", err)
	}
	fd, err := sockets.Listen(network, domain, sa, v6only, backlog)
	if err != nil {
		return nil, err
	}
	ln := &listener{fd: fd, tcp: domain != unix.AF_UNIX, pause: pause}
	if !ln.tcp {
		ln.path = address
	}
	if lsa, err := unix.Getsockname(fd); err == nil {
		ln.addr = sockets.NetAddr(lsa)
	}
	return ln, nil
}

// adoptListener takes a listening socket the caller made, for
// Server.ListenFD.
func adoptListener(fd int, pause sockets.Backoff) (*listener, error) {
	isUnix, err := sockets.AdoptListener(fd)
	if err != nil {
		return nil, fmt.Errorf("tserver: ListenFD: %w", err)
	}
	ln := &listener{fd: fd, tcp: !isUnix, pause: pause}
	if lsa, err := unix.Getsockname(fd); err == nil {
		ln.addr = sockets.NetAddr(lsa)
	}
	return ln, nil
}

// close closes the socket (and removes a unix socket's path).
func (ln *listener) close() {
	if ln.retry != nil {
		ln.retry.Free()
		ln.retry = nil
	}
	if ln.fde != nil {
		ln.fde.Free() // auto-close is not set: close below
		ln.fde = nil
	}
	if ln.fd >= 0 {
		unix.Close(ln.fd)
		ln.fd = -1
	}
	if ln.path != "" {
		os.Remove(ln.path)
		ln.path = ""
	}
}
