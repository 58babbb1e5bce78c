//go:build !(386 || amd64) || race

package tevent

import "sync/atomic"

// leave marks the loop no longer running. Where stores are not release
// stores by themselves (arm64, and the others), or under the race
// detector, it is an atomic store; on arm64 that is STLR, a release store
// and no full barrier.
func (f *runFlag) leave() { atomic.StoreInt32(&f.v, 0) }
