package config

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/shardgate/shardgate/sharding/inline"
)

// ShardingRule is ShardingSphere's (3.x/4.x) sharding rule, in its YAML
// shape. Data nodes name data sources or, through MasterSlaveRules,
// master/slave groups.
type ShardingRule struct {
	Tables                  map[string]*TableRule       `yaml:"tables"`
	BindingTables           []string                    `yaml:"bindingTables,omitempty"`
	BroadcastTables         []string                    `yaml:"broadcastTables,omitempty"`
	DefaultDataSourceName   string                      `yaml:"defaultDataSourceName,omitempty"`
	DefaultDatabaseStrategy *Strategy                   `yaml:"defaultDatabaseStrategy,omitempty"`
	DefaultTableStrategy    *Strategy                   `yaml:"defaultTableStrategy,omitempty"`
	DefaultKeyGenerator     *KeyGenerator               `yaml:"defaultKeyGenerator,omitempty"`
	MasterSlaveRules        map[string]*MasterSlaveRule `yaml:"masterSlaveRules,omitempty"`
}

// TableRule shards one logic table.
type TableRule struct {
	// ActualDataNodes is an inline expression of dataSource.table names,
	// e.g. ds_${0..1}.t_order_${0..3}.
	ActualDataNodes  string        `yaml:"actualDataNodes"`
	DatabaseStrategy *Strategy     `yaml:"databaseStrategy,omitempty"`
	TableStrategy    *Strategy     `yaml:"tableStrategy,omitempty"`
	KeyGenerator     *KeyGenerator `yaml:"keyGenerator,omitempty"`

	// Nodes is ActualDataNodes expanded (set by validation).
	Nodes []DataNode `yaml:"-"`
}

// DataNode is one actual table on one data source (or group).
type DataNode struct{ DataSource, Table string }

// Strategy picks data sources or tables for a row: exactly one of its
// kinds is set.
type Strategy struct {
	Inline   *InlineStrategy   `yaml:"inline,omitempty"`
	Standard *StandardStrategy `yaml:"standard,omitempty"`
	Complex  *ComplexStrategy  `yaml:"complex,omitempty"`
	Hint     *HintStrategy     `yaml:"hint,omitempty"`
	None     *struct{}         `yaml:"none,omitempty"`
}

// InlineStrategy shards by an inline algorithm expression.
type InlineStrategy struct {
	ShardingColumn      string `yaml:"shardingColumn"`
	AlgorithmExpression string `yaml:"algorithmExpression"`

	// Algorithm is AlgorithmExpression compiled (set by validation).
	Algorithm *inline.Algorithm `yaml:"-"`
}

// StandardStrategy shards one column with a built-in algorithm (in place
// of ShardingSphere's Java class names).
type StandardStrategy struct {
	ShardingColumn string `yaml:"shardingColumn"`
	// Algorithm: MOD, HASH_MOD, RANGE or INTERVAL.
	Algorithm string `yaml:"algorithm"`
	// Props of the algorithm: shardingCount (MOD, HASH_MOD), boundaries
	// (RANGE: ascending upper bounds, comma-separated), and for INTERVAL
	// datetimeLower, datetimeUpper, datetimePattern, shardingSuffixPattern,
	// intervalAmount, intervalUnit.
	Props map[string]string `yaml:"props,omitempty"`
}

// ComplexStrategy shards by several columns with an inline expression.
type ComplexStrategy struct {
	ShardingColumns     string `yaml:"shardingColumns"` // comma-separated
	AlgorithmExpression string `yaml:"algorithmExpression"`

	Algorithm *inline.Algorithm `yaml:"-"`
}

// HintStrategy routes by a value the client gives in a hint comment.
type HintStrategy struct {
	AlgorithmExpression string `yaml:"algorithmExpression"`
}

// KeyGenerator issues distributed keys for a column.
type KeyGenerator struct {
	Type   string `yaml:"type"` // SNOWFLAKE
	Column string `yaml:"column"`
}

// Standard algorithms.
const (
	AlgMod      = "MOD"
	AlgHashMod  = "HASH_MOD"
	AlgRange    = "RANGE"
	AlgInterval = "INTERVAL"
)

// groupNames are the names data nodes may use: master/slave groups of the
// sharding rule, else plain data sources.
func (c *Config) shardingTargets() map[string]bool {
	out := map[string]bool{}
	r := c.ShardingRule
	if len(r.MasterSlaveRules) > 0 {
		for name := range r.MasterSlaveRules {
			out[name] = true
		}
		return out
	}
	for name := range c.DataSources {
		out[name] = true
	}
	return out
}

// applyShardingDefaults normalises the rule's spellings.
func (c *Config) applyShardingDefaults() {
	r := c.ShardingRule
	if r == nil {
		return
	}
	for name, ms := range r.MasterSlaveRules {
		if ms == nil {
			continue
		}
		if ms.Name == "" {
			ms.Name = name
		}
		ms.LoadBalanceAlgorithmType = strings.ToUpper(strings.TrimSpace(ms.LoadBalanceAlgorithmType))
		if ms.LoadBalanceAlgorithmType == "" {
			ms.LoadBalanceAlgorithmType = RoundRobin
		}
	}
	for _, kg := range c.keyGenerators() {
		kg.Type = strings.ToUpper(strings.TrimSpace(kg.Type))
	}
}

func (c *Config) keyGenerators() []*KeyGenerator {
	r := c.ShardingRule
	var out []*KeyGenerator
	if r.DefaultKeyGenerator != nil {
		out = append(out, r.DefaultKeyGenerator)
	}
	for _, name := range sortedKeys(r.Tables) {
		if t := r.Tables[name]; t != nil && t.KeyGenerator != nil {
			out = append(out, t.KeyGenerator)
		}
	}
	return out
}

// checkSharding reports every problem of the sharding rule, with its key
// path; it compiles the expressions and expands the data nodes it keeps.
func (c *Config) checkSharding(bad func(path, format string, a ...any)) {
	r := c.ShardingRule
	if r == nil {
		return
	}
	const rp = "shardingRule"
	inGroup := map[string]string{}
	for _, name := range sortedKeys(r.MasterSlaveRules) {
		p := rp + ".masterSlaveRules." + name
		ms := r.MasterSlaveRules[name]
		if ms == nil {
			bad(p, "empty master/slave rule")
			continue
		}
		if !validName(name) {
			bad(p, "name may hold letters, digits, '_', '-' and '.' only")
		}
		if c.DataSources[name] != nil {
			bad(p, "%q is also a data source; a group needs a name of its own", name)
		}
		members := append([]string{ms.MasterDataSourceName}, ms.SlaveDataSourceNames...)
		for i, m := range members {
			mp := p + ".masterDataSourceName"
			if i > 0 {
				mp = fmt.Sprintf("%s.slaveDataSourceNames[%d]", p, i-1)
			}
			switch {
			case m == "":
				bad(mp, "required")
			case c.DataSources[m] == nil:
				bad(mp, "unknown data source %q", m)
			case inGroup[m] != "":
				bad(mp, "data source %q is already in group %s", m, inGroup[m])
			default:
				inGroup[m] = name
			}
		}
		switch ms.LoadBalanceAlgorithmType {
		case RoundRobin, Random, Weight:
		default:
			bad(p+".loadBalanceAlgorithmType", "want ROUND_ROBIN, RANDOM or WEIGHT, got %q", ms.LoadBalanceAlgorithmType)
		}
	}
	targets := c.shardingTargets()
	if r.DefaultDataSourceName != "" && !targets[r.DefaultDataSourceName] {
		bad(rp+".defaultDataSourceName", "unknown %s %q", targetKind(r), r.DefaultDataSourceName)
	}
	c.checkStrategy(rp+".defaultDatabaseStrategy", r.DefaultDatabaseStrategy, bad)
	c.checkStrategy(rp+".defaultTableStrategy", r.DefaultTableStrategy, bad)
	if len(r.Tables) == 0 && len(r.BroadcastTables) == 0 {
		bad(rp+".tables", "at least one table rule (or broadcast table) is required")
	}
	for _, name := range sortedKeys(r.Tables) {
		p := rp + ".tables." + name
		t := r.Tables[name]
		if t == nil {
			bad(p, "empty table rule")
			continue
		}
		if !validName(name) {
			bad(p, "a logic table name may hold letters, digits, '_', '-' and '.' only")
		}
		t.Nodes = nil
		if t.ActualDataNodes == "" {
			if r.DefaultDataSourceName == "" {
				bad(p+".actualDataNodes", "required (or set shardingRule.defaultDataSourceName)")
			} else {
				t.Nodes = []DataNode{{DataSource: r.DefaultDataSourceName, Table: name}}
			}
		} else if names, err := inline.Expand(t.ActualDataNodes); err != nil {
			bad(p+".actualDataNodes", "%v", err)
		} else {
			seen := map[DataNode]bool{}
			for _, n := range names {
				ds, tbl, ok := strings.Cut(n, ".")
				if !ok || ds == "" || tbl == "" || strings.Contains(tbl, ".") {
					bad(p+".actualDataNodes", "%q: want dataSource.table", n)
					continue
				}
				if !targets[ds] {
					bad(p+".actualDataNodes", "%q: unknown %s %q", n, targetKind(r), ds)
					continue
				}
				dn := DataNode{DataSource: ds, Table: tbl}
				if seen[dn] {
					bad(p+".actualDataNodes", "%q listed twice", n)
					continue
				}
				seen[dn] = true
				t.Nodes = append(t.Nodes, dn)
			}
		}
		c.checkStrategy(p+".databaseStrategy", t.DatabaseStrategy, bad)
		c.checkStrategy(p+".tableStrategy", t.TableStrategy, bad)
	}
	for _, kgp := range c.keyGeneratorPaths() {
		kg := kgp.kg
		if kg.Type != "SNOWFLAKE" {
			bad(kgp.path+".type", "want SNOWFLAKE, got %q", kg.Type)
		}
		if kg.Column == "" {
			bad(kgp.path+".column", "required")
		}
	}
	bound := map[string]string{}
	for i, group := range r.BindingTables {
		p := fmt.Sprintf("%s.bindingTables[%d]", rp, i)
		names := splitList(group)
		if len(names) < 2 {
			bad(p, "a binding group names at least two tables, got %q", group)
			continue
		}
		first := r.Tables[names[0]]
		for _, n := range names {
			t := r.Tables[n]
			switch {
			case t == nil:
				bad(p, "%q has no table rule", n)
			case bound[n] != "":
				bad(p, "%q is already bound in %s", n, bound[n])
			case first != nil && len(t.Nodes) != len(first.Nodes):
				bad(p, "%q has %d data nodes, %q has %d: binding tables shard alike", n, len(t.Nodes), names[0], len(first.Nodes))
			}
			bound[n] = p
		}
	}
	for i, n := range r.BroadcastTables {
		p := fmt.Sprintf("%s.broadcastTables[%d]", rp, i)
		if r.Tables[n] != nil {
			bad(p, "%q also has a table rule: a table is sharded or broadcast, not both", n)
		}
		if !validName(n) {
			bad(p, "a table name may hold letters, digits, '_', '-' and '.' only")
		}
	}
}

type kgPath struct {
	kg   *KeyGenerator
	path string
}

func (c *Config) keyGeneratorPaths() []kgPath {
	r := c.ShardingRule
	var out []kgPath
	if r.DefaultKeyGenerator != nil {
		out = append(out, kgPath{r.DefaultKeyGenerator, "shardingRule.defaultKeyGenerator"})
	}
	for _, name := range sortedKeys(r.Tables) {
		if t := r.Tables[name]; t != nil && t.KeyGenerator != nil {
			out = append(out, kgPath{t.KeyGenerator, "shardingRule.tables." + name + ".keyGenerator"})
		}
	}
	return out
}

func targetKind(r *ShardingRule) string {
	if len(r.MasterSlaveRules) > 0 {
		return "master/slave group"
	}
	return "data source"
}

// splitList splits a comma-separated list, trimming spaces.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *Config) checkStrategy(p string, s *Strategy, bad func(path, format string, a ...any)) {
	if s == nil {
		return
	}
	var kinds []string
	if s.Inline != nil {
		kinds = append(kinds, "inline")
		in := s.Inline
		if in.ShardingColumn == "" {
			bad(p+".inline.shardingColumn", "required")
		}
		if a, err := inline.Compile(in.AlgorithmExpression); err != nil {
			bad(p+".inline.algorithmExpression", "%v", err)
		} else {
			in.Algorithm = a
			for _, col := range a.Columns() {
				if !strings.EqualFold(col, in.ShardingColumn) {
					bad(p+".inline.algorithmExpression", "reads %q, but the sharding column is %q", col, in.ShardingColumn)
				}
			}
		}
	}
	if s.Standard != nil {
		kinds = append(kinds, "standard")
		st := s.Standard
		if st.ShardingColumn == "" {
			bad(p+".standard.shardingColumn", "required")
		}
		switch strings.ToUpper(st.Algorithm) {
		case AlgMod, AlgHashMod:
			if st.Props["shardingCount"] == "" {
				bad(p+".standard.props.shardingCount", "required for %s", st.Algorithm)
			}
		case AlgRange:
			if st.Props["boundaries"] == "" {
				bad(p+".standard.props.boundaries", "required for RANGE")
			}
		case AlgInterval:
			// ShardingSphere 5's spellings (datetime-lower, …) are
			// accepted too; the values are checked when the rule compiles.
			for _, k := range [][2]string{{"datetimeLower", "datetime-lower"}, {"datetimeUpper", "datetime-upper"},
				{"shardingSuffixPattern", "sharding-suffix-pattern"}, {"intervalUnit", "datetime-interval-unit"}} {
				if st.Props[k[0]] == "" && st.Props[k[1]] == "" {
					bad(p+".standard.props."+k[0], "required for INTERVAL")
				}
			}
		default:
			bad(p+".standard.algorithm", "want MOD, HASH_MOD, RANGE or INTERVAL, got %q", st.Algorithm)
		}
	}
	if s.Complex != nil {
		kinds = append(kinds, "complex")
		cx := s.Complex
		cols := splitList(cx.ShardingColumns)
		if len(cols) == 0 {
			bad(p+".complex.shardingColumns", "required")
		}
		if a, err := inline.Compile(cx.AlgorithmExpression); err != nil {
			bad(p+".complex.algorithmExpression", "%v", err)
		} else {
			cx.Algorithm = a
			for _, col := range a.Columns() {
				found := false
				for _, c := range cols {
					found = found || strings.EqualFold(c, col)
				}
				if !found {
					bad(p+".complex.algorithmExpression", "reads %q, which is not among the sharding columns %q", col, cx.ShardingColumns)
				}
			}
		}
	}
	if s.Hint != nil {
		kinds = append(kinds, "hint")
		if s.Hint.AlgorithmExpression == "" {
			bad(p+".hint.algorithmExpression", "required")
		}
	}
	if s.None != nil {
		kinds = append(kinds, "none")
	}
	switch len(kinds) {
	case 0:
		bad(p, "want one of inline, standard, complex, hint or none")
	case 1:
	default:
		sort.Strings(kinds)
		bad(p, "set exactly one strategy kind, got %s", strings.Join(kinds, " and "))
	}
}

// UnmarshalYAML reads a strategy strictly, and takes "none:" (a null
// value, as ShardingSphere writes it) as the none kind.
func (s *Strategy) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a sharding strategy is a mapping (inline, standard, complex, hint or none)", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "inline":
			s.Inline = &InlineStrategy{}
			err = strictDecode(v, s.Inline)
		case "standard":
			s.Standard = &StandardStrategy{}
			err = strictDecode(v, s.Standard)
		case "complex":
			s.Complex = &ComplexStrategy{}
			err = strictDecode(v, s.Complex)
		case "hint":
			s.Hint = &HintStrategy{}
			err = strictDecode(v, s.Hint)
		case "none":
			s.None = &struct{}{}
		default:
			return fmt.Errorf("line %d: unknown sharding strategy %q (want inline, standard, complex, hint or none)", k.Line, k.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// strictDecode decodes a node rejecting unknown keys (a node's own Decode
// would not).
func strictDecode(n *yaml.Node, v any) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}
