//go:build race

package proxy

// raceOn: the race detector adds allocations of its own.
const raceOn = true
