package sockets

import "golang.org/x/sys/unix"

// fionread is FIONREAD (TIOCINQ on Linux).
const fionread = unix.TIOCINQ
