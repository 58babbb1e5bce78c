//go:build race

package tsocket

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// the TLS stream's pooled buffers allocate and allocation counts mean
// nothing.
const raceEnabled = true
