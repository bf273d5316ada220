package orchestration_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/engine/enginetest"
	"github.com/shardgate/shardgate/orchestration"
)

// BenchmarkPropagation measures the time from a registry write that
// disables (or enables) a slave to the moment the routing snapshot every
// statement reads honours it: the next statement after that instant is
// routed accordingly. Reports p50 and p99 over b.N toggles.
//
//	go test -run '^$' -bench Propagation -benchtime 200x ./orchestration
func BenchmarkPropagation(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			reg := be.open(b, freshRoot())
			ctx := context.Background()
			f, err := orchestration.ParseFile([]byte(fileYAML))
			if err != nil {
				b.Fatal(err)
			}
			o, cfg, err := orchestration.New(ctx, reg, f)
			if err != nil {
				b.Fatal(err)
			}
			rt, err := engine.NewRuntime(cfg, enginetest.Open)
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			if err := o.Start(ctx, rt); err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			node := orchestration.DataSourcePath("ds_slave_0")
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				disable := i%2 == 0
				val := []byte("")
				if disable {
					val = []byte("DISABLED")
				}
				start := time.Now()
				if _, err := reg.Put(ctx, node, val); err != nil {
					b.Fatal(err)
				}
				for {
					if ds := rt.Snapshot().ByName["ds_slave_0"]; ds.Disabled == disable {
						break
					}
					if time.Since(start) > 10*time.Second {
						b.Fatalf("toggle %d not applied within 10s", i)
					}
					time.Sleep(50 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
