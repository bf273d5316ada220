package orchestration

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/shardgate/shardgate/health"
	"github.com/shardgate/shardgate/registry"
)

// HealthDir holds what each instance's health monitor sees:
// {HealthDir}/{instance}/{data source}, ephemeral JSON (health.Report). The
// operator's state/datasources/{name} stays authoritative: the monitor
// never writes there.
const HealthDir = "/state/health"

// HealthPath is the node of one data source's health seen by instance id.
func HealthPath(id, ds string) string { return HealthDir + "/" + id + "/" + ds }

// healthRefresh: an unchanged report is written again at most this often
// (lag and GTID move all the time; the registry need not follow each check).
const healthRefresh = 10 * time.Second

// HealthPublisher writes an instance's health reports to the registry
// when a data source's status or error changes, its lag moves by a second
// or more, or healthRefresh passed.
type HealthPublisher struct {
	reg     registry.Registry
	id      string
	reports func() map[string]health.Report
	every   time.Duration
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	written map[string]written
}

type written struct {
	r  health.Report
	at time.Time
}

// PublishHealth starts publishing reports (read every interval) for
// instance id.
func PublishHealth(reg registry.Registry, id string, interval time.Duration, reports func() map[string]health.Report) *HealthPublisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &HealthPublisher{reg: reg, id: id, reports: reports, every: interval, cancel: cancel, done: make(chan struct{}), written: map[string]written{}}
	go p.run(ctx)
	return p
}

func (p *HealthPublisher) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		p.publish(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// publish writes what changed and deletes the nodes of data sources gone.
func (p *HealthPublisher) publish(ctx context.Context) {
	now := time.Now()
	cur := p.reports()
	p.mu.Lock()
	defer p.mu.Unlock()
	for ds, r := range cur {
		w, ok := p.written[ds]
		if ok && !moved(w.r, r) && now.Sub(w.at) < healthRefresh {
			continue
		}
		b, _ := json.Marshal(r)
		if err := p.reg.PutEphemeral(ctx, HealthPath(p.id, ds), b); err != nil {
			if ctx.Err() == nil {
				slog.Debug("publishing data source health failed; retrying", "dataSource", ds, "err", err)
			}
			continue
		}
		p.written[ds] = written{r: r, at: now}
	}
	for ds := range p.written {
		if _, ok := cur[ds]; !ok {
			if err := p.reg.Delete(ctx, HealthPath(p.id, ds), false); err == nil || errors.Is(err, registry.ErrNotFound) {
				delete(p.written, ds)
			}
		}
	}
}

// moved: b differs from a in what an operator reads off the node.
func moved(a, b health.Report) bool {
	if a.Status != b.Status || a.Error != b.Error || a.Lagging != b.Lagging || a.Replica != b.Replica ||
		a.IORunning != b.IORunning || a.SQLRunning != b.SQLRunning || a.ReadOnly != b.ReadOnly || a.Transitions != b.Transitions {
		return true
	}
	if (a.LagSeconds == nil) != (b.LagSeconds == nil) {
		return true
	}
	return a.LagSeconds != nil && math.Abs(*a.LagSeconds-*b.LagSeconds) >= 1
}

// Close stops publishing and deletes the instance's health nodes.
func (p *HealthPublisher) Close() error {
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for ds := range p.written {
		if err := p.reg.Delete(ctx, HealthPath(p.id, ds), false); err != nil && !errors.Is(err, registry.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := p.reg.Delete(ctx, HealthDir+"/"+p.id, false); err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrNotEmpty) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ReadHealth reads every instance's published health: instance → data
// source → report. A node that is not a report is skipped.
func ReadHealth(ctx context.Context, reg registry.Registry) (map[string]map[string]health.Report, error) {
	ids, err := reg.Children(ctx, HealthDir)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]health.Report{}
	for _, id := range ids {
		names, err := reg.Children(ctx, HealthDir+"/"+id)
		if err != nil {
			return nil, err
		}
		for _, ds := range names {
			v, _, err := reg.Get(ctx, HealthPath(id, ds))
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			var r health.Report
			if json.Unmarshal(v, &r) != nil || r.Status == "" {
				continue
			}
			if out[id] == nil {
				out[id] = map[string]health.Report{}
			}
			out[id][ds] = r
		}
	}
	return out, nil
}
