//go:build (386 || amd64) && !race

package tevent

// leave marks the loop no longer running. On x86 every store is a release
// store (total store order): a plain one orders the loop's earlier writes
// before it, as an atomic store would, without the full barrier. Race
// builds use the atomic store (running_atomic.go), so that the detector
// sees the flag's accesses synchronised.
func (f *runFlag) leave() { f.v = 0 }
