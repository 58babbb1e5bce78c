//go:build race

package tlsengine

// raceEnabled: the race detector makes sync.Pool drop items at random
// and adds shadow memory, so allocation and heap figures mean nothing.
const raceEnabled = true
