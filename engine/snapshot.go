package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/gtid"
	"github.com/shardgate/shardgate/sharding"
)

// DataSource is a data source as routing sees it.
type DataSource struct {
	Name string
	// Pool is the front end's pool (from its PoolFactory); Health is the
	// engine's view of whether the data source can be reached.
	Pool   Pool
	Health *Health
	// Group is the group it belongs to (nil: in none); Slave is its index
	// among the group's slaves, -1 for a master or a data source in no
	// group.
	Group *Group
	Slave int
	// ID numbers the snapshot's data sources (for Tried).
	ID int
	// Weight for the WEIGHT algorithm.
	Weight int
	// Disabled by the registry; DisabledPath names the node for errors.
	Disabled     bool
	DisabledPath string
}

// IsMaster reports whether ds is its group's master.
func (ds *DataSource) IsMaster() bool { return ds.Group != nil && ds.Group.Master == ds }

// Group is a master with its slaves and how reads are balanced over them.
type Group struct {
	Name    string
	Master  *DataSource
	Slaves  []*DataSource
	balance Balancer
}

// Snapshot is everything routing needs, immutable once published.
type Snapshot struct {
	Config *config.Config
	State  config.State
	// Groups are the master/slave groups; read/write splitting has one,
	// named after masterSlaveRule.name.
	Groups []*Group
	// Default is the group of statements that name no other (Groups[0]).
	Default *Group
	// ByName holds every data source of the config, in a group or not.
	ByName map[string]*DataSource
	// Router plans statements on sharded and broadcast tables (nil: the
	// config has no sharding rule).
	Router *sharding.Router
	// byGroup finds a group by name: the data-node targets of a sharding
	// rule (master/slave groups, or data sources as groups of their own).
	byGroup map[string]*Group
}

// Balancer picks a slave for a read among the usable ones (enabled,
// healthy, not yet tried); nil when there is none. tried is passed by
// value so that an attempt's set does not escape through the interface.
type Balancer interface {
	Next(slaves []*DataSource, tried Tried) *DataSource
}

// roundRobin takes the slaves in turn, one counter for the runtime. A
// turn per session would spare the counter's cache line, but it made every
// reader of TestHealthSlaveStopped end up waiting on the stopped slave in 2
// runs of 12, against none of 12 with the shared counter. With one slave
// there is nothing to count.
type roundRobin struct{ n atomic.Uint64 }

func (b *roundRobin) Next(slaves []*DataSource, tried Tried) *DataSource {
	switch len(slaves) {
	case 0:
		return nil
	case 1:
		if usable(slaves[0], &tried) {
			return slaves[0]
		}
		return nil
	}
	start := int(b.n.Add(1) % uint64(len(slaves)))
	for i := range slaves {
		if ds := slaves[(start+i)%len(slaves)]; usable(ds, &tried) {
			return ds
		}
	}
	return nil
}

type random struct{}

func (random) Next(slaves []*DataSource, tried Tried) *DataSource {
	if len(slaves) == 0 {
		return nil
	}
	start := rand.IntN(len(slaves))
	for i := range slaves {
		if ds := slaves[(start+i)%len(slaves)]; usable(ds, &tried) {
			return ds
		}
	}
	return nil
}

type weighted struct{}

func (weighted) Next(slaves []*DataSource, tried Tried) *DataSource {
	sum := 0
	for _, ds := range slaves {
		if usable(ds, &tried) {
			sum += ds.Weight
		}
	}
	if sum <= 0 {
		return nil
	}
	r := rand.IntN(sum)
	for _, ds := range slaves {
		if !usable(ds, &tried) {
			continue
		}
		if r < ds.Weight {
			return ds
		}
		r -= ds.Weight
	}
	return nil
}

// Runtime owns the pools (opened by the front end's factory) and their
// health, and publishes snapshots.
type Runtime struct {
	snap    atomic.Pointer[Snapshot]
	mu      sync.Mutex // serialises Apply, SetState and Close
	open    PoolFactory
	members map[string]*member
	cache   *Cache
	// rr survives config swaps so round robin keeps its position.
	rr *roundRobin
	// keys issues SNOWFLAKE keys; it survives config swaps so that keys
	// keep increasing.
	keys *sharding.Snowflake
	// shared are the commits of every session (props.causalScope
	// instance), immutable once stored; each store has a new version.
	shared atomic.Pointer[sharedMarks]
}

type sharedMarks struct {
	version uint64
	marks   []mark
}

// Committed records that session s's commit on master got GTID g: for
// the causal reads of s, and in props.causalScope instance for those of
// every session of the runtime.
func (r *Runtime) Committed(s *Session, master string, g gtid.GTID) {
	s.Committed(master, g)
	if r.Snapshot().Config.Props.CausalScope != config.CausalInstance {
		return
	}
	for {
		old := r.shared.Load()
		n := &sharedMarks{version: 1}
		if old != nil {
			n.version = old.version + 1
			n.marks = make([]mark, len(old.marks), len(old.marks)+1)
			for i, m := range old.marks {
				n.marks[i] = mark{master: m.master, pos: append(gtid.Pos(nil), m.pos...)}
			}
		}
		found := false
		for i := range n.marks {
			if n.marks[i].master == master {
				n.marks[i].pos, found = n.marks[i].pos.With(g), true
			}
		}
		if !found {
			n.marks = append(n.marks, mark{master: master, pos: gtid.Pos{g}})
		}
		if r.shared.CompareAndSwap(old, n) {
			return
		}
	}
}

// catchUp gives session s the commits of every session (scope instance)
// it has not seen yet: one atomic load when there are none.
func (r *Runtime) catchUp(snap *Snapshot, s *Session) {
	sh := r.shared.Load()
	if sh == nil || sh.version == s.sharedVersion || snap.Config.Props.CausalScope != config.CausalInstance ||
		snap.Config.Props.ReadYourWrites != config.RYWCausal {
		return
	}
	s.sharedVersion = sh.version
	for _, m := range sh.marks {
		for _, g := range m.pos {
			s.Committed(m.master, g)
		}
	}
	s.wrote = true // reads wait for those commits as for its own
}

// Keys is the SNOWFLAKE generator of the runtime's sharding rules; its
// worker id is granted by the caller (orchestration claims one).
func (r *Runtime) Keys() *sharding.Snowflake { return r.keys }

// NewRuntime opens the pools of cfg with open (they connect lazily) and
// publishes the first snapshot.
func NewRuntime(cfg *config.Config, open PoolFactory) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runtime{open: open, members: map[string]*member{}, cache: NewCache(cfg.Props.StatementCacheSize), rr: &roundRobin{},
		keys: sharding.NewClaimedSnowflake()}
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
	var router *sharding.Router
	if cfg.ShardingRule != nil {
		var err error
		if router, err = sharding.New(cfg.ShardingRule, cfg.Props.ShardingMaxRows, r.keys); err != nil {
			return &Error{Kind: ErrUnsupported, Code: ErrCodeUnsupported, SQLState: "42000", Message: err.Error()}
		}
		if cfg.Props.ShardingCompareLocally {
			router.CompareLocally()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var st config.State
	if old := r.snap.Load(); old != nil {
		st = old.State
	}
	if r.members == nil {
		return errors.New("engine: runtime closed")
	}
	members := make(map[string]*member, len(cfg.DataSources))
	damp := Damping{Failures: cfg.Props.HealthFailures, Successes: cfg.Props.HealthSuccesses, MaxLag: cfg.Props.MaxReplicationLag,
		FlapLimit: cfg.Props.HealthFlapLimit, FlapWindow: cfg.Props.HealthFlapWindow}
	var opened []*member
	abort := func() {
		for _, m := range opened {
			m.close()
		}
	}
	for _, name := range sortedNames(cfg) {
		ds := cfg.DataSources[name]
		// A slave's pool opens read-only sessions; a data source that
		// changes role gets a new pool.
		ro := cfg.IsSlave(name)
		if m := r.members[name]; m != nil && m.cfg == *ds && m.readOnly == ro {
			m.damp.Store(&damp)
			members[name] = m
			continue
		}
		m, err := openMember(name, ds, ro, r.open, damp)
		if err != nil {
			abort()
			return fmt.Errorf("dataSources.%s: %w", name, err)
		}
		members[name] = m
		opened = append(opened, m)
	}
	s, err := r.build(cfg, st, members, router)
	if err != nil {
		abort()
		return err
	}
	r.snap.Store(s)
	for name, m := range r.members {
		if members[name] != m {
			m.close()
		}
	}
	r.members = members
	return nil
}

// SetState swaps in new registry state (disabled data sources, instance
// circuit breaker) with the current config.
func (r *Runtime) SetState(st config.State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	if old == nil {
		return errors.New("engine: runtime closed")
	}
	s, err := r.build(old.Config, st, r.members, old.Router)
	if err != nil {
		return err
	}
	r.snap.Store(s)
	return nil
}

func sortedNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.DataSources))
	for n := range cfg.DataSources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *Runtime) build(cfg *config.Config, st config.State, members map[string]*member, router *sharding.Router) (*Snapshot, error) {
	dis := make(map[string]string, len(st.DisabledDataSources))
	for k, v := range st.DisabledDataSources {
		dis[k] = v
	}
	st.DisabledDataSources = dis
	s := &Snapshot{Config: cfg, State: st, ByName: map[string]*DataSource{}}
	for i, n := range sortedNames(cfg) {
		path, off := dis[n]
		m := members[n]
		s.ByName[n] = &DataSource{Name: n, Pool: m.pool, Health: m.health, Slave: -1, ID: i, Weight: cfg.DataSources[n].Weight, Disabled: off, DisabledPath: path}
	}
	s.Router = router
	if cfg.ShardingRule != nil {
		if err := r.shardGroups(s, cfg.ShardingRule); err != nil {
			return nil, err
		}
		return s, nil
	}
	g, err := r.group(s, cfg.MasterSlaveRule.Name, &cfg.MasterSlaveRule)
	if err != nil {
		return nil, err
	}
	s.Groups = []*Group{g}
	s.Default = g
	return s, nil
}

// group builds a master/slave group of the snapshot's data sources.
func (r *Runtime) group(s *Snapshot, name string, rule *config.MasterSlaveRule) (*Group, error) {
	g := &Group{Name: name, Master: s.ByName[rule.MasterDataSourceName]}
	if g.Master == nil {
		return nil, fmt.Errorf("%s.masterDataSourceName: unknown data source %q", name, rule.MasterDataSourceName)
	}
	g.Master.Group = g
	for i, n := range rule.SlaveDataSourceNames {
		ds := s.ByName[n]
		if ds == nil {
			return nil, fmt.Errorf("%s.slaveDataSourceNames: unknown data source %q", name, n)
		}
		ds.Group, ds.Slave = g, i
		g.Slaves = append(g.Slaves, ds)
	}
	switch rule.LoadBalanceAlgorithmType {
	case config.Random:
		g.balance = random{}
	case config.Weight:
		g.balance = weighted{}
	default:
		g.balance = r.rr
	}
	return g, nil
}

// shardGroups builds the groups a sharding rule's data nodes name: its
// master/slave groups, or its data sources, each a group with no slave.
// The default group is defaultDataSourceName's (else the first).
func (r *Runtime) shardGroups(s *Snapshot, rule *config.ShardingRule) error {
	s.byGroup = map[string]*Group{}
	for _, name := range s.Router.Targets() {
		var g *Group
		var err error
		if ms := rule.MasterSlaveRules[name]; ms != nil {
			g, err = r.group(s, name, ms)
		} else {
			g, err = r.group(s, name, &config.MasterSlaveRule{MasterDataSourceName: name})
		}
		if err != nil {
			return fmt.Errorf("shardingRule: %w", err)
		}
		s.byGroup[name] = g
		s.Groups = append(s.Groups, g)
	}
	if len(s.Groups) == 0 {
		return errors.New("shardingRule: no data node")
	}
	s.Default = s.Groups[0]
	if g := s.byGroup[rule.DefaultDataSourceName]; g != nil {
		s.Default = g
	}
	return nil
}

// Close stops the probes and closes every pool. The runtime must not be
// used afterwards; Apply fails.
func (r *Runtime) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.members {
		m.close()
	}
	r.members = nil
}
