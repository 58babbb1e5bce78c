//go:build !race

package tlsengine

// raceEnabled: see race_test.go.
const raceEnabled = false
