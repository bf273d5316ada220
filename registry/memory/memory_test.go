package memory_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/memory"
	"github.com/shardgate/shardgate/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	srv := memory.NewServer()
	defer srv.Close()
	registrytest.Run(t, &registrytest.Harness{
		Config:        registry.Config{Type: "memory", ServerLists: []string{srv.Name()}},
		Open:          memory.Open,
		Stop:          func(testing.TB) { srv.Stop() },
		Start:         func(testing.TB) { srv.Start() },
		ExpireSession: func(_ testing.TB, r registry.Registry) { srv.ExpireSession(r) },
		InProcess:     true,
	})
}
