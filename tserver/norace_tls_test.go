//go:build !race

package tserver

const raceEnabled = false
