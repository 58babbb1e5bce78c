//go:build darwin || freebsd

package sockets

// fionread is FIONREAD, _IOR('f', 127, int).
const fionread = 0x4004667f
