package tsocket

import (
	"net"
	"time"

	"github.com/gotevent/tevent"
)

// Server is a set of loops that accept and serve connections.
type Server struct {
	loops []*Loop
}

// Loop is one of a server's event loops: a tevent context and the
// connections it owns.
type Loop struct {
	srv *Server
	ev  *tevent.Context
	idx int
}

type connFields struct {
	loop *Loop
	fd   int32
	gen  uint32
	user any
}

type opKind uint8

const (
	opWrite opKind = iota
	opClose
	opCloseWrite
	opDo
)

func newServer(h EventHandler, cfg *ServerConfig) (*Server, error) { panic("todo") }
func (s *Server) listen(network, address string) (net.Addr, error) { panic("todo") }
func (s *Server) listenFD(fd int) error                            { panic("todo") }
func (s *Server) start() error                                     { panic("todo") }
func (s *Server) wait() error                                      { panic("todo") }
func (s *Server) shutdown(deadline time.Time)                      { panic("todo") }
func (s *Server) addrs() []net.Addr                                { panic("todo") }
func (s *Server) stats() Stats                                     { panic("todo") }
func (l *Loop) loopStats() Stats                                   { panic("todo") }
func (l *Loop) schedule(fn func(l *Loop)) error                    { panic("todo") }
func (c *Conn) write(b []byte) (int, error)                        { panic("todo") }
func (c *Conn) writev(b [][]byte) (int, error)                     { panic("todo") }
func (c *Conn) closeGraceful() error                               { panic("todo") }
func (c *Conn) closeWrite() error                                  { panic("todo") }
func (c *Conn) abort(err error)                                    { panic("todo") }
func (c *Conn) sockAddr(peer bool) net.Addr                        { panic("todo") }
func (c *Conn) inLen() int                                         { panic("todo") }
func (c *Conn) outLen() int                                        { panic("todo") }
func (h ConnHandle) post(k opKind, b []byte, fn func(*Conn)) error { panic("todo") }
