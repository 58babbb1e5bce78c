//go:build !race

package tsocket

const raceEnabled = false
