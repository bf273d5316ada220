// Package ctl is the operator's tool over a registry: list instances and
// data sources, disable and enable them, show and apply the configuration.
// It writes the same plain values an operator would with zkCli.sh or
// etcdctl, so both ways stay interchangeable.
package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/health"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/sharding"
)

// Ctl runs operator commands against one orchestration's registry.
type Ctl struct {
	Reg registry.Registry
	// Root is the orchestration root, shown in messages (the registry
	// client is already rooted there).
	Root string
	Out  io.Writer
	// In answers the confirmation of config apply.
	In io.Reader
	// JSON selects JSON output instead of tables.
	JSON bool
}

// ErrUnknown is returned for an instance or data source that does not exist.
var ErrUnknown = errors.New("unknown")

// Instance is one row of Instances.
type Instance struct {
	ID    string `json:"id"`
	State string `json:"state"` // enabled or disabled
	orchestration.InstanceMeta
}

// Instances lists the running instances.
func (c *Ctl) Instances(ctx context.Context) ([]Instance, error) {
	ids, err := c.Reg.Children(ctx, orchestration.InstancesDir)
	if err != nil {
		return nil, err
	}
	var out []Instance
	for _, id := range ids {
		v, _, err := c.Reg.Get(ctx, orchestration.InstancePath(id))
		if errors.Is(err, registry.ErrNotFound) {
			continue // gone meanwhile
		}
		if err != nil {
			return nil, err
		}
		in := Instance{ID: id, State: state(v)}
		if b, _, err := c.Reg.Get(ctx, orchestration.MetaPath(id)); err == nil {
			json.Unmarshal(b, &in.InstanceMeta) // metadata is informative; garbage leaves it empty
		}
		out = append(out, in)
	}
	return out, nil
}

// PrintInstances prints Instances.
func (c *Ctl) PrintInstances(ctx context.Context) error {
	ins, err := c.Instances(ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		return c.json(ins)
	}
	return c.table([]string{"ID", "STATE", "ADDRESS", "ADMIN", "VERSION", "STARTED"}, len(ins), func(i int) []string {
		in := ins[i]
		started := ""
		if !in.StartedAt.IsZero() {
			started = in.StartedAt.Format("2006-01-02T15:04:05Z07:00")
		}
		return []string{in.ID, in.State, in.Address, in.Admin, in.Version, started}
	})
}

// DataSource is one row of DataSources.
type DataSource struct {
	Name  string `json:"name"`
	Role  string `json:"role"` // master, slave, unused, or unknown (state node only)
	State string `json:"state"`
	URL   string `json:"url,omitempty"`
}

// HealthRow is one line of Health: what one instance's monitor sees of
// one data source.
type HealthRow struct {
	Instance   string `json:"instance"`
	DataSource string `json:"dataSource"`
	health.Report
}

// Health lists every instance's published health (state/health).
func (c *Ctl) Health(ctx context.Context) ([]HealthRow, error) {
	all, err := orchestration.ReadHealth(ctx, c.Reg)
	if err != nil {
		return nil, err
	}
	var out []HealthRow
	for _, id := range slices.Sorted(maps.Keys(all)) {
		for _, ds := range slices.Sorted(maps.Keys(all[id])) {
			out = append(out, HealthRow{Instance: id, DataSource: ds, Report: all[id][ds]})
		}
	}
	return out, nil
}

// PrintHealth prints Health.
func (c *Ctl) PrintHealth(ctx context.Context) error {
	rows, err := c.Health(ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		return c.json(rows)
	}
	return c.table([]string{"INSTANCE", "DATASOURCE", "STATUS", "LAG", "REPLICATION", "SINCE", "ERROR"}, len(rows), func(i int) []string {
		r := rows[i]
		lag, repl, since := "", "", ""
		if r.LagSeconds != nil {
			lag = fmt.Sprintf("%.0fs", *r.LagSeconds)
		}
		if r.Replica {
			repl = fmt.Sprintf("io=%v sql=%v", r.IORunning, r.SQLRunning)
		}
		if !r.Since.IsZero() {
			since = r.Since.Format("2006-01-02T15:04:05Z07:00")
		}
		return []string{r.Instance, r.DataSource, r.Status, lag, repl, since, r.Error}
	})
}

// DataSources lists the configured data sources with their state.
func (c *Ctl) DataSources(ctx context.Context) ([]DataSource, error) {
	cfg, _, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	names, err := c.Reg.Children(ctx, orchestration.DataSourcesDir)
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for _, n := range names {
		all[n] = true
	}
	if cfg != nil {
		for n := range cfg.DataSources {
			all[n] = true
		}
	}
	var out []DataSource
	for _, n := range slices.Sorted(maps.Keys(all)) {
		ds := DataSource{Name: n, Role: "unknown", State: "enabled"}
		if cfg != nil {
			if d := cfg.DataSources[n]; d != nil {
				ds.URL, ds.Role = d.URL, "unused"
			}
			if cfg.MasterSlaveRule.MasterDataSourceName == n {
				ds.Role = "master"
			} else if slices.Contains(cfg.MasterSlaveRule.SlaveDataSourceNames, n) {
				ds.Role = "slave"
			}
		}
		if v, _, err := c.Reg.Get(ctx, orchestration.DataSourcePath(n)); err == nil {
			ds.State = state(v)
		} else if !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
		out = append(out, ds)
	}
	return out, nil
}

// PrintDataSources prints DataSources.
func (c *Ctl) PrintDataSources(ctx context.Context) error {
	dss, err := c.DataSources(ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		return c.json(dss)
	}
	return c.table([]string{"NAME", "ROLE", "STATE", "URL"}, len(dss), func(i int) []string {
		d := dss[i]
		return []string{d.Name, d.Role, d.State, d.URL}
	})
}

// SetInstance disables (circuit breaker) or enables a running instance.
func (c *Ctl) SetInstance(ctx context.Context, id string, disabled bool) error {
	p := orchestration.InstancePath(id)
	_, ver, err := c.Reg.Get(ctx, p)
	if errors.Is(err, registry.ErrNotFound) {
		ids, _ := c.Reg.Children(ctx, orchestration.InstancesDir)
		return fmt.Errorf("%w instance %q under %s; running instances: %s", ErrUnknown, id, c.Root+orchestration.InstancesDir, list(ids))
	}
	if err != nil {
		return err
	}
	// Compare-and-set: never create a node for an instance that just went.
	if _, err := c.Reg.CompareAndSet(ctx, p, value(disabled), ver); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("%w instance %q: it stopped meanwhile", ErrUnknown, id)
		}
		if errors.Is(err, registry.ErrBadVersion) {
			return c.SetInstance(ctx, id, disabled)
		}
		return err
	}
	fmt.Fprintf(c.Out, "instance %s %s (%s)\n", id, word(disabled), c.Root+p)
	return nil
}

// SetDataSource disables or enables a configured data source.
func (c *Ctl) SetDataSource(ctx context.Context, name string, disabled bool) error {
	cfg, _, err := c.config(ctx)
	if err != nil {
		return err
	}
	if cfg == nil || cfg.DataSources[name] == nil {
		var names []string
		if cfg != nil {
			names = slices.Sorted(maps.Keys(cfg.DataSources))
		}
		return fmt.Errorf("%w data source %q; configured data sources: %s", ErrUnknown, name, list(names))
	}
	p := orchestration.DataSourcePath(name)
	if _, err := c.Reg.Put(ctx, p, value(disabled)); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "data source %s %s (%s)\n", name, word(disabled), c.Root+p)
	return nil
}

// config returns the registry's config (nil when there is none) and its
// raw nodes.
func (c *Ctl) config(ctx context.Context) (*config.Config, map[string]registry.Node, error) {
	nodes, err := orchestration.ReadConfig(ctx, c.Reg)
	if err != nil || len(nodes) == 0 {
		return nil, nodes, err
	}
	vals := map[string][]byte{}
	for p, n := range nodes {
		vals[p] = n.Value
	}
	cfg, err := orchestration.DecodeShared(&config.Config{}, vals)
	if err != nil {
		return nil, nodes, fmt.Errorf("the registry's config does not validate: %w", err)
	}
	return cfg, nodes, nil
}

// PreviewRow is one unit of Preview.
type PreviewRow struct {
	// Target is the master/slave group or data source the unit runs on
	// (an instance picks the data source in it: master or a slave).
	Target string `json:"target"`
	SQL    string `json:"sql"`
}

// Preview plans sql with the registry's sharding rule, as an instance
// would, without running it. A statement on no sharded or broadcast table
// runs unsharded, on the default data source (master or a slave, as the
// instance routes it). Keys an INSERT would generate are shown as
// examples: an instance draws its own.
func (c *Ctl) Preview(ctx context.Context, sql string) ([]PreviewRow, error) {
	cfg, _, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("no configuration under %s", c.Root+orchestration.ConfigDir)
	}
	def := cfg.MasterSlaveRule.Name
	if def == "" {
		def = cfg.MasterSlaveRule.MasterDataSourceName
	}
	if cfg.ShardingRule == nil {
		return []PreviewRow{{Target: def, SQL: sql}}, nil
	}
	keys, _ := sharding.NewSnowflake(0)
	rt, err := sharding.New(cfg.ShardingRule, cfg.Props.ShardingMaxRows, keys)
	if err != nil {
		return nil, err
	}
	if cfg.Props.ShardingCompareLocally {
		rt.CompareLocally() // PREVIEW shows what the instances run
	}
	r, err := rt.Route(sql, nil)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return []PreviewRow{{Target: rt.Default(), SQL: sql}}, nil
	}
	out := make([]PreviewRow, len(r.Units))
	for i, u := range r.Units {
		out[i] = PreviewRow{Target: u.Target, SQL: u.SQL}
	}
	return out, nil
}

// PrintPreview prints Preview.
func (c *Ctl) PrintPreview(ctx context.Context, sql string) error {
	rows, err := c.Preview(ctx, sql)
	if err != nil {
		return err
	}
	if c.JSON {
		return c.json(rows)
	}
	return c.table([]string{"TARGET", "SQL"}, len(rows), func(i int) []string { return []string{rows[i].Target, rows[i].SQL} })
}

// ConfigShow prints the config nodes.
func (c *Ctl) ConfigShow(ctx context.Context) error {
	nodes, err := orchestration.ReadConfig(ctx, c.Reg)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return fmt.Errorf("no configuration under %s", c.Root+orchestration.ConfigDir)
	}
	// Secrets are masked: whoever reads the output (a terminal, a ticket, a
	// CI log) need not learn the passwords (etcdctl/zkCli show them raw to
	// whoever holds the registry's credentials).
	if c.JSON {
		out := map[string]any{}
		for p, n := range nodes {
			out[p] = map[string]any{"version": n.Version, "yaml": string(config.MaskSecrets(n.Value))}
		}
		return c.json(out)
	}
	for _, p := range orchestration.SharedNodes {
		if n, ok := nodes[p]; ok {
			fmt.Fprintf(c.Out, "# %s (version %d)\n%s\n", c.Root+p, n.Version, strings.TrimRight(string(config.MaskSecrets(n.Value)), "\n"))
		}
	}
	return nil
}

// ConfigApply validates the config file's dataSources, masterSlaveRule,
// props and users, shows the difference to the registry, asks unless yes,
// and writes it. Nothing is written if it does not validate.
func (c *Ctl) ConfigApply(ctx context.Context, file string, yes bool) error {
	f, err := orchestration.LoadFile(file)
	if err != nil {
		return err
	}
	if !f.HasShared() {
		return fmt.Errorf("%s: no dataSources to apply", file)
	}
	cfg := f.Config
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s does not validate, nothing written:\n%w", file, err)
	}
	enc, err := orchestration.EncodeShared(&cfg)
	if err != nil {
		return err
	}
	old, err := orchestration.ReadConfig(ctx, c.Reg)
	if err != nil {
		return err
	}
	changed := false
	for _, p := range orchestration.SharedNodes {
		if string(old[p].Value) == string(enc[p]) {
			continue
		}
		d := diff(string(config.MaskSecrets(old[p].Value)), string(config.MaskSecrets(enc[p])))
		if d == "" {
			d = "  (only secret values differ; they are not shown)\n"
		}
		changed = true
		fmt.Fprintf(c.Out, "--- %s (registry)\n+++ %s (%s)\n%s", c.Root+p, c.Root+p, file, d)
	}
	if !changed {
		fmt.Fprintln(c.Out, "no change: the registry already holds this configuration")
		return nil
	}
	if !yes {
		fmt.Fprint(c.Out, "apply to every instance? [y/N] ")
		line, _ := bufio.NewReader(c.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not applied")
		}
	}
	if err := orchestration.WriteConfig(ctx, c.Reg, &cfg); err != nil {
		return err
	}
	fmt.Fprintln(c.Out, "applied; instances validate and apply it now (see shardgate ctl instances, and their /api/v1/state)")
	return nil
}

func (c *Ctl) json(v any) error {
	enc := json.NewEncoder(c.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *Ctl) table(head []string, n int, row func(int) []string) error {
	w := tabwriter.NewWriter(c.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(head, "\t"))
	for i := range n {
		fmt.Fprintln(w, strings.Join(row(i), "\t"))
	}
	return w.Flush()
}

func state(v []byte) string {
	switch {
	case orchestration.IsDisabled(v):
		return "disabled"
	case !orchestration.IsRecognized(v):
		// Counts as enabled; flag the likely typo.
		return fmt.Sprintf("enabled (unrecognized value %q)", v)
	}
	return "enabled"
}

func value(disabled bool) []byte {
	if disabled {
		return []byte(orchestration.Disabled)
	}
	return []byte{}
}

func word(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "enabled"
}

func list(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// diff is a line diff (longest common subsequence) of two small texts:
// lines only in a start with "-", only in b with "+", common ones with " ".
// It returns "" when they are equal.
func diff(a, b string) string {
	if a == b {
		return ""
	}
	x, y := lines(a), lines(b)
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			sb.WriteString(" " + x[i] + "\n")
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			sb.WriteString("+" + y[j] + "\n")
			j++
		default:
			sb.WriteString("-" + x[i] + "\n")
			i++
		}
	}
	return sb.String()
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
