package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/config"
)

// DataSource is a data source as routing sees it.
type DataSource struct {
	Name string
	Pool *backend.Pool
	// Slave is the index in the rule's slaves, or -1 for the master.
	Slave int
	// Weight for the WEIGHT algorithm.
	Weight int
	// Disabled by the registry; DisabledPath names the node for errors.
	Disabled     bool
	DisabledPath string
}

// State is the registry-driven part of a snapshot.
type State struct {
	// DisabledDataSources maps a disabled data source's name to the registry
	// node that disabled it (used in error messages; may be empty).
	DisabledDataSources map[string]string
	// InstanceDisabled is the circuit breaker: every statement except
	// ROLLBACK fails at once, naming InstancePath.
	InstanceDisabled bool
	InstancePath     string
}

// Snapshot is everything routing needs, immutable once published.
type Snapshot struct {
	Config *config.Config
	State  State
	Master *DataSource
	Slaves []*DataSource
	// ByName holds every data source of the config, rule members or not.
	ByName map[string]*DataSource

	balance Balancer
}

// Balancer picks a slave among candidates: those with the bit of their
// index clear in excluded. It returns nil when there is none.
type Balancer interface {
	Next(slaves []*DataSource, excluded uint64) *DataSource
}

type roundRobin struct{ n atomic.Uint64 }

func (b *roundRobin) Next(slaves []*DataSource, excluded uint64) *DataSource {
	if len(slaves) == 0 {
		return nil
	}
	start := int(b.n.Add(1) % uint64(len(slaves)))
	for i := range slaves {
		j := (start + i) % len(slaves)
		if excluded&(1<<uint(j)) == 0 {
			return slaves[j]
		}
	}
	return nil
}

type random struct{}

func (random) Next(slaves []*DataSource, excluded uint64) *DataSource {
	if len(slaves) == 0 {
		return nil
	}
	start := rand.IntN(len(slaves))
	for i := range slaves {
		j := (start + i) % len(slaves)
		if excluded&(1<<uint(j)) == 0 {
			return slaves[j]
		}
	}
	return nil
}

type weighted struct{}

func (weighted) Next(slaves []*DataSource, excluded uint64) *DataSource {
	sum := 0
	for i, s := range slaves {
		if excluded&(1<<uint(i)) == 0 {
			sum += s.Weight
		}
	}
	if sum == 0 {
		return nil
	}
	r := rand.IntN(sum)
	for i, s := range slaves {
		if excluded&(1<<uint(i)) != 0 {
			continue
		}
		if r < s.Weight {
			return s
		}
		r -= s.Weight
	}
	return nil
}

// Runtime owns the pools and publishes snapshots.
type Runtime struct {
	snap  atomic.Pointer[Snapshot]
	mu    sync.Mutex // serialises Apply, SetState and Close
	pools map[string]*backend.Pool
	cache *Cache
	// balancers survive config swaps so round robin keeps its position.
	rr *roundRobin
}

// NewRuntime opens the pools of cfg (lazily connecting) and publishes the
// first snapshot.
func NewRuntime(cfg *config.Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runtime{pools: map[string]*backend.Pool{}, cache: NewCache(cfg.Props.StatementCacheSize), rr: &roundRobin{}}
	if err := r.Apply(cfg); err != nil {
		return nil, err
	}
	return r, nil
}

// Snapshot returns the current snapshot. Callers use one per statement.
func (r *Runtime) Snapshot() *Snapshot { return r.snap.Load() }

// Cache is the statement classification cache.
func (r *Runtime) Cache() *Cache { return r.cache }

// Apply validates cfg and swaps it in live. Pools of data sources whose
// settings did not change are kept; new ones are opened before the swap;
// removed or changed ones are closed after it (connections in use finish
// their statement, then close). The registry state is carried over.
func (r *Runtime) Apply(cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var st State
	if old := r.snap.Load(); old != nil {
		st = old.State
	}
	pools := make(map[string]*backend.Pool, len(cfg.DataSources))
	for name, ds := range cfg.DataSources {
		// A slave's pool opens read-only sessions; a data source that
		// changes role gets a new pool.
		ro := cfg.IsSlave(name)
		if p := r.pools[name]; p != nil && *p.Config() == *ds && p.ReadOnly() == ro {
			pools[name] = p
			continue
		}
		pools[name] = backend.NewPool(name, ds, ro)
	}
	s, err := r.build(cfg, st, pools)
	if err != nil {
		for name, p := range pools {
			if r.pools[name] != p {
				p.Close()
			}
		}
		return err
	}
	r.snap.Store(s)
	for name, p := range r.pools {
		if pools[name] != p {
			p.Close()
		}
	}
	r.pools = pools
	return nil
}

// SetState swaps in new registry state (disabled data sources, instance
// circuit breaker) with the current config.
func (r *Runtime) SetState(st State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	if old == nil {
		return errors.New("engine: runtime closed")
	}
	s, err := r.build(old.Config, st, r.pools)
	if err != nil {
		return err
	}
	r.snap.Store(s)
	return nil
}

func (r *Runtime) build(cfg *config.Config, st State, pools map[string]*backend.Pool) (*Snapshot, error) {
	dis := make(map[string]string, len(st.DisabledDataSources))
	for k, v := range st.DisabledDataSources {
		dis[k] = v
	}
	st.DisabledDataSources = dis
	s := &Snapshot{Config: cfg, State: st, ByName: map[string]*DataSource{}}
	names := make([]string, 0, len(cfg.DataSources))
	for n := range cfg.DataSources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path, off := dis[n]
		s.ByName[n] = &DataSource{Name: n, Pool: pools[n], Slave: -1, Weight: cfg.DataSources[n].Weight, Disabled: off, DisabledPath: path}
	}
	rule := cfg.MasterSlaveRule
	s.Master = s.ByName[rule.MasterDataSourceName]
	if s.Master == nil {
		return nil, fmt.Errorf("masterSlaveRule.masterDataSourceName: unknown data source %q", rule.MasterDataSourceName)
	}
	for i, n := range rule.SlaveDataSourceNames {
		ds := s.ByName[n]
		ds.Slave = i
		s.Slaves = append(s.Slaves, ds)
	}
	switch rule.LoadBalanceAlgorithmType {
	case config.Random:
		s.balance = random{}
	case config.Weight:
		s.balance = weighted{}
	default:
		s.balance = r.rr
	}
	return s, nil
}

// Close closes every pool. The runtime must not be used afterwards.
func (r *Runtime) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pools {
		p.Close()
	}
	r.pools = nil
}
