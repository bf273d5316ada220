package registrytest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shardgate/shardgate/registry"
)

// BenchWatchLatency measures the time from a Put by one client to the
// matching watch event at another, and reports p50 and p99 in µs.
func BenchWatchLatency(b *testing.B, h *Harness) {
	cfg := h.config(b)
	writer := h.open(b, cfg)
	watcher := h.open(b, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := writer.Put(ctx, "/bench/key", []byte("0")); err != nil {
		b.Fatal(err)
	}
	ch, err := watcher.Watch(ctx, "/bench")
	if err != nil {
		b.Fatal(err)
	}
	<-ch // snapshot
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		want := fmt.Sprint(i + 1)
		start := time.Now()
		if _, err := writer.Put(ctx, "/bench/key", []byte(want)); err != nil {
			b.Fatal(err)
		}
		for {
			ev := <-ch
			if ev.Type == registry.EventError {
				b.Fatal(ev.Err)
			}
			if ev.Type == registry.EventPut && ev.Path == "/bench/key" && string(ev.Value) == want {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
