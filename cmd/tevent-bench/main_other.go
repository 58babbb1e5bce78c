//go:build !linux

// Command tevent-bench runs the loop benchmark workloads of bench/SPEC.md;
// they are compared against epoll-based C anchors (bench/run.sh loop), so
// it is built for Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "tevent-bench: the benchmark workloads run on Linux only")
	os.Exit(1)
}
