package zookeeper

import (
	"testing"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry/registrytest"
)

// TestConformance runs the registry conformance suite against a real
// ZooKeeper 3.8 server process.
func TestConformance(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	registrytest.Run(t, harness(z))
}
