package zookeeper

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
)

// BenchmarkWatchLatency measures the time from a Put by one client to the
// watch event at another, on loopback, and reports its p50 and p99.
func BenchmarkWatchLatency(b *testing.B) {
	z := testenv.StartZooKeeper(b)
	cfg := testConfig(z)
	writer := mustOpen(b, cfg)
	watcher := mustOpen(b, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := writer.Put(ctx, "/bench/key", []byte("start")); err != nil {
		b.Fatal(err)
	}
	ch, err := watcher.Watch(ctx, "/bench")
	if err != nil {
		b.Fatal(err)
	}
	<-ch // snapshot
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		want := strconv.Itoa(i)
		start := time.Now()
		if _, err := writer.Put(ctx, "/bench/key", []byte(want)); err != nil {
			b.Fatal(err)
		}
		for {
			ev := <-ch
			if ev.Type == registry.EventError {
				b.Fatal(ev.Err)
			}
			if ev.Type == registry.EventPut && string(ev.Value) == want {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
