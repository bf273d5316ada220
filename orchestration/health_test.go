package orchestration_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/health"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/memory"
)

// Reports are written when they change (not at every check), removed with
// their data source, and deleted when the publisher closes; ReadHealth
// reads them back and skips garbage.
func TestHealthPublisher(t *testing.T) {
	srv := memory.NewServer()
	defer srv.Close()
	ctx := context.Background()
	cfg := registry.Config{Type: "memory", ServerLists: []string{srv.Name()}, Namespace: "/app", OperationTimeout: time.Second}
	reg, err := memory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var mu sync.Mutex
	lag := 1.0
	reports := map[string]health.Report{"m": {Status: health.Up}, "s0": {Status: health.Up, Replica: true, LagSeconds: &lag}}
	p := orchestration.PublishHealth(reg, "i1", 10*time.Millisecond, func() map[string]health.Report {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]health.Report{}
		for k, v := range reports {
			out[k] = v
		}
		return out
	})
	wait := func(what string, cond func(map[string]map[string]health.Report) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			all, err := orchestration.ReadHealth(ctx, reg)
			if err == nil && cond(all) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v %v", what, all, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("published", func(a map[string]map[string]health.Report) bool { return len(a["i1"]) == 2 })
	_, v1, _ := reg.Get(ctx, orchestration.HealthPath("i1", "s0"))
	mu.Lock()
	lag2 := 1.4 // moved less than a second: not written again
	reports["s0"] = health.Report{Status: health.Up, Replica: true, LagSeconds: &lag2}
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if _, v2, _ := reg.Get(ctx, orchestration.HealthPath("i1", "s0")); v2 != v1 {
		t.Fatal("a report rewritten for a lag change under a second")
	}
	mu.Lock()
	reports["s0"] = health.Report{Status: health.Degraded, Error: "replication stopped"}
	delete(reports, "m")
	mu.Unlock()
	wait("changed", func(a map[string]map[string]health.Report) bool {
		return len(a["i1"]) == 1 && a["i1"]["s0"].Status == health.Degraded
	})
	if _, err := reg.Put(ctx, orchestration.HealthPath("i2", "x"), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := orchestration.ReadHealth(ctx, reg)
	if err != nil || len(all) != 0 {
		t.Fatalf("after Close: %v %v", all, err)
	}
}
