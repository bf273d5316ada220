package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardgate/shardgate/config"
)

// fakePool opens nothing; the engine's tests drive its health by hand.
type fakePool struct {
	down     func(error)
	probeErr atomic.Pointer[error]
	probes   atomic.Int64
	dropped  atomic.Int64
	closed   atomic.Bool
}

func fakePools(_ string, _ *config.DataSource, _ bool, down func(error)) (Pool, error) {
	return &fakePool{down: down}, nil
}

func (p *fakePool) Probe(context.Context) error {
	p.probes.Add(1)
	if e := p.probeErr.Load(); e != nil {
		return *e
	}
	return nil
}
func (p *fakePool) DropIdle()                 { p.dropped.Add(1) }
func (p *fakePool) Stats() (int, int, uint64) { return 0, 0, 0 }
func (p *fakePool) Close()                    { p.closed.Store(true) }

// A pool's failed dial marks its data source down (reads skip it, idle
// connections are dropped); the engine's probe, every
// healthCheckInterval, brings it back once it succeeds, keeping the last
// probe error meanwhile.
func TestHealthDownAndProbe(t *testing.T) {
	cfg := testConfig(t, "")
	for _, ds := range cfg.DataSources {
		ds.HealthCheckInterval = 10 * time.Millisecond
	}
	r, err := NewRuntime(cfg, fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s0 := r.Snapshot().ByName["s0"]
	fp := s0.Pool.(*fakePool)
	refused := errors.New("connect: connection refused")
	stillDown := errors.New("probe: still refused")
	fp.probeErr.Store(&stillDown)
	fp.down(refused)
	if s0.Health.Healthy() || fp.dropped.Load() != 1 {
		t.Fatalf("after a failed dial: healthy %v, idle dropped %d times", s0.Health.Healthy(), fp.dropped.Load())
	}
	for range 6 {
		if n, _ := route(t, r.Snapshot(), "SELECT 1", &Session{}); n == "s0" {
			t.Fatal("a read went to the data source marked down")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for fp.probes.Load() < 2 || s0.Health.LastError() != stillDown {
		if time.Now().After(deadline) {
			t.Fatalf("probes %d, last error %v", fp.probes.Load(), s0.Health.LastError())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s0.Health.Healthy() {
		t.Fatal("up after a failed probe")
	}
	fp.probeErr.Store(nil)
	for !s0.Health.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("not up after the probe succeeded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Health belongs to the pool: a config swap that keeps the pool keeps it.
	fp.down(refused)
	if err := r.Apply(testConfig(t, "props: {readYourWrites: off}\n")); err != nil {
		t.Fatal(err)
	}
	if h := r.Snapshot().ByName["s0"].Health; h == s0.Health {
		t.Fatal("pool with a changed healthCheckInterval kept")
	}
}

// A factory error fails Apply naming the data source, and nothing opened
// for that config stays open.
func TestPoolFactoryError(t *testing.T) {
	var opened []*fakePool
	n := 0
	open := func(name string, ds *config.DataSource, ro bool, down func(error)) (Pool, error) {
		if n++; n == 3 {
			return nil, errors.New("bad url parameters")
		}
		p := &fakePool{down: down}
		opened = append(opened, p)
		return p, nil
	}
	_, err := NewRuntime(testConfig(t, ""), open)
	if err == nil || err.Error() != "dataSources.s1: bad url parameters" {
		t.Fatalf("NewRuntime: %v", err)
	}
	for _, p := range opened {
		if !p.closed.Load() {
			t.Fatal("a pool opened for the rejected config is still open")
		}
	}
}
