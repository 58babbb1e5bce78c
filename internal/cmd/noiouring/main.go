//go:build linux

// Command noiouring runs a command on a system without io_uring, as far as
// the command can tell: under a seccomp filter that fails io_uring_setup,
// io_uring_enter and io_uring_register with EPERM, as a container's
// default seccomp profile does. It checks that the io_uring backend falls
// back to epoll and that the tests that need io_uring skip:
//
//	go run ./internal/cmd/noiouring go test ./...
//
// The filter is inherited by every process the command starts. It
// compares system call numbers only (no architecture check): run native
// binaries under it.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: noiouring command [arg...]")
		os.Exit(2)
	}
	path, err := exec.LookPath(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "noiouring:", err)
		os.Exit(2)
	}
	runtime.LockOSThread()
	const (
		load  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	)
	prog := []unix.SockFilter{
		{Code: load, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 3, K: unix.SYS_IO_URING_SETUP},
		{Code: jeq, Jt: 2, K: unix.SYS_IO_URING_ENTER},
		{Code: jeq, Jt: 1, K: unix.SYS_IO_URING_REGISTER},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ret, K: eperm},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "noiouring: PR_SET_NO_NEW_PRIVS:", err)
		os.Exit(1)
	}
	const setModeFilter, flagTsync = 1, 1 // SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setModeFilter, flagTsync, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		fmt.Fprintln(os.Stderr, "noiouring: seccomp:", e)
		os.Exit(1)
	}
	err = syscall.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintln(os.Stderr, "noiouring:", err)
	os.Exit(1)
}
