package orchestration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/registry"
)

// Runtime is what the orchestrator drives: the routing runtime.
type Runtime interface {
	Apply(cfg *config.Config) error
	SetState(st config.State) error
}

// Status is what an instance reports about its orchestration.
type Status struct {
	InstanceID          string
	InstancePath        string
	InstanceDisabled    bool
	DisabledDataSources []string
	// ConfigVersion is the highest version among the applied config nodes.
	ConfigVersion registry.Version
	// ConfigError is why the newest config in the registry was rejected,
	// empty when the applied config is the newest.
	ConfigError string
	// UnrecognizedStateNodes are the state nodes of this instance and of
	// the data sources whose value is neither empty nor DISABLED (they
	// count as enabled), as "path=value".
	UnrecognizedStateNodes []string
	// RegistryConnected is the registry session's state.
	RegistryConnected bool
	UpdatedAt         time.Time
}

// Orchestrator ties one instance to its registry.
type Orchestrator struct {
	reg   registry.Registry
	root  string // the registry namespace, for full node paths in messages
	id    string
	local *config.Config
	log   *slog.Logger

	trigger chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu           sync.Mutex
	cfgNodes     map[string]registry.Node // config subtree as last seen
	stateNodes   map[string]registry.Node // state subtree as last seen
	applied      map[string][]byte        // config node values in force
	cfg          *config.Config           // config in force
	state        config.State             // state in force
	status       Status
	warnedNames  map[string]bool
	warnedValues map[string]bool // unrecognized state values already logged
	registered   bool
	rt           Runtime
}

// New resolves the instance's config against the registry reg (whose
// namespace is the orchestration root) and returns the orchestrator with
// the config to build the runtime from:
//   - overwrite, or a registry without config: the file's config is written
//     to the registry (the file must then hold one);
//   - otherwise the registry's config wins; the file may hold only the
//     registry settings.
//
// It also creates the state node of each data source that lacks one.
func New(ctx context.Context, reg registry.Registry, f *File) (*Orchestrator, *config.Config, error) {
	ip := f.Orchestration.InstanceIP
	if ip == "" {
		ip = LocalIP()
	}
	o := &Orchestrator{
		reg:         reg,
		root:        Root(f.Orchestration.Registry.Namespace, f.Orchestration.Name),
		id:          InstanceID(ip, os.Getpid()),
		local:       &f.Config,
		log:         slog.Default().With("component", "orchestration"),
		trigger:     make(chan struct{}, 1),
		warnedNames: map[string]bool{}, warnedValues: map[string]bool{},
	}
	o.status.InstanceID = o.id
	o.status.InstancePath = InstancePath(o.id)

	nodes, err := ReadConfig(ctx, o.reg)
	if err != nil {
		return nil, nil, err
	}
	var cfg *config.Config
	switch {
	case f.Orchestration.Overwrite || len(nodes) == 0:
		if !f.HasShared() {
			return nil, nil, fmt.Errorf("no configuration: the registry has no %s nodes and the file has no dataSources", ConfigDir)
		}
		local := f.Config
		if err := local.Validate(); err != nil {
			return nil, nil, err
		}
		if err := o.writeConfig(ctx, &local); err != nil {
			return nil, nil, err
		}
		if nodes, err = ReadConfig(ctx, o.reg); err != nil {
			return nil, nil, err
		}
		fallthrough
	default:
		if cfg, err = decodeShared(o.local, values(nodes)); err != nil {
			return nil, nil, err
		}
	}
	o.cfg = cfg
	o.applied = values(nodes)
	o.status.ConfigVersion = maxVersion(nodes)
	if err := o.ensureDataSourceNodes(ctx, cfg); err != nil {
		return nil, nil, err
	}
	return o, cfg, nil
}

// ID is the instance id, {ip}@-@{pid}.
func (o *Orchestrator) ID() string { return o.id }

// Publish validates cfg and writes its shared part (data sources, rule,
// props, users) to the registry; every instance then applies it.
func (o *Orchestrator) Publish(ctx context.Context, cfg *config.Config) error {
	return o.writeConfig(ctx, cfg)
}

// writeConfig writes cfg's config nodes.
func (o *Orchestrator) writeConfig(ctx context.Context, cfg *config.Config) error {
	if err := WriteConfig(ctx, o.reg, cfg); err != nil {
		return err
	}
	o.log.Info("configuration written to the registry", "nodes", strings.Join(SharedNodes, ","))
	return nil
}

// ensureDataSourceNodes creates the empty state node of each data source;
// existing nodes (maybe DISABLED) are never overwritten.
func (o *Orchestrator) ensureDataSourceNodes(ctx context.Context, cfg *config.Config) error {
	for _, name := range slices.Sorted(maps.Keys(cfg.DataSources)) {
		if _, err := o.reg.Create(ctx, DataSourcePath(name), nil); err != nil && !errors.Is(err, registry.ErrExists) {
			return fmt.Errorf("create state node of data source %s: %w", name, err)
		}
	}
	return nil
}

// Start applies the registry's current state to rt before returning (a data
// source disabled before the instance started stays disabled), then keeps
// rt in step with the registry until Close. Call it before serving, and
// Register once the instance serves.
func (o *Orchestrator) Start(ctx context.Context, rt Runtime) error {
	o.rt = rt
	wctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	var chans []<-chan registry.Event
	for _, dir := range []string{StateDir, ConfigDir} {
		ch, err := o.reg.Watch(wctx, dir)
		if err != nil {
			cancel()
			return fmt.Errorf("watch %s: %w", dir, err)
		}
		// The first event is the snapshot: take it now so that the state
		// is in force before the first client connects.
		select {
		case ev := <-ch:
			o.record(dir, ev)
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		}
		chans = append(chans, ch)
	}
	o.update()
	for i, dir := range []string{StateDir, ConfigDir} {
		o.wg.Add(1)
		go o.follow(dir, chans[i])
	}
	o.wg.Add(2)
	go o.updater(wctx)
	go o.session(wctx)
	return nil
}

// Register creates the instance's ephemeral node and, when meta is not
// nil, its metadata node.
func (o *Orchestrator) Register(ctx context.Context, meta *InstanceMeta) error {
	if meta != nil {
		b, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		if err := o.reg.PutEphemeral(ctx, MetaPath(o.id), b); err != nil {
			return fmt.Errorf("publish metadata of instance %s: %w", o.id, err)
		}
	}
	if err := o.reg.PutEphemeral(ctx, InstancePath(o.id), nil); err != nil {
		return fmt.Errorf("register instance %s: %w", o.id, err)
	}
	o.mu.Lock()
	o.registered = true
	o.mu.Unlock()
	o.log.Info("instance registered", "node", InstancePath(o.id))
	return nil
}

// Close stops following the registry and deletes the instance's node.
func (o *Orchestrator) Close() error {
	if o.cancel != nil {
		o.cancel()
	}
	o.wg.Wait()
	o.mu.Lock()
	registered := o.registered
	o.registered = false
	o.mu.Unlock()
	if registered {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := o.reg.Delete(ctx, InstancePath(o.id), false); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("deregister instance %s: %w", o.id, err)
		}
		if err := o.reg.Delete(ctx, MetaPath(o.id), false); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("delete metadata of instance %s: %w", o.id, err)
		}
	}
	return nil
}

// Status returns the instance's orchestration status.
func (o *Orchestrator) Status() Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.status
	s.DisabledDataSources = slices.Clone(s.DisabledDataSources)
	return s
}

// follow records a watch's events until it ends.
func (o *Orchestrator) follow(dir string, ch <-chan registry.Event) {
	defer o.wg.Done()
	for ev := range ch {
		if ev.Type == registry.EventError {
			if !errors.Is(ev.Err, context.Canceled) && !errors.Is(ev.Err, registry.ErrClosed) {
				o.log.Error("registry watch ended", "dir", dir, "err", ev.Err)
			}
			continue
		}
		o.record(dir, ev)
		select {
		case o.trigger <- struct{}{}:
		default:
		}
	}
}

func (o *Orchestrator) record(dir string, ev registry.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	view := &o.stateNodes
	if dir == ConfigDir {
		view = &o.cfgNodes
	}
	switch ev.Type {
	case registry.EventSnapshot:
		*view = make(map[string]registry.Node, len(ev.Nodes))
		for _, n := range ev.Nodes {
			(*view)[n.Path] = n
		}
	case registry.EventPut:
		(*view)[ev.Path] = ev.Node
	case registry.EventDelete:
		delete(*view, ev.Path)
	}
}

func (o *Orchestrator) updater(ctx context.Context) {
	defer o.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.trigger:
			o.update()
		}
	}
}

// session mirrors the registry session's health into the status.
func (o *Orchestrator) session(ctx context.Context) {
	defer o.wg.Done()
	for {
		st, changed := o.reg.Session()
		o.mu.Lock()
		was := o.status.RegistryConnected
		o.status.RegistryConnected = st.Connected
		o.mu.Unlock()
		if was != st.Connected {
			if st.Connected {
				o.log.Info("registry connected", "generation", st.Generation)
			} else {
				o.log.Warn("registry unreachable; serving with the last known state", "err", st.Err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// update rebuilds config and state from what the watches recorded and hands
// whatever changed to the runtime.
func (o *Orchestrator) update() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.updateConfigLocked()
	o.updateStateLocked()
	o.status.UpdatedAt = time.Now()
}

func (o *Orchestrator) updateConfigLocked() {
	nodes := map[string]registry.Node{}
	for _, p := range SharedNodes {
		if n, ok := o.cfgNodes[p]; ok {
			nodes[p] = n
		}
	}
	vals := values(nodes)
	if maps.EqualFunc(vals, o.applied, bytes.Equal) {
		if o.status.ConfigError != "" {
			// The last good values were put back: nothing to apply, but
			// the registry is no longer rejected.
			o.log.Info("configuration in the registry is the one in force again", "nodes", ConfigDir)
			o.status.ConfigError = ""
		}
		return
	}
	cfg, err := decodeShared(o.local, vals)
	if err == nil {
		err = o.rt.Apply(cfg)
	}
	if err != nil {
		msg := err.Error()
		if o.status.ConfigError != msg {
			o.log.Error("configuration in the registry rejected; the last good configuration stays in force", "nodes", ConfigDir, "err", msg)
		}
		o.status.ConfigError = msg
		return
	}
	o.cfg, o.applied = cfg, vals
	o.status.ConfigError = ""
	o.status.ConfigVersion = maxVersion(nodes)
	o.log.Info("configuration applied", "nodes", ConfigDir, "version", o.status.ConfigVersion, "dataSources", strings.Join(slices.Sorted(maps.Keys(cfg.DataSources)), ","))
	// New data sources get their state node (outside the lock: it is I/O).
	o.wg.Add(1)
	go func(cfg *config.Config) {
		defer o.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := o.ensureDataSourceNodes(ctx, cfg); err != nil {
			o.log.Warn("creating data source state nodes", "err", err)
		}
	}(cfg)
}

func (o *Orchestrator) updateStateLocked() {
	st := config.State{DisabledDataSources: map[string]string{}, InstancePath: o.root + InstancePath(o.id)}
	var odd []string
	for p, n := range o.stateNodes {
		name, isDS := strings.CutPrefix(p, DataSourcesDir+"/")
		if (p == InstancePath(o.id) || isDS && !strings.Contains(name, "/")) && !IsRecognized(n.Value) {
			entry := o.root + p + "=" + string(n.Value)
			odd = append(odd, entry)
			if !o.warnedValues[entry] {
				o.warnedValues[entry] = true
				o.log.Warn("state node holds a value that is neither empty nor DISABLED; treated as enabled", "node", o.root+p, "value", string(n.Value))
			}
		}
	}
	slices.Sort(odd)
	o.status.UnrecognizedStateNodes = odd
	if n, ok := o.stateNodes[InstancePath(o.id)]; ok && IsDisabled(n.Value) {
		st.InstanceDisabled = true
	}
	for p, n := range o.stateNodes {
		name, ok := strings.CutPrefix(p, DataSourcesDir+"/")
		if !ok || strings.Contains(name, "/") || !IsDisabled(n.Value) {
			continue
		}
		if _, known := o.cfg.DataSources[name]; !known {
			if !o.warnedNames[name] {
				o.warnedNames[name] = true
				o.log.Warn("ignoring DISABLED for an unknown data source", "node", p)
			}
			continue
		}
		st.DisabledDataSources[name] = o.root + p
	}
	if st.InstanceDisabled == o.state.InstanceDisabled && maps.Equal(st.DisabledDataSources, o.state.DisabledDataSources) && o.state.InstancePath != "" {
		return
	}
	if err := o.rt.SetState(st); err != nil {
		o.log.Error("applying registry state failed", "err", err)
		return
	}
	o.logStateChanges(o.state, st)
	o.state = st
	o.status.InstanceDisabled = st.InstanceDisabled
	o.status.DisabledDataSources = slices.Sorted(maps.Keys(st.DisabledDataSources))
}

// logStateChanges logs each change once, with its node.
func (o *Orchestrator) logStateChanges(old, cur config.State) {
	if old.InstanceDisabled != cur.InstanceDisabled {
		if cur.InstanceDisabled {
			o.log.Warn("instance circuit-broken: every statement is rejected", "node", cur.InstancePath)
		} else if old.InstancePath != "" {
			o.log.Info("instance enabled again", "node", cur.InstancePath)
		}
	}
	for name, p := range cur.DisabledDataSources {
		if _, was := old.DisabledDataSources[name]; !was {
			o.log.Warn("data source disabled", "dataSource", name, "node", p)
		}
	}
	for name := range old.DisabledDataSources {
		if _, still := cur.DisabledDataSources[name]; !still {
			o.log.Info("data source enabled", "dataSource", name, "node", o.root+DataSourcePath(name))
		}
	}
}

func values(nodes map[string]registry.Node) map[string][]byte {
	out := make(map[string][]byte, len(nodes))
	for p, n := range nodes {
		out[p] = n.Value
	}
	return out
}

func maxVersion(nodes map[string]registry.Node) registry.Version {
	var v registry.Version
	for _, n := range nodes {
		v = max(v, n.Version)
	}
	return v
}
