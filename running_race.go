//go:build race

package tevent

import "sync/atomic"

// idle marks the loop as no longer running; see running_norace.go.
func (ev *Context) idle() { atomic.StoreInt32(&ev.running, 0) }
