package zookeeper

import (
	"testing"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry/registrytest"
)

// BenchmarkWatchLatency measures the time from a Put by one client to the
// watch event at another, on loopback, and reports its p50 and p99.
//
//	go test -run '^$' -bench WatchLatency -benchtime 5000x ./registry/zookeeper
func BenchmarkWatchLatency(b *testing.B) {
	registrytest.BenchWatchLatency(b, harness(testenv.StartZooKeeper(b)))
}
