// Package sharding plans statements on sharded tables: it parses them with
// a MySQL grammar (dolthub's maintained fork of vitess's sqlparser), finds
// the data nodes a statement's sharding values route to, rewrites the
// statement for each node and says how the nodes' answers merge.
//
// It knows nothing of connections: a Route is data (units of target name
// and SQL, and a Merge), which the engine turns into a plan over its
// master/slave groups and the front ends execute.
package sharding

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/sharding/inline"
)

// ErrUnsupported is matched (errors.Is) by every error for a statement
// this version cannot run on sharded tables correctly: it is refused, never
// run in a way whose answer could differ from one unsharded MariaDB's.
var ErrUnsupported = errors.New("shardgate: not supported on sharded tables")

// ErrRoute is matched by errors for statements whose sharding values route
// nowhere (a value no data node takes, a sharding key missing on INSERT).
var ErrRoute = errors.New("shardgate: cannot route")

func unsupported(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, a...)...)
}

func routeErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRoute}, a...)...)
}

// DefaultMaxRows bounds the rows one merge holds (and LIMIT o,c's o+c).
const DefaultMaxRows = 100000

// Router plans statements for one sharding rule. It is immutable.
type Router struct {
	tables    map[string]*Table // by lower-case logic name
	broadcast map[string]bool   // lower-case names
	// targets are every data-node target (group or data source), sorted.
	targets []string
	// def is defaultDataSourceName: where tables without a rule live.
	def     string
	maxRows int
	keys    *Snowflake
	// local: merges compare text keys here, without weights
	// (CompareLocally).
	local bool
	// keywords are rule table names the vitess tokenizer reads as
	// keywords (see scanFast).
	keywords map[string]bool
	// hints: some table has a hint strategy (statements' hint comments
	// are read).
	hints bool
	// cache holds parsed statements by key (see scanKey), at most
	// maxPlanCache; cached counts them.
	cache  sync.Map
	cached atomic.Int64
}

// Table is one logic table's rule, compiled.
type Table struct {
	Name  string
	Nodes []config.DataNode
	db    *strategy
	tb    *strategy
	// keyCol is the key generator's column (lower case), "" for none.
	keyCol string
	// binding numbers the table's binding group (0: none).
	binding int
	// dsNames and tbNames are the distinct targets and tables of Nodes.
	dsNames, tbNames []string
}

// numeric reports whether column col (lower case) surely holds numbers:
// the key generator's, or one an arithmetic strategy shards by.
func (t *Table) numeric(col string) bool {
	if col == t.keyCol {
		return true
	}
	for _, st := range []*strategy{t.db, t.tb} {
		if st != nil && (st.kind == "MOD" || st.kind == "RANGE" || st.kind == "inline" && st.arithmetic) && slices.Contains(st.cols, col) {
			return true
		}
	}
	return false
}

// CompareLocally makes merges compare text keys here instead of by the
// nodes' weights (props.shardingCompareLocally), for backends without
// WEIGHT_STRING. Before the router is shared.
func (rt *Router) CompareLocally() { rt.local = true }

// New compiles a validated rule. maxRows bounds merges (0: DefaultMaxRows);
// keys issues the SNOWFLAKE keys (it outlives config changes).
func New(r *config.ShardingRule, maxRows int, keys *Snowflake) (*Router, error) {
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	if keys == nil {
		return nil, errors.New("sharding: no key generator")
	}
	var err error
	rt := &Router{tables: map[string]*Table{}, broadcast: map[string]bool{}, def: r.DefaultDataSourceName, maxRows: maxRows, keys: keys}
	seen := map[string]bool{}
	for _, name := range sortedKeys(r.Tables) {
		tr := r.Tables[name]
		t := &Table{Name: name, Nodes: tr.Nodes}
		ds, tb := tr.DatabaseStrategy, tr.TableStrategy
		if ds == nil {
			ds = r.DefaultDatabaseStrategy
		}
		if tb == nil {
			tb = r.DefaultTableStrategy
		}
		p := "shardingRule.tables." + name
		if t.db, err = compile(p+".databaseStrategy", ds); err != nil {
			return nil, err
		}
		if t.tb, err = compile(p+".tableStrategy", tb); err != nil {
			return nil, err
		}
		if err := sameColumnKinds(p, t.db, t.tb); err != nil {
			return nil, err
		}
		rt.hints = rt.hints || t.db.kind == "hint" || t.tb.kind == "hint"
		kg := tr.KeyGenerator
		if kg == nil {
			kg = r.DefaultKeyGenerator
		}
		if kg != nil {
			t.keyCol = strings.ToLower(kg.Column)
		}
		dsSeen, tbSeen := map[string]bool{}, map[string]bool{}
		for _, n := range t.Nodes {
			seen[n.DataSource] = true
			if !dsSeen[n.DataSource] {
				dsSeen[n.DataSource] = true
				t.dsNames = append(t.dsNames, n.DataSource)
			}
			if !tbSeen[n.Table] {
				tbSeen[n.Table] = true
				t.tbNames = append(t.tbNames, n.Table)
			}
		}
		rt.tables[strings.ToLower(name)] = t
	}
	for i, group := range r.BindingTables {
		for _, n := range strings.Split(group, ",") {
			if t := rt.tables[strings.ToLower(strings.TrimSpace(n))]; t != nil {
				t.binding = i + 1
			}
		}
	}
	for _, n := range r.BroadcastTables {
		rt.broadcast[strings.ToLower(n)] = true
	}
	if len(r.MasterSlaveRules) > 0 {
		for name := range r.MasterSlaveRules {
			seen[name] = true
		}
	}
	if rt.def != "" {
		seen[rt.def] = true
	}
	for n := range seen {
		rt.targets = append(rt.targets, n)
	}
	sort.Strings(rt.targets)
	names := make([]string, 0, len(rt.tables)+len(rt.broadcast))
	for n := range rt.tables {
		names = append(names, n)
	}
	for n := range rt.broadcast {
		names = append(names, n)
	}
	rt.keywords = keywordNames(names)
	return rt, nil
}

// Targets are every data-node target of the rule, sorted: the groups
// broadcast tables live on.
func (rt *Router) Targets() []string { return rt.targets }

// Default is defaultDataSourceName ("" when the rule has none).
func (rt *Router) Default() string { return rt.def }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// strategy turns a row's sharding values into the name (a data-node target
// or an actual table) the row lives in.
type strategy struct {
	path string
	cols []string // lower case; nil: the none strategy (every candidate)
	alg  *inline.Algorithm
	kind string // inline, MOD, HASH_MOD, RANGE
	n    int64
	// bounds are RANGE's ascending boundaries.
	bounds []int64
	// arithmetic: the inline algorithm computes with its columns (arith).
	arithmetic bool
	// iv is INTERVAL's table of intervals.
	iv *interval
}

func compile(path string, s *config.Strategy) (*strategy, error) {
	st := &strategy{path: path}
	switch {
	case s == nil || s.None != nil:
		return st, nil
	case s.Inline != nil:
		st.kind, st.alg = "inline", s.Inline.Algorithm
		st.cols = []string{strings.ToLower(s.Inline.ShardingColumn)}
		st.arithmetic = st.arith()
	case s.Complex != nil:
		st.kind, st.alg = "inline", s.Complex.Algorithm
		st.arithmetic = st.arith()
		for _, c := range strings.Split(s.Complex.ShardingColumns, ",") {
			if c = strings.TrimSpace(c); c != "" {
				st.cols = append(st.cols, strings.ToLower(c))
			}
		}
	case s.Standard != nil:
		st.kind = strings.ToUpper(s.Standard.Algorithm)
		st.cols = []string{strings.ToLower(s.Standard.ShardingColumn)}
		switch st.kind {
		case config.AlgMod, config.AlgHashMod:
			n, err := strconv.ParseInt(strings.TrimSpace(s.Standard.Props["shardingCount"]), 10, 64)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%s.standard.props.shardingCount: want a positive integer, got %q", path, s.Standard.Props["shardingCount"])
			}
			st.n = n
		case config.AlgRange:
			for _, f := range strings.Split(s.Standard.Props["boundaries"], ",") {
				b, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s.standard.props.boundaries: %q is not an integer", path, f)
				}
				if len(st.bounds) > 0 && b <= st.bounds[len(st.bounds)-1] {
					return nil, fmt.Errorf("%s.standard.props.boundaries: want ascending values, got %q", path, s.Standard.Props["boundaries"])
				}
				st.bounds = append(st.bounds, b)
			}
		case config.AlgInterval:
			iv, err := compileInterval(path, s.Standard.Props)
			if err != nil {
				return nil, err
			}
			st.iv = iv
		default:
			return nil, fmt.Errorf("%s.standard.algorithm: unknown algorithm %s", path, st.kind)
		}
	case s.Hint != nil:
		alg, err := inline.Compile(s.Hint.AlgorithmExpression)
		if err != nil {
			return nil, fmt.Errorf("%s.hint.algorithmExpression: %w", path, err)
		}
		for _, c := range alg.Columns() {
			if !strings.EqualFold(c, "value") {
				return nil, fmt.Errorf("%s.hint.algorithmExpression: reads %q; a hint expression reads the hint as ${value}", path, c)
			}
		}
		st.kind, st.alg = "hint", alg
		st.cols = []string{hintColumn(strings.HasSuffix(path, "atabaseStrategy"))}
	}
	return st, nil
}

// none reports whether the strategy takes every candidate.
func (st *strategy) none() bool { return st.cols == nil }

// target is the candidate one row's values route to. vals holds a value
// for every column of the strategy.
func (st *strategy) target(vals map[string]any, candidates []string) (string, error) {
	var name string
	switch st.kind {
	case "hint":
		out, err := st.alg.Eval(map[string]any{"value": vals[st.cols[0]]})
		if err != nil {
			return "", routeErr("%s: %v", st.path, err)
		}
		for _, c := range candidates {
			if c == out {
				return c, nil
			}
		}
		return "", routeErr("%s: the hint %v routes to %q, which is none of %s", st.path, vals[st.cols[0]], out, strings.Join(candidates, ", "))
	case "inline":
		v := vals
		if st.arithmetic && hasString(vals) {
			// Integer arithmetic wants integers: a numeric string (a
			// quoted key) counts as its number, as MariaDB compares it.
			v = make(map[string]any, len(vals))
			for k, x := range vals {
				if s, ok := x.(string); ok {
					if n, err := strconv.ParseInt(s, 10, 64); err == nil {
						x = n
					}
				}
				v[k] = x
			}
		}
		out, err := st.alg.Eval(v)
		if err != nil {
			return "", routeErr("%s: %v", st.path, err)
		}
		name = out
		for _, c := range candidates {
			if c == name {
				return c, nil
			}
		}
		return "", routeErr("%s: %s routes to %q, which is none of %s", st.path, describe(vals, st.cols), name, strings.Join(candidates, ", "))
	case config.AlgMod, config.AlgHashMod, config.AlgRange:
		x := vals[st.cols[0]]
		var idx int64
		switch st.kind {
		case config.AlgMod:
			n, ok := asInt(x)
			if !ok {
				return "", routeErr("%s: MOD needs an integer %s, got %v", st.path, st.cols[0], x)
			}
			idx = n % st.n
			if idx < 0 {
				idx = -idx
			}
		case config.AlgHashMod:
			switch x.(type) {
			case int64, string:
			default:
				return "", routeErr("%s: HASH_MOD needs an integer or text %s, got %v", st.path, st.cols[0], x)
			}
			h := javaHash(x)
			idx = (h % st.n)
			if idx < 0 {
				idx = -idx
			}
		case config.AlgRange:
			n, ok := asInt(x)
			if !ok {
				return "", routeErr("%s: RANGE needs an integer %s, got %v", st.path, st.cols[0], x)
			}
			idx = int64(sort.Search(len(st.bounds), func(i int) bool { return n < st.bounds[i] }))
		}
		for _, c := range candidates {
			if suffix(c) == idx {
				return c, nil
			}
		}
		return "", routeErr("%s: %s gives shard %d, and none of %s ends in %d", st.path, describe(vals, st.cols), idx, strings.Join(candidates, ", "), idx)
	case config.AlgInterval:
		x := vals[st.cols[0]]
		v, ok := st.iv.value(x)
		if !ok {
			return "", routeErr("%s: INTERVAL needs a datetime %s, got %v", st.path, st.cols[0], x)
		}
		i, ok := st.iv.index(v)
		if !ok {
			return "", routeErr("%s: %s is outside datetimeLower..datetimeUpper", st.path, describe(vals, st.cols))
		}
		if c, ok := st.iv.pick(i, candidates); ok {
			return c, nil
		}
		return "", routeErr("%s: %s falls in interval %q, and none of %s ends in it", st.path, describe(vals, st.cols), st.iv.suffixes[i], strings.Join(candidates, ", "))
	}
	return "", fmt.Errorf("%s: internal: unknown strategy kind %q", st.path, st.kind)
}

// rangeTargets is the candidates a RANGE or INTERVAL strategy puts values
// of sp on; false for other strategies.
func (st *strategy) rangeTargets(sp span, candidates []string) (map[string]bool, bool) {
	if st.kind == config.AlgInterval {
		return st.intervalTargets(sp, candidates), true
	}
	if st.kind != config.AlgRange {
		return nil, false
	}
	first := int64(sort.Search(len(st.bounds), func(i int) bool { return sp.lo < st.bounds[i] }))
	last := int64(sort.Search(len(st.bounds), func(i int) bool { return sp.hi < st.bounds[i] }))
	out := map[string]bool{}
	for _, c := range candidates {
		if n := suffix(c); n >= first && n <= last {
			out[c] = true
		}
	}
	return out, true
}

// enumerate lists the integers of a small range, for strategies that route
// integers one by one (MOD, inline arithmetic); false: too many, or a
// strategy (HASH_MOD, inline pasting text) whose keys need not be integers.
func (st *strategy) enumerate(sp span) ([]any, bool) {
	if st.kind != config.AlgMod && (st.kind != "inline" || !st.arithmetic) {
		return nil, false
	}
	if sp.hi-sp.lo >= maxEnum || sp.hi-sp.lo < 0 { // < 0: the width overflowed
		return nil, false
	}
	out := make([]any, 0, sp.hi-sp.lo+1)
	for v := sp.lo; ; v++ {
		out = append(out, v)
		if v == sp.hi {
			break
		}
	}
	return out, true
}

func hasString(vals map[string]any) bool {
	for _, x := range vals {
		if _, ok := x.(string); ok {
			return true
		}
	}
	return false
}

// arith reports whether the algorithm computes with its columns (rather
// than pasting a bare column's value into the name).
func (st *strategy) arith() bool {
	src := st.alg.String()
	return strings.ContainsAny(src, "+-*/%")
}

func describe(vals map[string]any, cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("%s = %v", c, vals[c])
	}
	return strings.Join(parts, ", ")
}

func asInt(x any) (int64, bool) {
	switch v := x.(type) {
	case int64:
		return v, true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// suffix is the number a name ends in (-1: none), the shard index MOD,
// HASH_MOD and RANGE pick names by.
func suffix(name string) int64 {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == len(name) {
		return -1
	}
	n, err := strconv.ParseInt(name[i:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// javaHash is Java's hashCode of the value ShardingSphere's HASH_MOD would
// see: Long.hashCode for integers, String.hashCode (over UTF-16) for text.
func javaHash(x any) int64 {
	switch v := x.(type) {
	case int64:
		return int64(int32(uint64(v) ^ uint64(v)>>32))
	case string:
		var h int32
		for _, r := range v {
			if r >= 0x10000 {
				r -= 0x10000
				h = 31*h + int32(0xd800+(r>>10))
				h = 31*h + int32(0xdc00+(r&0x3ff))
				continue
			}
			h = 31*h + int32(r)
		}
		return int64(h)
	}
	return 0
}

// intervalTargets is the candidates of the intervals sp (microseconds)
// meets; values outside datetimeLower..datetimeUpper are on no node.
func (st *strategy) intervalTargets(sp span, candidates []string) map[string]bool {
	iv := st.iv
	out := map[string]bool{}
	lo, hi := max(sp.lo, iv.starts[0]), min(sp.hi, iv.end)
	if lo > hi {
		return out
	}
	first, _ := iv.index(lo)
	last, _ := iv.index(hi)
	for i := first; i <= last; i++ {
		if c, ok := iv.pick(i, candidates); ok {
			out[c] = true
		}
	}
	return out
}

// sameColumnKinds refuses a column that one strategy reads as a datetime
// (INTERVAL) and the other as an integer or text: a range on it is one
// span, measured in one unit.
func sameColumnKinds(path string, db, tb *strategy) error {
	for _, c := range db.cols {
		for _, d := range tb.cols {
			if c == d && (db.iv != nil) != (tb.iv != nil) {
				return fmt.Errorf("%s: column %s shards databases and tables, by INTERVAL in one strategy only; use INTERVAL in both or another column", path, c)
			}
		}
	}
	return nil
}
