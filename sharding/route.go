package sharding

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// Route is how one statement on sharded (or broadcast) tables runs: its
// units and how their answers merge.
type Route struct {
	Units []Unit
	Merge Merge
	// Write: the statement changes data or schema on its nodes.
	Write bool
}

// Unit is one statement for one data-node target (a master/slave group, or
// a data source).
type Unit struct {
	Target string
	SQL    string
	// Args: the SQL still holds the statement's parameters (?), to be
	// bound as the client bound them; false: it holds none.
	Args bool
}

// MergeKind says how the units' answers make the client's.
type MergeKind uint8

const (
	// One: a single unit, whose answer goes to the client as it is.
	One MergeKind = iota
	// Rows: result sets, merged by Merge's rules.
	Rows
	// Sum: OK answers; affected rows add up.
	Sum
	// Same: OK answers of one write run on every node of a broadcast
	// table; the client gets the first (they are alike).
	Same
)

// Merge is how result sets (Rows) or OK answers (Sum, Same) combine.
type Merge struct {
	Kind MergeKind
	// Order: rows are sorted by these keys (each node sorted them alike).
	Order []OrderKey
	// Limit: after sorting, Offset rows are skipped and Count kept.
	Limit         bool
	Offset, Count int64
	// Aggs are the aggregate columns, folded per group (without GROUP BY:
	// all rows are one group, each node answering one row).
	Aggs []Agg
	// Group: rows whose values in these columns compare equal are one
	// group (GROUP BY); Distinct: every visible column is the key, no
	// aggregates (SELECT DISTINCT).
	Group    []int
	Distinct bool
	// Sorted: the merge groups (GROUP BY or DISTINCT) and each node sends
	// its rows sorted by the group keys (in ORDER BY's directions when it
	// names exactly them): a group's rows then come one after the other
	// and it can be folded as they stream, when the keys order alike on
	// the nodes and here (Column.Exact).
	Sorted bool
	// NoGroupBy: aggregates without GROUP BY; no rows from any node
	// still make one row (COUNT 0, the rest NULL), as on one server.
	NoGroupBy bool
	// Having filters the merged groups (each node's HAVING is dropped: a
	// group's partial rows would not pass it alone), but for nodeHaving:
	// comparisons of a group key with a literal, which each node keeps
	// (havingEdited: the node's HAVING was rewritten).
	Having       *Cond
	nodeHaving   []sqlparser.Expr
	havingEdited bool
	// Hidden trailing columns were added (ORDER BY and GROUP BY columns
	// not selected, AVG's SUM and COUNT, weights); they are dropped.
	Hidden int
	// Weights are hidden WEIGHT_STRING columns of the key columns (ORDER
	// BY, GROUP BY, DISTINCT, MIN/MAX and COUNT(DISTINCT) arguments): a
	// text key compares by its weight, byte by byte, which is the
	// server's collation exactly (accents, case, PAD SPACE).
	Weights []Weight
	// InsertID is the first key generated for an INSERT (0: none).
	InsertID int64
	// MaxRows bounds the rows held for the merge.
	MaxRows int
	// distinctBy is what the nodes also group by (DISTINCT aggregates).
	distinctBy []sqlparser.Expr
	// nodeOrder: the nodes sort by these result columns (Sorted).
	nodeOrder []int
}

// Weight is the hidden column holding the weight (weightOf) of key
// column Col (Col < 0: of the column called Name, in SELECT *); Hidden
// is its place among the hidden columns (after *'s columns, whose number
// the plan does not know).
type Weight struct {
	Col    int
	Name   string
	Hidden int
}

// OrderKey is one ORDER BY item: the result column at Index, or, when
// Index < 0, the column called Name (SELECT *).
type OrderKey struct {
	Index int
	Name  string
	Desc  bool
}

// Agg is an aggregate column of the result.
type Agg struct {
	Index int
	Fn    string // count, sum, min, max, avg
	// Sum and Count are AVG's hidden SUM and COUNT columns.
	Sum, Count int
	// Distinct: COUNT(DISTINCT x) or SUM(DISTINCT x). Each node groups
	// by x as well (hidden column Arg); the merge counts or adds the
	// distinct values of x in a group.
	Distinct bool
	Arg      int
}

// Route plans sql on the rule's tables. It returns nil, nil for a
// statement that names no sharded or broadcast table: it runs as without
// sharding, on the default data source. args are the statement's
// parameters (nil for a text statement); they route as literals would.
func (rt *Router) Route(sql string, args []any) (r *Route, err error) {
	defer func() {
		// A planner bug met by some input is that statement's error, not
		// the process's end (the driver runs inside the application).
		if v := recover(); v != nil {
			r, err = nil, fmt.Errorf("%w: shardgate could not plan this statement (internal error: %v); it did not run", ErrRoute, v)
		}
	}()
	return rt.route(sql, args)
}

func (rt *Router) route(sql string, args []any) (*Route, error) {
	toks, named, key, lits := rt.scanKey(sql, args == nil)
	if !named {
		return nil, nil
	}
	if strings.Contains(sql, "/*!") || strings.Contains(sql, "/*M!") {
		return nil, unsupported("executable comments (/*! … */) in statements on sharded or broadcast tables")
	}
	stmt, ent, lits, err := rt.parse(sql, key, lits)
	if err != nil {
		return nil, err
	}
	if args == nil {
		args = lits // the literals the cached statement holds as parameters
	}
	p := &planner{rt: rt, sql: sql, toks: toks, args: args}
	if ent != nil {
		if pt := ent.point.Load(); pt != nil {
			if r, ok := pt.route(p); ok {
				return r, nil
			}
		}
	}
	if rt.hints && strings.Contains(sql, "/*") {
		p.hints = parseHints(sql)
	}
	if err := p.collect(stmt); err != nil {
		return nil, err
	}
	if len(p.sharded) == 0 && len(p.bcast) == 0 {
		return nil, nil // the names were columns or aliases, not tables
	}
	if err := p.checkCounts(); err != nil {
		return nil, err
	}
	switch x := stmt.(type) {
	case *sqlparser.Select, *sqlparser.Update, *sqlparser.Delete:
	case *sqlparser.Insert:
		if _, ok := x.Rows.(*sqlparser.Select); ok {
			return p.insertSelectRoute(x, x.Rows.(*sqlparser.Select))
		}
		if len(p.subqueries) > 0 {
			return nil, unsupported("subqueries in INSERT … VALUES on sharded or broadcast tables")
		}
	default:
		if len(p.subqueries) > 0 {
			return nil, unsupported("subqueries in DDL on sharded or broadcast tables")
		}
	}
	switch st := stmt.(type) {
	case *sqlparser.Select:
		if ent != nil && !ent.planned.Load() {
			if pt := p.pointOf(st); pt != nil {
				ent.point.Store(pt)
			}
			ent.planned.Store(true)
		}
		return p.selectRoute(st)
	case *sqlparser.Insert:
		return p.insertRoute(st)
	case *sqlparser.Update:
		return p.updateRoute(st.TableExprs, st.Where, st.OrderBy, st.Limit, st.Exprs)
	case *sqlparser.Delete:
		if len(st.Targets) > 0 {
			return nil, unsupported("multi-table DELETE")
		}
		return p.updateRoute(st.TableExprs, st.Where, st.OrderBy, st.Limit, nil)
	case *sqlparser.DDL, *sqlparser.AlterTable:
		if d, ok := st.(*sqlparser.DDL); ok && d.ViewSpec != nil {
			return nil, unsupported("views over sharded or broadcast tables")
		}
		if d, ok := st.(*sqlparser.DDL); ok && d.Action == sqlparser.RenameStr {
			return nil, unsupported("RENAME on sharded or broadcast tables: rename the actual tables and change the rule")
		}
		return p.ddlRoute()
	}
	return nil, unsupported("%T statements", stmt)
}

// maxPlanCache bounds the statements a Router keeps parsed, and
// maxCachedText the length of one (a long statement is parsed each time).
const (
	maxPlanCache  = 4096
	maxCachedText = 4096
)

// parse is the statement of sql, from the cache when its key (the text
// with comparison literals as parameters, lits their values) was parsed
// before, with its cache entry (nil for a statement not cached). Only
// SELECT, UPDATE and DELETE are cached (nothing mutates their trees when
// planning); any other statement is parsed from its own text.
func (rt *Router) parse(sql, key string, lits []any) (sqlparser.Statement, *parsed, []any, error) {
	if v, ok := rt.cache.Load(key); ok {
		e := v.(*parsed)
		return e.stmt, e, lits, nil
	}
	if len(lits) > 0 {
		if stmt, err := parseSQL(key); err == nil && cacheable(stmt) {
			return stmt, rt.store(key, stmt), lits, nil
		}
	}
	stmt, err := parseSQL(sql)
	if err != nil {
		return nil, nil, nil, unsupported("cannot parse the statement: %v", err)
	}
	if len(lits) == 0 && cacheable(stmt) {
		return stmt, rt.store(key, stmt), nil, nil
	}
	return stmt, nil, nil, nil
}

// store caches stmt under key and returns its entry (nil when not
// cached). A full cache starts over: statements that keep their literals
// in the key (IN lists, LIMIT, select items) must not keep new shapes out
// for good; the hot ones come back at their next execution.
func (rt *Router) store(key string, stmt sqlparser.Statement) *parsed {
	if len(key) > maxCachedText {
		return nil
	}
	if rt.cached.Load() >= maxPlanCache {
		rt.cache.Clear()
		rt.cached.Store(0)
	}
	v, loaded := rt.cache.LoadOrStore(key, &parsed{stmt: stmt})
	if !loaded {
		rt.cached.Add(1)
	}
	return v.(*parsed)
}

func cacheable(stmt sqlparser.Statement) bool {
	switch stmt.(type) {
	case *sqlparser.Select, *sqlparser.Update, *sqlparser.Delete:
		return true
	}
	return false
}

// scanKey is scan, and the statement's cache key: with normalize, the
// integer and string literals that follow a comparison operator become
// parameters (lits their values, in order), so that point reads of
// different keys share one parsed statement; other literals (ORDER BY 1,
// LIMIT, IN lists, select items) stay in the key.
func (rt *Router) scanKey(sql string, normalize bool) (toks []tok, named bool, key string, lits []any) {
	if toks, named, key, lits, ok := rt.scanFast(sql, normalize); ok {
		return toks, named, key, lits
	}
	return rt.scanVitess(sql, normalize)
}

// scanVitess is scanKey with the vitess tokenizer: any text.
func (rt *Router) scanVitess(sql string, normalize bool) (toks []tok, named bool, key string, lits []any) {
	var b strings.Builder
	last, prev := 0, 0
	tk := sqlparser.NewStringTokenizer(sql)
	broken := false
	btw := 0 // as in scanFast: BETWEEN x AND y's operands are normalized
	for {
		typ, val := scanTok(tk)
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			broken = typ != 0
			break
		}
		st := btw
		btw = 0
		switch {
		case typ == sqlparser.BETWEEN:
			btw = 1
		case st == 2 && typ == sqlparser.AND:
			btw = 3
		case st == 1 && (typ == sqlparser.INTEGRAL || typ == sqlparser.STRING || typ == sqlparser.VALUE_ARG):
			btw = 2
		}
		// span is the token's text (positions are only looked at for the
		// tokens that need them).
		span := func() (int, int, bool) {
			end := min(tk.Position-1, len(sql))
			start := max(tk.OldPosition-1, 0)
			if start > end { // inside an executable comment: refused anyway
				return 0, 0, false
			}
			raw := strings.TrimLeft(sql[start:end], " \t\r\n\f\v")
			return end - len(raw), end, true
		}
		switch {
		case typ == sqlparser.ID:
			name := lowerName(val)
			if rt.tables[name] != nil || rt.broadcast[name] {
				if start, end, ok := span(); ok {
					toks = append(toks, tok{start: start, end: end, name: name})
				}
			}
		case normalize && (typ == sqlparser.INTEGRAL || typ == sqlparser.STRING) && (comparison(prev) || st == 1 || st == 3):
			start, end, ok := span()
			if !ok {
				break
			}
			var v any
			if typ == sqlparser.STRING {
				// The tokenizer is one byte past a string's closing
				// quote: the key keeps that byte.
				for end > start+1 && sql[end-1] != '\'' && sql[end-1] != '"' {
					end--
				}
				v = string(val)
			} else if n, err := strconv.ParseInt(string(val), 10, 64); err == nil {
				v = n
			}
			if v != nil {
				b.WriteString(sql[last:start])
				b.WriteByte('?')
				last = end
				lits = append(lits, v)
			}
		}
		prev = typ
	}
	if len(toks) == 0 {
		if broken && rt.mentions(sql) {
			// The tokens after a lexing error are unknown: a rule table
			// there must not send the statement unsharded to the default
			// data source. The parse that follows refuses it.
			return nil, true, sql, nil
		}
		return nil, false, "", nil
	}
	if len(lits) == 0 {
		return toks, true, sql, nil
	}
	b.WriteString(sql[last:])
	return toks, true, b.String(), lits
}

// parseSQL parses sql; the parser panics on some malformed text (SELECT,
// two single quotes and a table name: FuzzRoute found it), which is a
// syntax error here.
func parseSQL(sql string) (stmt sqlparser.Statement, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmt, err = nil, fmt.Errorf("syntax error the parser could not report (%v)", r)
		}
	}()
	return sqlparser.Parse(sql)
}

// scanTok is tk's next token. The tokenizer panics on some malformed
// executable comments (e.g. "/*!*/"); that ends the text as a lexing error.
func scanTok(tk *sqlparser.Tokenizer) (typ int, val []byte) {
	defer func() {
		if recover() != nil {
			typ, val = sqlparser.LEX_ERROR, nil
		}
	}()
	return tk.Scan()
}

// mentions reports whether the text holds a rule table's name anywhere
// (case ignored): the conservative answer for a text that cannot be
// tokenized.
func (rt *Router) mentions(sql string) bool {
	low := strings.ToLower(sql)
	for name := range rt.tables {
		if strings.Contains(low, name) {
			return true
		}
	}
	for name := range rt.broadcast {
		if strings.Contains(low, name) {
			return true
		}
	}
	return false
}

// lowerName is an identifier in lower case, without copying one that is
// already (the common case).
func lowerName(b []byte) string {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return strings.ToLower(string(b))
		}
	}
	return string(b)
}

func comparison(typ int) bool {
	switch typ {
	case '=', '<', '>', sqlparser.LE, sqlparser.GE, sqlparser.NE, sqlparser.NULL_SAFE_EQUAL:
		return true
	}
	return false
}

// tok is an identifier of the text that names a rule table.
type tok struct {
	start, end int
	name       string // lower case
}

// scan finds the identifiers that name rule tables, with their offsets.
func (rt *Router) scan(sql string) ([]tok, bool) {
	toks, named, _, _ := rt.scanKey(sql, false)
	return toks, named
}

type planner struct {
	// vals is allowed's scratch map of one combination of values.
	vals map[string]any
	rt   *Router
	sql  string
	toks []tok
	args []any
	// hints are the statement's sharding hints (parseHints), when the rule
	// has hint strategies.
	hints map[string]any
	// subqueries are the statement's, at any depth.
	subqueries []*sqlparser.Subquery
	// sharded and bcast are the rule tables the statement references (in
	// order of first appearance); others are tables without a rule.
	sharded []*Table
	bcast   []string
	others  []string
	// aliases maps an alias (lower case) or a sharded table's name to it.
	aliases map[string]*Table
	// refs counts the references to each rule table's name in the AST.
	refs map[string]int
	// from is the number of table expressions in FROM (1: unqualified
	// columns are the table's).
	from int
}

func (p *planner) addTable(tn sqlparser.TableName, as string) error {
	name := strings.ToLower(tn.Name.String())
	t := p.rt.tables[name]
	switch {
	case t != nil:
		if !tn.DbQualifier.IsEmpty() {
			return unsupported("a database-qualified sharded table (%s.%s): name it without the database", tn.DbQualifier.String(), tn.Name.String())
		}
		found := false
		for _, x := range p.sharded {
			found = found || x == t
		}
		if !found {
			p.sharded = append(p.sharded, t)
		}
		p.aliases[name] = t
		if as != "" {
			a := strings.ToLower(as)
			if prev := p.aliases[a]; prev != nil && prev != t {
				// A subquery's alias shadowing the statement's: columns
				// qualified by it would route by the wrong table.
				return unsupported("the alias %s names both %s and %s", as, prev.Name, t.Name)
			}
			p.aliases[a] = t
		}
	case p.rt.broadcast[name]:
		if !tn.DbQualifier.IsEmpty() {
			return unsupported("a database-qualified broadcast table (%s.%s)", tn.DbQualifier.String(), tn.Name.String())
		}
		p.bcast = append(p.bcast, name)
	case name != "" && name != "dual":
		p.others = append(p.others, tn.Name.String())
	}
	return nil
}

// collect finds the tables of a statement and counts the references to
// rule tables' names; unions and CTEs are refused, subqueries kept for
// subqueryNode.
func (p *planner) collect(stmt sqlparser.Statement) error {
	p.aliases, p.refs = map[string]*Table{}, map[string]int{}
	count := func(tn sqlparser.TableName) {
		if n := strings.ToLower(tn.Name.String()); p.rt.tables[n] != nil || p.rt.broadcast[n] {
			p.refs[n]++
		}
	}
	var err error
	walkErr := sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		switch n := node.(type) {
		case *sqlparser.Subquery:
			p.subqueries = append(p.subqueries, n)
			return true, nil // its tables are the statement's
		case *sqlparser.SetOp:
			return false, unsupported("UNION, INTERSECT and EXCEPT on sharded or broadcast tables")
		case *sqlparser.With:
			if n != nil {
				return false, unsupported("WITH (common table expressions) on sharded or broadcast tables")
			}
		case *sqlparser.AliasedTableExpr:
			tn, ok := n.Expr.(sqlparser.TableName)
			if !ok {
				return false, unsupported("derived tables in statements on sharded or broadcast tables")
			}
			as := n.As.String()
			if err = p.addTable(tn, as); err != nil {
				return false, err
			}
			count(tn)
			if a := strings.ToLower(as); a != "" && (p.rt.tables[a] != nil || p.rt.broadcast[a]) {
				p.refs[a]++
			}
			return false, nil // its TableName is counted
		case *sqlparser.DDL:
			if n.ViewSpec == nil {
				return false, nil // its tables are taken below, each once
			}
		case *sqlparser.AlterTable:
			return false, nil // Walk visits its table once per clause
		case sqlparser.TableName:
			count(n)
		case *sqlparser.ColName:
			if !n.Qualifier.IsEmpty() {
				count(n.Qualifier)
			}
			return false, nil
		case *sqlparser.StarExpr:
			if !n.TableName.IsEmpty() {
				count(n.TableName)
			}
			return false, nil
		}
		return true, nil
	}, stmt)
	if walkErr != nil {
		return walkErr
	}
	// Tables that are not in a FROM list.
	switch st := stmt.(type) {
	case *sqlparser.Insert:
		if err := p.addTable(st.Table, ""); err != nil {
			return err
		}
		if sel, ok := st.Rows.(*sqlparser.Select); ok {
			p.from = len(sel.From) // for the SELECT's own WHERE
			if p.from == 1 {
				if _, ok := sel.From[0].(*sqlparser.AliasedTableExpr); !ok {
					p.from = 2
				}
			}
		} else if _, ok := st.Rows.(*sqlparser.SetOp); ok {
			return unsupported("INSERT … SELECT … UNION on sharded or broadcast tables")
		}
	case *sqlparser.DDL:
		if st.ViewSpec != nil {
			break // walked
		}
		for _, tn := range ddlTables(st) {
			if err := p.addTable(tn, ""); err != nil {
				return err
			}
			count(tn)
		}
	case *sqlparser.AlterTable:
		tables := []sqlparser.TableName{st.Table}
		for _, d := range st.Statements {
			if d.Action == sqlparser.RenameStr && p.isRuleTable(st.Table) {
				return unsupported("ALTER TABLE … RENAME of a sharded or broadcast table (every node's tables would take one name): rename the actual tables and change the rule")
			}
			tables = append(tables, referenced(d)...)
		}
		for _, tn := range tables {
			if err := p.addTable(tn, ""); err != nil {
				return err
			}
			count(tn)
		}
	case *sqlparser.Select:
		p.from = len(st.From)
		if p.from == 1 {
			if _, ok := st.From[0].(*sqlparser.AliasedTableExpr); !ok {
				p.from = 2 // a join: unqualified columns are ambiguous here
			}
		}
	case *sqlparser.Update:
		p.from = len(st.TableExprs)
	case *sqlparser.Delete:
		p.from = len(st.TableExprs)
	}
	return nil
}

// ddlTables are the tables a DDL statement names (views aside).
func ddlTables(d *sqlparser.DDL) []sqlparser.TableName {
	var out []sqlparser.TableName
	if !d.Table.IsEmpty() {
		out = append(out, d.Table)
	}
	out = append(out, d.FromTables...)
	out = append(out, d.ToTables...)
	if d.OptLike != nil {
		out = append(out, d.OptLike.LikeTables...)
	}
	return append(out, referenced(d)...)
}

// referenced are the tables a DDL's foreign keys reference.
func referenced(d *sqlparser.DDL) []sqlparser.TableName {
	if d.TableSpec == nil {
		return nil
	}
	var out []sqlparser.TableName
	for _, c := range d.TableSpec.Constraints {
		if fk, ok := c.Details.(*sqlparser.ForeignKeyDefinition); ok {
			out = append(out, fk.ReferencedTable)
		}
	}
	return out
}

func (p *planner) isRuleTable(tn sqlparser.TableName) bool {
	n := strings.ToLower(tn.Name.String())
	return p.rt.tables[n] != nil || p.rt.broadcast[n]
}

// checkCounts makes sure every identifier of the text that spells a rule
// table's name is a reference to that table (so renaming them all is
// right): a column or alias spelled like a sharded table is refused.
func (p *planner) checkCounts() error {
	seen := map[string]int{}
	for _, t := range p.toks {
		seen[t.name]++
	}
	for name, n := range seen {
		if p.refs[name] != n {
			return unsupported("%q names a sharded or broadcast table and also something else (a column, an alias, a database) in this statement; rename that", name)
		}
	}
	return nil
}

// primary is the statement's sharded table: one, or several of one
// binding group (they shard alike, node by node).
func (p *planner) primary() (*Table, error) {
	if len(p.others) > 0 && len(p.sharded) > 0 {
		return nil, unsupported("%s has no table rule (it lives on defaultDataSourceName) and cannot be used with sharded %s in one statement", p.others[0], p.sharded[0].Name)
	}
	if len(p.sharded) == 0 {
		return nil, nil
	}
	t := p.sharded[0]
	for _, o := range p.sharded[1:] {
		if t.binding == 0 || o.binding != t.binding {
			return nil, unsupported("joins of sharded tables %s and %s, which are not binding tables (bindingTables)", t.Name, o.Name)
		}
	}
	return t, nil
}

// nodes is a set of node indexes of the primary table.
type nodes []bool

func allNodes(n int) nodes {
	s := make(nodes, n)
	for i := range s {
		s[i] = true
	}
	return s
}

func (s nodes) and(o nodes) {
	for i := range s {
		s[i] = s[i] && o[i]
	}
}

func (s nodes) or(o nodes) {
	for i := range s {
		s[i] = s[i] || o[i]
	}
}

func (s nodes) list() []int {
	var out []int
	for i, ok := range s {
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// maxCombos bounds the value combinations a conjunction is evaluated for
// (IN lists on several columns multiply).
const maxCombos = 4096

// where routes a WHERE clause: the nodes rows matching it can live on.
// Anything it cannot read (ranges, functions, other columns) is every node.
// nodesOf is the nodes of t a statement with this WHERE runs on: those
// the WHERE allows and its hints (for hint strategies) allow.
func (p *planner) nodesOf(t *Table, e sqlparser.Expr) nodes {
	s := p.where(t, e)
	if p.hints != nil {
		s.and(p.hintNodes(t))
	}
	return s
}

func (p *planner) where(t *Table, e sqlparser.Expr) nodes {
	if e == nil {
		return allNodes(len(t.Nodes))
	}
	switch x := e.(type) {
	case *sqlparser.OrExpr:
		s := p.where(t, x.Left)
		s.or(p.where(t, x.Right))
		return s
	case *sqlparser.ParenExpr:
		return p.where(t, x.Expr)
	}
	// A conjunction: equalities gathered per column, other parts (ORs)
	// routed apart and intersected.
	parts := conjuncts(nil, e)
	eq := map[string][]any{}
	var rng map[string]span
	s := allNodes(len(t.Nodes))
	for _, part := range parts {
		if _, ok := part.(*sqlparser.OrExpr); ok {
			s.and(p.where(t, part))
			continue
		}
		if col, sp, ok := p.bound(t, part); ok {
			if rng == nil {
				rng = map[string]span{}
			}
			if prev, seen := rng[col]; seen {
				sp = span{max(prev.lo, sp.lo), min(prev.hi, sp.hi)}
			}
			rng[col] = sp
			continue
		}
		col, vals, ok := p.equality(t, part)
		if !ok {
			continue
		}
		if prev, seen := eq[col]; seen {
			vals = intersect(prev, vals)
		}
		eq[col] = vals
	}
	s.and(p.byValues(t, eq, rng))
	return s
}

// conjuncts appends to dst the parts of e's conjunction (ANDs and
// parentheses taken apart).
func conjuncts(dst []sqlparser.Expr, e sqlparser.Expr) []sqlparser.Expr {
	switch x := e.(type) {
	case *sqlparser.AndExpr:
		return conjuncts(conjuncts(dst, x.Left), x.Right)
	case *sqlparser.ParenExpr:
		return conjuncts(dst, x.Expr)
	}
	return append(dst, e)
}

// span is an inclusive range of integer sharding values (from BETWEEN, <,
// <=, >, >=); open ends are the int64 limits.
type span struct{ lo, hi int64 }

// maxEnum bounds the integers of a range enumerated as equalities.
const maxEnum = 1024

// bound reads "col BETWEEN a AND b" or "col < n" (<=, >, >=, either side)
// with integer literals on one of t's sharding columns. Integers suffice:
// the strategies ranges prune (RANGE, MOD, inline arithmetic) store only
// rows whose key is an integer, since only those route on INSERT.
func (p *planner) bound(t *Table, e sqlparser.Expr) (string, span, bool) {
	all := span{math.MinInt64, math.MaxInt64}
	switch x := e.(type) {
	case *sqlparser.RangeCond:
		if x.Operator != sqlparser.BetweenStr {
			return "", all, false
		}
		col, ok := p.column(t, x.Left)
		if !ok {
			return "", all, false
		}
		lo, ok1 := p.rangeValue(t, col, x.From)
		hi, ok2 := p.rangeValue(t, col, x.To)
		if !ok1 || !ok2 {
			return "", all, false
		}
		return col, span{lo, hi}, true
	case *sqlparser.ComparisonExpr:
		op, left, right := x.Operator, x.Left, x.Right
		if _, ok := left.(*sqlparser.ColName); !ok {
			left, right = right, left
			op = flipped(op)
		}
		col, ok := p.column(t, left)
		if !ok {
			return "", all, false
		}
		n, ok := p.rangeValue(t, col, right)
		if !ok {
			return "", all, false
		}
		sp := all
		switch op {
		case sqlparser.LessThanStr:
			if n == math.MinInt64 {
				return col, span{1, 0}, true // nothing is less
			}
			sp.hi = n - 1
		case sqlparser.LessEqualStr:
			sp.hi = n
		case sqlparser.GreaterThanStr:
			if n == math.MaxInt64 {
				return col, span{1, 0}, true
			}
			sp.lo = n + 1
		case sqlparser.GreaterEqualStr:
			sp.lo = n
		default:
			return "", all, false
		}
		return col, sp, true
	}
	return "", all, false
}

// flipped is the comparison with its operands swapped: 5 < col is col > 5.
func flipped(op string) string {
	switch op {
	case sqlparser.LessThanStr:
		return sqlparser.GreaterThanStr
	case sqlparser.LessEqualStr:
		return sqlparser.GreaterEqualStr
	case sqlparser.GreaterThanStr:
		return sqlparser.LessThanStr
	case sqlparser.GreaterEqualStr:
		return sqlparser.LessEqualStr
	}
	return op
}

// rangeValue is a range bound on column col of t: for a column an INTERVAL
// strategy shards, the microsecond of a datetime (a string or a time
// parameter); for others an integer (intValue).
func (p *planner) rangeValue(t *Table, col string, e sqlparser.Expr) (int64, bool) {
	for _, st := range [2]*strategy{t.db, t.tb} {
		if st.iv != nil && st.cols[0] == col {
			x, ok := p.value(e)
			if !ok {
				return 0, false
			}
			return st.iv.value(x)
		}
	}
	return p.intValue(e)
}

// intValue is value() when it is an integer (a quoted number compares as
// text against a text column, so it does not bound a range).
func (p *planner) intValue(e sqlparser.Expr) (int64, bool) {
	if v, ok := e.(*sqlparser.SQLVal); ok && v.Type == sqlparser.StrVal {
		return 0, false
	}
	x, ok := p.value(e)
	if !ok {
		return 0, false
	}
	n, ok := x.(int64)
	return n, ok
}

func intersect(a, b []any) []any {
	var out []any
	for _, x := range a {
		for _, y := range b {
			if fmt.Sprint(x) == fmt.Sprint(y) {
				out = append(out, x)
				break
			}
		}
	}
	if out == nil {
		out = []any{} // no value satisfies both: no node
	}
	return out
}

// equality reads "col = literal" or "col IN (literals)" on one of t's
// sharding columns.
func (p *planner) equality(t *Table, e sqlparser.Expr) (string, []any, bool) {
	c, ok := e.(*sqlparser.ComparisonExpr)
	if !ok {
		return "", nil, false
	}
	left, right := c.Left, c.Right
	switch c.Operator {
	case sqlparser.EqualStr:
		if _, ok := left.(*sqlparser.ColName); !ok {
			left, right = right, left
		}
	case sqlparser.InStr:
	default:
		return "", nil, false
	}
	col, ok := p.column(t, left)
	if !ok {
		return "", nil, false
	}
	var vals []any
	switch r := right.(type) {
	case sqlparser.ValTuple:
		if c.Operator != sqlparser.InStr {
			return "", nil, false
		}
		for _, x := range r {
			v, ok := p.value(x)
			if !ok {
				return "", nil, false
			}
			vals = append(vals, v)
		}
	default:
		if c.Operator != sqlparser.EqualStr {
			return "", nil, false
		}
		v, ok := p.value(right)
		if !ok {
			return "", nil, false
		}
		vals = []any{v}
	}
	return col, vals, true
}

// column reads a reference to one of t's sharding columns.
func (p *planner) column(t *Table, e sqlparser.Expr) (string, bool) {
	cn, ok := e.(*sqlparser.ColName)
	if !ok {
		return "", false
	}
	if q := cn.Qualifier; !q.IsEmpty() {
		if !q.DbQualifier.IsEmpty() || p.aliases[strings.ToLower(q.Name.String())] != t {
			return "", false
		}
	} else if p.from != 1 {
		return "", false
	}
	name := cn.Name.Lowered()
	for _, st := range []*strategy{t.db, t.tb} {
		for _, c := range st.cols {
			if c == name {
				return name, true
			}
		}
	}
	return "", false
}

// value reads a literal (or a bound parameter) as a sharding value: int64
// or string. NULL and other expressions are not read.
func (p *planner) value(e sqlparser.Expr) (any, bool) {
	v, ok := e.(*sqlparser.SQLVal)
	if !ok {
		if u, ok := e.(*sqlparser.UnaryExpr); ok && u.Operator == sqlparser.UMinusStr {
			if x, ok := p.value(u.Expr); ok {
				if n, ok := x.(int64); ok && n != math.MinInt64 {
					return -n, true
				}
			}
		}
		return nil, false
	}
	switch v.Type {
	case sqlparser.IntVal:
		n, err := strconv.ParseInt(string(v.Val), 10, 64)
		return n, err == nil
	case sqlparser.StrVal:
		return string(v.Val), true
	case sqlparser.ValArg:
		i, err := strconv.Atoi(strings.TrimPrefix(string(v.Val), ":v"))
		if err != nil || i < 1 || i > len(p.args) {
			return nil, false
		}
		switch a := p.args[i-1].(type) {
		case int64:
			return a, true
		case int:
			return int64(a), true
		case string:
			return a, true
		case []byte:
			return string(a), true
		case time.Time:
			return a, true // INTERVAL routes it; other strategies refuse it
		}
	}
	return nil, false
}

// byValues is the nodes the equalities allow: a strategy whose columns
// all have values routes to the targets those values give.
func (p *planner) byValues(t *Table, eq map[string][]any, rng map[string]span) nodes {
	dsOK := p.allowed(t.db, eq, rng, t.dsNames)
	tbOK := p.allowed(t.tb, eq, rng, t.tbNames)
	s := make(nodes, len(t.Nodes))
	for i, n := range t.Nodes {
		s[i] = (dsOK == nil || dsOK[n.DataSource]) && (tbOK == nil || tbOK[n.Table])
	}
	return s
}

// allowed is the set of candidates the values route to; nil: any (the
// strategy is none, or a column has no value, or a value routes nowhere
// known, which a read answers by asking every node).
func (p *planner) allowed(st *strategy, eq map[string][]any, rng map[string]span, candidates []string) map[string]bool {
	if st.none() {
		return nil
	}
	combos := 1
	for _, c := range st.cols {
		vs, ok := eq[c]
		if !ok {
			sp, ranged := rng[c]
			if !ranged {
				return nil
			}
			if sp.lo > sp.hi {
				return map[string]bool{} // an empty range: no row
			}
			if out, ok := st.rangeTargets(sp, candidates); ok {
				return out
			}
			if vs, ok = st.enumerate(sp); !ok {
				return nil
			}
			eq = maps.Clone(eq)
			eq[c] = vs
		}
		combos *= max(len(vs), 1)
		if len(vs) == 0 {
			return map[string]bool{} // contradictory equalities: no row
		}
		if combos > maxCombos {
			return nil
		}
	}
	out := make(map[string]bool, len(candidates))
	if p.vals == nil {
		p.vals = make(map[string]any, len(st.cols))
	}
	vals := p.vals // scratch: reused by each strategy evaluated
	clear(vals)
	// Once every candidate is reached, more values cannot add one (a
	// range of 100 keys over 2 nodes evaluates ~2, not 100).
	var walk func(i int) bool
	walk = func(i int) bool {
		if i == len(st.cols) {
			name, err := st.target(vals, candidates)
			if err != nil {
				return false
			}
			out[name] = true
			return true
		}
		for _, v := range eq[st.cols[i]] {
			if len(out) == len(candidates) {
				break
			}
			vals[st.cols[i]] = v
			if !walk(i + 1) {
				return false
			}
		}
		return true
	}
	if !walk(0) {
		return nil
	}
	return out
}

// rewrite is the statement's text for node i of t: every rule-table
// identifier renamed to its actual table there (binding tables to theirs,
// broadcast tables unchanged).
func (p *planner) rewrite(t *Table, i int) string {
	var b strings.Builder
	last := 0
	for _, tk := range p.toks {
		st := p.rt.tables[tk.name]
		if st == nil || t == nil {
			continue // broadcast: the same name everywhere
		}
		b.WriteString(p.sql[last:tk.start])
		if q := p.sql[tk.start]; q == '`' || q == '"' {
			b.WriteByte('`')
			b.WriteString(strings.ReplaceAll(st.Nodes[i].Table, "`", "``"))
			b.WriteByte('`')
		} else {
			b.WriteString(st.Nodes[i].Table)
		}
		last = tk.end
	}
	b.WriteString(p.sql[last:])
	return b.String()
}

// targetOf is node i's target.
func targetOf(t *Table, i int) string { return t.Nodes[i].DataSource }

// broadcastRead is where a read of broadcast tables only runs.
func (p *planner) broadcastRead() string {
	for _, n := range p.rt.targets {
		if n == p.rt.def {
			return n
		}
	}
	return p.rt.targets[0]
}

// everywhere runs the statement unchanged on every target (a write to
// broadcast tables).
func (p *planner) everywhere() *Route {
	r := &Route{Write: true, Merge: Merge{Kind: Same}}
	for _, n := range p.rt.targets {
		r.Units = append(r.Units, Unit{Target: n, SQL: p.sql, Args: true})
	}
	return r
}

func (p *planner) selectRoute(st *sqlparser.Select) (*Route, error) {
	if st.Into != nil {
		return nil, unsupported("SELECT … INTO on sharded or broadcast tables")
	}
	t, err := p.primary()
	if err != nil {
		return nil, err
	}
	if len(p.subqueries) > 0 && t != nil {
		// The statement's own table, not one of its subqueries'.
		if t = p.outerTable(st.From); t == nil {
			return nil, unsupported("subqueries on sharded tables in a statement on tables without sharding")
		}
	}
	if t == nil {
		if len(p.others) > 0 {
			if p.rt.def == "" {
				return nil, unsupported("%s has no table rule and there is no defaultDataSourceName", p.others[0])
			}
			return &Route{Units: []Unit{{Target: p.rt.def, SQL: p.sql, Args: true}}}, nil
		}
		return &Route{Units: []Unit{{Target: p.broadcastRead(), SQL: p.sql, Args: true}}}, nil
	}
	var where sqlparser.Expr
	if st.Where != nil {
		where = st.Where.Expr
	}
	idx := p.nodesOf(t, where).list()
	if len(idx) == 0 {
		idx = []int{0} // no node can hold a row: one answers with none
	}
	if len(p.subqueries) > 0 {
		if err := p.subqueriesOn(t, st.From, idx); err != nil {
			return nil, err
		}
	}
	if len(idx) == 1 {
		return &Route{Units: []Unit{{Target: targetOf(t, idx[0]), SQL: p.rewrite(t, idx[0]), Args: true}}}, nil
	}
	m, edit, err := p.selectMerge(st)
	if err != nil {
		return nil, err
	}
	r := &Route{Merge: m}
	for _, i := range idx {
		text, err := edit(p.rewrite(t, i), i)
		if err != nil {
			return nil, err
		}
		r.Units = append(r.Units, Unit{Target: targetOf(t, i), SQL: text, Args: !m.havingEdited || len(p.args) == 0})
	}
	return r, nil
}

func hasSubquery(e sqlparser.Expr) bool {
	found := false
	sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if _, ok := n.(*sqlparser.Subquery); ok {
			found = true
		}
		return !found, nil
	}, e)
	return found
}

// outerTable is the first sharded table of a FROM list (nil: none).
func (p *planner) outerTable(from sqlparser.TableExprs) *Table {
	for _, te := range from {
		switch x := te.(type) {
		case *sqlparser.AliasedTableExpr:
			if tn, ok := x.Expr.(sqlparser.TableName); ok {
				if t := p.rt.tables[strings.ToLower(tn.Name.String())]; t != nil {
					return t
				}
			}
		case *sqlparser.JoinTableExpr:
			if t := p.outerTable(sqlparser.TableExprs{x.LeftExpr, x.RightExpr}); t != nil {
				return t
			}
		case *sqlparser.ParenTableExpr:
			if t := p.outerTable(x.Exprs); t != nil {
				return t
			}
		}
	}
	return nil
}

// subqueriesOn checks that a SELECT on table t routed to its nodes idx
// may run there with its subqueries as they are: every sharded table of
// every subquery is either correlated with t on all its sharding columns
// (i.order_id = o.order_id AND i.user_id = o.user_id: binding tables, so
// the rows an outer row meets lie on its node, whichever nodes run), or
// routes by the subquery's own WHERE to the statement's one node. Either
// way each node's subquery sees every row it would see on one server.
func (p *planner) subqueriesOn(t *Table, from sqlparser.TableExprs, idx []int) error {
	outerAliases := map[string]bool{}
	aliasesOf(from, outerAliases)
	outer := p.from
	defer func() { p.from = outer }()
	for _, sq := range p.subqueries {
		sel, ok := sq.Select.(*sqlparser.Select)
		if !ok {
			return unsupported("UNION in subqueries on sharded or broadcast tables")
		}
		p.from = len(sel.From)
		if p.from == 1 {
			if _, ok := sel.From[0].(*sqlparser.AliasedTableExpr); !ok {
				p.from = 2
			}
		}
		var where sqlparser.Expr
		if sel.Where != nil {
			where = sel.Where.Expr
		}
		var tables []*Table
		if err := p.subqueryTables(sel.From, &tables); err != nil {
			return err
		}
		for _, ts := range tables {
			if p.correlated(ts, t, where, outerAliases) {
				continue
			}
			if len(idx) != 1 {
				return unsupported("a subquery on %s in a statement over several data nodes: correlate it with the statement's table on every sharding column, or give both the sharding key of one node", ts.Name)
			}
			if got := p.nodesOf(ts, where).list(); len(got) != 1 || got[0] != idx[0] {
				return unsupported("a subquery on %s that does not route to the statement's one data node: give the subquery the sharding key, equal to the statement's, or correlate it on every sharding column", ts.Name)
			}
		}
	}
	return nil
}

// aliasesOf adds the names a FROM list's tables go by (lower case).
func aliasesOf(from sqlparser.TableExprs, out map[string]bool) {
	for _, te := range from {
		switch x := te.(type) {
		case *sqlparser.AliasedTableExpr:
			if tn, ok := x.Expr.(sqlparser.TableName); ok {
				out[strings.ToLower(tn.Name.String())] = true
			}
			if !x.As.IsEmpty() {
				out[strings.ToLower(x.As.String())] = true
			}
		case *sqlparser.JoinTableExpr:
			aliasesOf(sqlparser.TableExprs{x.LeftExpr, x.RightExpr}, out)
		case *sqlparser.ParenTableExpr:
			aliasesOf(x.Exprs, out)
		}
	}
}

// correlated reports whether where equates every sharding column of ts
// (a binding table of t with the same sharding columns) with the same
// column of t, qualified by a name of the statement's own FROM.
func (p *planner) correlated(ts, t *Table, where sqlparser.Expr, outer map[string]bool) bool {
	cols := shardingCols(ts)
	if where == nil || len(cols) == 0 || !slices.Equal(cols, shardingCols(t)) {
		return false
	}
	for _, c := range cols {
		found := false
		for _, part := range conjuncts(nil, where) {
			cmp, ok := part.(*sqlparser.ComparisonExpr)
			if !ok || cmp.Operator != sqlparser.EqualStr {
				continue
			}
			for _, sides := range [2][2]sqlparser.Expr{{cmp.Left, cmp.Right}, {cmp.Right, cmp.Left}} {
				in, ok1 := sides[0].(*sqlparser.ColName)
				out, ok2 := sides[1].(*sqlparser.ColName)
				if !ok1 || !ok2 || in.Name.Lowered() != c || out.Name.Lowered() != c {
					continue
				}
				q := strings.ToLower(out.Qualifier.Name.String())
				innerOK := in.Qualifier.IsEmpty() && p.from == 1 || p.aliases[strings.ToLower(in.Qualifier.Name.String())] == ts && !outer[strings.ToLower(in.Qualifier.Name.String())]
				if innerOK && q != "" && outer[q] && p.aliases[q] == t && out.Qualifier.DbQualifier.IsEmpty() {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// shardingCols are the columns t's strategies shard by, sorted.
func shardingCols(t *Table) []string {
	var out []string
	for _, st := range []*strategy{t.db, t.tb} {
		if st != nil {
			out = append(out, st.cols...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// subqueryTables collects the sharded tables of a subquery's FROM list.
func (p *planner) subqueryTables(from sqlparser.TableExprs, out *[]*Table) error {
	for _, te := range from {
		switch x := te.(type) {
		case *sqlparser.JoinTableExpr:
			if err := p.subqueryTables(sqlparser.TableExprs{x.LeftExpr, x.RightExpr}, out); err != nil {
				return err
			}
		case *sqlparser.ParenTableExpr:
			if err := p.subqueryTables(x.Exprs, out); err != nil {
				return err
			}
		case *sqlparser.AliasedTableExpr:
			tn, ok := x.Expr.(sqlparser.TableName)
			if !ok {
				return unsupported("derived tables in statements on sharded or broadcast tables")
			}
			if t := p.rt.tables[strings.ToLower(tn.Name.String())]; t != nil {
				*out = append(*out, t) // broadcast tables are on every node
			}
		default:
			return unsupported("subquery FROM %s on sharded tables", sqlparser.String(te))
		}
	}
	return nil
}

// aggregates are the functions a merge folds.
var aggregates = map[string]bool{"count": true, "sum": true, "min": true, "max": true, "avg": true}

// unfoldable are aggregates a merge of per-node rows cannot compute.
var unfoldable = map[string]bool{"group_concat": true, "std": true, "stddev": true, "stddev_pop": true,
	"stddev_samp": true, "variance": true, "var_pop": true, "var_samp": true, "bit_and": true, "bit_or": true,
	"bit_xor": true, "json_arrayagg": true, "json_objectagg": true}

// edit changes node i's already renamed text.
type edit func(text string, i int) (string, error)

// Per-node LIMIT handling of a merged SELECT.
const (
	limitKeep   = -1 // as the client wrote it
	limitRemove = -2 // every row (groups are completed by the merge)
)

// selectMerge says how a SELECT's rows from several nodes merge, and
// returns the edit of each node's text (LIMIT widened or removed, hidden
// columns added: ORDER BY and GROUP BY columns not selected, AVG's SUM and
// COUNT).
func (p *planner) selectMerge(st *sqlparser.Select) (Merge, edit, error) {
	m, limit, hidden, err := p.selectShape(st)
	if err != nil {
		return m, nil, err
	}
	return m, func(text string, i int) (string, error) {
		var err error
		if len(hidden) > 0 {
			cols := make([]string, len(hidden))
			for j, h := range hidden {
				cols[j] = p.nodeText(h, i)
			}
			if text, err = p.addHidden(text, cols); err != nil {
				return "", err
			}
		}
		if len(m.distinctBy) > 0 {
			by := make([]string, len(m.distinctBy))
			for j, e := range m.distinctBy {
				by[j] = p.nodeText(e, i)
			}
			if text, err = addGroupBy(text, strings.Join(by, ", ")); err != nil {
				return "", err
			}
		}
		if m.havingEdited {
			// Bound first: the dropped HAVING may hold parameters.
			if len(p.args) > 0 {
				if text, err = p.bindText(text); err != nil {
					return "", err
				}
			}
			keep := ""
			if len(m.nodeHaving) > 0 {
				parts := make([]string, len(m.nodeHaving))
				for j, c := range m.nodeHaving {
					parts[j] = "(" + p.nodeText(c, i) + ")"
				}
				keep = " HAVING " + strings.Join(parts, " AND ")
			}
			if text, err = replaceClause(text, sqlparser.HAVING, keep); err != nil {
				return "", err
			}
		}
		if len(m.nodeOrder) > 0 {
			by := make([]string, len(m.nodeOrder))
			for j, k := range m.nodeOrder {
				by[j] = strconv.Itoa(k + 1)
			}
			if text, err = addOrderBy(text, strings.Join(by, ", ")); err != nil {
				return "", err
			}
		}
		switch {
		case limit == limitRemove:
			text, err = p.removeLimit(text)
		case limit >= 0:
			text, err = p.replaceLimit(text, 0, limit)
		}
		return text, err
	}, nil
}

// nodeText formats e for node i: columns qualified by a rule table's name
// get its actual table's name there. It does not change e (a cached
// statement is shared by every session).
func (p *planner) nodeText(e sqlparser.Expr, i int) string {
	buf := sqlparser.NewTrackedBuffer(func(buf *sqlparser.TrackedBuffer, node sqlparser.SQLNode) {
		if v, ok := node.(*sqlparser.SQLVal); ok && v.Type == sqlparser.ValArg {
			// A parameter (or a literal the cached statement holds as
			// one) in an added expression: its value, since the node's
			// parameters are the client's text's alone.
			if n, err := strconv.Atoi(strings.TrimPrefix(string(v.Val), ":v")); err == nil && n >= 1 && n <= len(p.args) {
				if lit, err := literal(p.args[n-1]); err == nil {
					lit.Format(buf)
					return
				}
			}
		}
		if c, ok := node.(*sqlparser.ColName); ok && c.Qualifier.DbQualifier.IsEmpty() {
			if t := p.rt.tables[strings.ToLower(c.Qualifier.Name.String())]; t != nil {
				buf.Myprintf("%v.%v", sqlparser.NewTableIdent(t.Nodes[i].Table), c.Name)
				return
			}
		}
		node.Format(buf)
	})
	buf.Myprintf("%v", e)
	return buf.String()
}

// selectShape checks that a SELECT's rows merge and says how; limit is the
// row count each node is asked for (limitKeep, limitRemove), hidden the
// expressions added to the select list.
func (p *planner) selectShape(st *sqlparser.Select) (m Merge, limit int64, hidden []sqlparser.Expr, err error) {
	m, limit = Merge{Kind: Rows, MaxRows: p.rt.maxRows}, limitKeep
	switch {
	case st.QueryOpts.SQLCalcFoundRows:
		return m, 0, nil, unsupported("SQL_CALC_FOUND_ROWS over several data nodes")
	case len(st.Window) > 0:
		return m, 0, nil, unsupported("WINDOW over several data nodes")
	}
	items := st.SelectExprs
	var subErr error // a hidden expression with a subquery (nodeText renames no table in it)
	hide := func(e sqlparser.Expr) int {
		if subErr == nil && hasSubquery(e) {
			subErr = unsupported("%s over several data nodes: a subquery as a merge key or aggregate argument", sqlparser.String(e))
		}
		hidden = append(hidden, e)
		return len(items) + len(hidden) - 1
	}
	star := false
	// distinctArgs are the arguments of DISTINCT aggregates, by text.
	var distinctArgs []sqlparser.Expr
	distinctAt := map[int]string{} // item index → its argument's text
	for i, se := range items {
		switch x := se.(type) {
		case *sqlparser.StarExpr:
			star = true
		case *sqlparser.AliasedExpr:
			if f, ok := x.Expr.(*sqlparser.FuncExpr); ok && aggregates[f.Name.Lowered()] {
				if f.Over != nil {
					return m, 0, nil, unsupported("window functions over several data nodes")
				}
				a := Agg{Index: i, Fn: f.Name.Lowered()}
				if f.Distinct && (a.Fn == "count" || a.Fn == "sum") {
					var arg *sqlparser.AliasedExpr
					ok := len(f.Exprs) == 1
					if ok {
						arg, ok = f.Exprs[0].(*sqlparser.AliasedExpr)
					}
					if !ok {
						return m, 0, nil, unsupported("%s over several data nodes: one expression in DISTINCT", sqlparser.String(f))
					}
					text := sqlparser.String(arg.Expr)
					if !slices.ContainsFunc(distinctArgs, func(e sqlparser.Expr) bool { return sqlparser.String(e) == text }) {
						distinctArgs = append(distinctArgs, arg.Expr)
					}
					a.Distinct, distinctAt[i] = true, text
				} else if f.Distinct && a.Fn == "avg" {
					return m, 0, nil, unsupported("AVG(DISTINCT …) over several data nodes; SUM(DISTINCT …) / COUNT(DISTINCT …) gives it")
				}
				// MIN/MAX(DISTINCT x) are MIN/MAX(x).
				m.Aggs = append(m.Aggs, a)
				continue
			}
			if err := noAggregate(x.Expr); err != nil {
				return m, 0, nil, err
			}
		default:
			return m, 0, nil, unsupported("select item %s over several data nodes", sqlparser.String(se))
		}
	}
	if len(m.Aggs) > 0 && star {
		return m, 0, nil, unsupported("* beside aggregates over several data nodes")
	}
	m.Distinct = st.QueryOpts.Distinct
	if m.Distinct && (len(m.Aggs) > 0 || len(st.GroupBy) > 0) {
		return m, 0, nil, unsupported("SELECT DISTINCT with aggregates or GROUP BY over several data nodes")
	}
	if m.Distinct && star {
		return m, 0, nil, unsupported("SELECT DISTINCT * over several data nodes; name the columns")
	}
	grouped := len(st.GroupBy) > 0 || m.Distinct || len(distinctArgs) > 0
	m.NoGroupBy = len(st.GroupBy) == 0 && len(m.Aggs) > 0
	if len(st.GroupBy) > 0 && star {
		return m, 0, nil, unsupported("SELECT * with GROUP BY over several data nodes; name the columns")
	}
	for _, g := range st.GroupBy {
		idx, err := p.itemIndex(items, g, "GROUP BY")
		if err != nil {
			return m, 0, nil, err
		}
		if idx < 0 {
			idx = hide(g)
		}
		m.Group = append(m.Group, idx)
	}
	// Each node groups by the DISTINCT arguments too (selectMerge's
	// edit): each value then comes once per group and node.
	for _, e := range distinctArgs {
		at, text := hide(e), sqlparser.String(e)
		for j := range m.Aggs {
			if m.Aggs[j].Distinct && distinctAt[m.Aggs[j].Index] == text {
				m.Aggs[j].Arg = at
			}
		}
	}
	m.distinctBy = distinctArgs
	for j, a := range m.Aggs {
		if a.Fn != "avg" {
			continue
		}
		f := items[a.Index].(*sqlparser.AliasedExpr).Expr.(*sqlparser.FuncExpr)
		m.Aggs[j].Sum = hide(&sqlparser.FuncExpr{Name: sqlparser.NewColIdent("SUM"), Exprs: f.Exprs})
		m.Aggs[j].Count = hide(&sqlparser.FuncExpr{Name: sqlparser.NewColIdent("COUNT"), Exprs: f.Exprs})
	}
	if st.Having != nil {
		if len(m.Aggs) == 0 && len(st.GroupBy) == 0 {
			return m, 0, nil, unsupported("HAVING without GROUP BY or aggregates over several data nodes")
		}
		operand := func(e sqlparser.Expr) (int, error) {
			switch x := e.(type) {
			case *sqlparser.FuncExpr:
				fn := x.Name.Lowered()
				if !aggregates[fn] || x.Distinct || x.Over != nil {
					break
				}
				if i, err := p.itemIndex(items, x, "HAVING"); err == nil {
					return i, nil
				}
				a := Agg{Index: hide(x), Fn: fn}
				if fn == "avg" {
					a.Sum = hide(&sqlparser.FuncExpr{Name: sqlparser.NewColIdent("SUM"), Exprs: x.Exprs})
					a.Count = hide(&sqlparser.FuncExpr{Name: sqlparser.NewColIdent("COUNT"), Exprs: x.Exprs})
				}
				m.Aggs = append(m.Aggs, a)
				return a.Index, nil
			case *sqlparser.ColName:
				if i := selectIndex(items, x); i >= 0 {
					return i, nil
				}
				for _, g := range m.Group {
					if g >= len(items) && sqlparser.String(hidden[g-len(items)]) == sqlparser.String(x) {
						return g, nil
					}
				}
			}
			return 0, unsupported("HAVING on %s over several data nodes: use COUNT, SUM, MIN, MAX, AVG, a selected alias or a grouped column", sqlparser.String(e))
		}
		// Comparisons of a group key with a literal stay on the nodes,
		// which compare under the key's collation (every member of a
		// merged group compares alike); the rest is evaluated here.
		m.havingEdited = true
		var kept sqlparser.Expr
		for _, c := range conjuncts(nil, st.Having.Expr) {
			if p.keyComparison(c, items, hidden, m.Group) {
				m.nodeHaving = append(m.nodeHaving, c)
			} else if kept == nil {
				kept = c
			} else {
				kept = &sqlparser.AndExpr{Left: kept, Right: c}
			}
		}
		if kept != nil {
			if m.Having, err = p.having(items, kept, operand); err != nil {
				return m, 0, nil, err
			}
		}
	}
	// Without GROUP BY, aggregates give one row: ORDER BY has nothing to do.
	if len(m.Aggs) == 0 || len(st.GroupBy) > 0 {
		for _, o := range st.OrderBy {
			k := OrderKey{Index: -1, Desc: o.Direction == sqlparser.DescScr}
			if c, ok := o.Expr.(*sqlparser.ColName); ok && star && c.Qualifier.IsEmpty() {
				// Found by name in the result: items after * are not at
				// their index there.
				k.Name = c.Name.String()
				m.Order = append(m.Order, k)
				continue
			}
			idx, err := p.itemIndex(items, o.Expr, "ORDER BY")
			if err != nil {
				return m, 0, nil, err
			}
			if star && idx >= slices.IndexFunc(items, func(se sqlparser.SelectExpr) bool { _, ok := se.(*sqlparser.StarExpr); return ok }) {
				return m, 0, nil, unsupported("ORDER BY %s, an item after *, over several data nodes; order by its name", sqlparser.String(o.Expr))
			}
			if idx < 0 {
				if _, ok := o.Expr.(*sqlparser.ColName); !ok || star {
					return m, 0, nil, unsupported("ORDER BY %s beside * over several data nodes", sqlparser.String(o.Expr))
				}
				for _, g := range m.Group { // a GROUP BY column already added
					if g >= len(items) && sqlparser.String(hidden[g-len(items)]) == sqlparser.String(o.Expr) {
						idx = g
					}
				}
				if idx < 0 {
					if grouped {
						return m, 0, nil, unsupported("ORDER BY %s, neither selected nor grouped by, over several data nodes", sqlparser.String(o.Expr))
					}
					idx = hide(o.Expr)
				}
			}
			k.Index = idx
			m.Order = append(m.Order, k)
		}
	}
	// A grouped merge whose nodes sort by its keys folds as it streams:
	// without ORDER BY the nodes are asked to sort by the keys' positions
	// (GROUP BY's own order, not left to the server's implicit sort).
	if grouped && !m.NoGroupBy {
		key := m.Group
		if m.Distinct {
			key = make([]int, len(items))
			for i := range key {
				key[i] = i
			}
		}
		switch {
		case len(m.Order) == 0:
			m.Sorted, m.nodeOrder = true, key
		case len(m.Order) == len(key):
			m.Sorted = true
			for i, k := range m.Order {
				m.Sorted = m.Sorted && k.Index == key[i]
			}
		}
	}
	// Every key gets its weight under its collation, which the merge
	// compares when the key turns out to be text (keyCol).
	weigh := func(k int, name string) {
		if p.rt.local {
			return
		}
		var e sqlparser.Expr
		switch {
		case k < 0:
			// A column of * or an alias (which the select list cannot
			// name: its expression then).
			e = &sqlparser.ColName{Name: sqlparser.NewColIdent(name)}
			for _, se := range items {
				if ae, ok := se.(*sqlparser.AliasedExpr); ok && ae.As.EqualString(name) {
					e = ae.Expr
				}
			}
		case k < len(items):
			ae, ok := items[k].(*sqlparser.AliasedExpr)
			if !ok {
				return
			}
			e = ae.Expr
		default:
			e = hidden[k-len(items)]
		}
		if p.numeric(e) {
			return
		}
		for _, w := range m.Weights {
			if w.Col == k && (k >= 0 || strings.EqualFold(w.Name, name)) {
				return
			}
		}
		m.Weights = append(m.Weights, Weight{Col: k, Name: name, Hidden: hide(weightOf(e)) - len(items)})
	}
	for _, k := range m.Order {
		weigh(k.Index, k.Name)
	}
	for _, k := range m.Group {
		weigh(k, "")
	}
	if m.Distinct {
		for i := range items {
			weigh(i, "")
		}
	}
	for _, a := range m.Aggs {
		switch {
		case a.Distinct && a.Fn == "count":
			weigh(a.Arg, "")
		case a.Fn == "min" || a.Fn == "max":
			weigh(a.Index, "")
		}
	}
	if subErr != nil {
		return m, 0, nil, subErr
	}
	m.Hidden = len(hidden)
	if st.Limit != nil {
		o, c, err := p.limit(st.Limit)
		if err != nil {
			return m, 0, nil, err
		}
		m.Limit, m.Offset, m.Count = true, o, c
		switch {
		case grouped && p.groupsLimit(&m, items, hidden) && o+c <= int64(p.rt.maxRows) && o+c >= 0:
			// Groups the nodes send in merge order, by numbers: the
			// first o+c merged groups are among each node's first o+c
			// (a node's group is whole on that node).
			limit = o + c
		case grouped:
			// A group's rows may lie on every node: each sends all its
			// groups (bounded by props.shardingMaxRows as rows held).
			limit = limitRemove
		case o+c > int64(p.rt.maxRows) || o+c < 0:
			return m, 0, nil, unsupported("LIMIT %d, %d over several data nodes needs %d rows from each, above the bound of %d (props.shardingMaxRows)", o, c, o+c, p.rt.maxRows)
		case o > 0:
			limit = o + c
		}
	}
	return m, limit, hidden, nil
}

// keyComparison reports whether a HAVING conjunct compares a group key
// (a grouped column, or the alias of a grouped item) with a literal or
// parameter: true for every row of a merged group or for none.
func (p *planner) keyComparison(c sqlparser.Expr, items sqlparser.SelectExprs, hidden []sqlparser.Expr, group []int) bool {
	cmp, ok := c.(*sqlparser.ComparisonExpr)
	if !ok {
		return false
	}
	switch cmp.Operator {
	case sqlparser.EqualStr, sqlparser.NotEqualStr, sqlparser.LessThanStr, sqlparser.LessEqualStr, sqlparser.GreaterThanStr, sqlparser.GreaterEqualStr:
	default:
		return false
	}
	col, lit := cmp.Left, cmp.Right
	if _, ok := col.(*sqlparser.SQLVal); ok {
		col, lit = lit, col
	}
	cn, ok := col.(*sqlparser.ColName)
	if _, isLit := lit.(*sqlparser.SQLVal); !ok || !isLit {
		return false
	}
	if i := selectIndex(items, cn); i >= 0 {
		return slices.Contains(group, i)
	}
	for _, g := range group {
		if g >= len(items) && sqlparser.String(hidden[g-len(items)]) == sqlparser.String(cn) {
			return true
		}
	}
	return false
}

// groupsLimit reports whether a grouped merge may take only the first
// groups of each node: the nodes sort their groups in the merge's order
// (Sorted), none is filtered after the merge (HAVING) or sent as several
// rows (DISTINCT aggregates), and every key surely is a number, which
// orders alike there and here.
func (p *planner) groupsLimit(m *Merge, items sqlparser.SelectExprs, hidden []sqlparser.Expr) bool {
	if !m.Sorted || m.Having != nil || len(m.distinctBy) > 0 || m.NoGroupBy {
		return false
	}
	key := m.Group
	if m.Distinct {
		key = nil
		for i := range items {
			key = append(key, i)
		}
	}
	for _, k := range key {
		var e sqlparser.Expr
		switch {
		case k >= len(items):
			e = hidden[k-len(items)]
		default:
			ae, ok := items[k].(*sqlparser.AliasedExpr)
			if !ok {
				return false
			}
			e = ae.Expr
		}
		if !p.numeric(e) {
			return false
		}
	}
	return len(key) > 0
}

// numeric reports whether e surely is a number (COUNT, SUM, AVG, a
// column the rule shards by arithmetic or generates keys for, their MIN
// or MAX): its key needs no weight.
func (p *planner) numeric(e sqlparser.Expr) bool {
	switch x := e.(type) {
	case *sqlparser.FuncExpr:
		fn := x.Name.Lowered()
		if fn == "count" || fn == "sum" || fn == "avg" {
			return true
		}
		if len(x.Exprs) == 1 && (fn == "min" || fn == "max") {
			if ae, ok := x.Exprs[0].(*sqlparser.AliasedExpr); ok {
				return p.numeric(ae.Expr)
			}
		}
	case *sqlparser.ColName:
		t, _ := p.primary()
		if q := strings.ToLower(x.Qualifier.Name.String()); q != "" {
			t = p.aliases[q]
		}
		return t != nil && t.numeric(x.Name.Lowered())
	case *sqlparser.SQLVal:
		return x.Type == sqlparser.IntVal || x.Type == sqlparser.FloatVal
	}
	return false
}

// weightOf is WEIGHT_STRING(IF(e = RTRIM(e), RTRIM(e), e)): e's sort key
// under its collation. Under PAD SPACE collations e = RTRIM(e) always
// holds and trailing spaces, which they ignore, are dropped; under NO PAD
// ones it holds only without them. (Numbers and dates become text: their
// weights go unused.)
func weightOf(e sqlparser.Expr) sqlparser.Expr {
	fn := func(name string, xs ...sqlparser.Expr) *sqlparser.FuncExpr {
		args := make(sqlparser.SelectExprs, len(xs))
		for i, x := range xs {
			args[i] = &sqlparser.AliasedExpr{Expr: x}
		}
		return &sqlparser.FuncExpr{Name: sqlparser.NewColIdent(name), Exprs: args}
	}
	trimmed := fn("RTRIM", e)
	same := &sqlparser.ComparisonExpr{Operator: sqlparser.EqualStr, Left: e, Right: trimmed}
	return fn("WEIGHT_STRING", fn("IF", same, trimmed, e))
}

// itemIndex finds a GROUP BY or ORDER BY expression among the select
// items: a position, an alias, the same column, or the same aggregate. -1:
// a column that is not selected; an error for other expressions.
func (p *planner) itemIndex(items sqlparser.SelectExprs, e sqlparser.Expr, clause string) (int, error) {
	switch x := e.(type) {
	case *sqlparser.SQLVal:
		n, err := strconv.Atoi(string(x.Val))
		if x.Type != sqlparser.IntVal || err != nil || n < 1 || n > len(items) {
			return 0, unsupported("%s %s over several data nodes", clause, sqlparser.String(x))
		}
		if _, ok := items[n-1].(*sqlparser.AliasedExpr); !ok {
			return 0, unsupported("%s %d (a *) over several data nodes", clause, n)
		}
		return n - 1, nil
	case *sqlparser.ColName:
		return selectIndex(items, x), nil
	case *sqlparser.FuncExpr:
		if aggregates[x.Name.Lowered()] {
			text := sqlparser.String(x)
			for i, se := range items {
				if a, ok := se.(*sqlparser.AliasedExpr); ok && sqlparser.String(a.Expr) == text {
					return i, nil
				}
			}
		}
	}
	return 0, unsupported("%s an expression (%s) over several data nodes; use a selected column or alias", clause, sqlparser.String(e))
}

// noAggregate refuses an aggregate inside an expression (COUNT(*) + 1).
func noAggregate(e sqlparser.Expr) error {
	var err error
	sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		if _, ok := node.(*sqlparser.Subquery); ok {
			return false, nil // its aggregates are its own, per row
		}
		if _, ok := node.(*sqlparser.GroupConcatExpr); ok {
			err = unsupported("%s over several data nodes (only COUNT, SUM, MIN, MAX and AVG as whole select items merge)", sqlparser.String(e))
			return false, err
		}
		if f, ok := node.(*sqlparser.FuncExpr); ok {
			if f.Over != nil {
				err = unsupported("window functions (%s) over several data nodes", sqlparser.String(f))
				return false, err
			}
			if n := f.Name.Lowered(); aggregates[n] || unfoldable[n] {
				err = unsupported("%s over several data nodes (only COUNT, SUM, MIN, MAX and AVG as whole select items merge)", sqlparser.String(e))
				return false, err
			}
		}
		return true, nil
	}, e)
	return err
}

// selectIndex finds an ORDER BY column among the select items (by alias,
// or as the same column).
func selectIndex(items sqlparser.SelectExprs, c *sqlparser.ColName) int {
	for i, se := range items {
		a, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			continue
		}
		if c.Qualifier.IsEmpty() && !a.As.IsEmpty() && a.As.Equal(c.Name) {
			return i
		}
		if x, ok := a.Expr.(*sqlparser.ColName); ok && x.Name.Equal(c.Name) && (c.Qualifier.IsEmpty() || strings.EqualFold(x.Qualifier.Name.String(), c.Qualifier.Name.String())) && a.As.IsEmpty() {
			return i
		}
	}
	return -1
}

// limit reads LIMIT's offset and count (literals or parameters).
func (p *planner) limit(l *sqlparser.Limit) (int64, int64, error) {
	num := func(e sqlparser.Expr) (int64, error) {
		if e == nil {
			return 0, nil
		}
		v, ok := p.value(e)
		n, isInt := v.(int64)
		if !ok || !isInt || n < 0 {
			return 0, unsupported("LIMIT %s over several data nodes (a number is needed)", sqlparser.String(e))
		}
		return n, nil
	}
	o, err := num(l.Offset)
	if err != nil {
		return 0, 0, err
	}
	c, err := num(l.Rowcount)
	return o, c, err
}

// topLevel finds the offset of the last top-level keyword kw (LIMIT,
// FROM) of the text, -1 if none, and the end of the text it governs.
func topLevel(sql string, kw int) (at int, end int) {
	at, end = -1, len(sql)
	depth := 0
	tk := sqlparser.NewStringTokenizer(sql)
	for {
		typ, _ := scanTok(tk)
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			return
		}
		switch {
		case typ == '(':
			depth++
		case typ == ')':
			depth--
		case typ == kw && depth == 0:
			at = max(tk.Position-1, 0) - len(keywordText(kw))
		case at >= 0 && depth == 0 && kw == sqlparser.LIMIT && (typ == sqlparser.FOR || typ == sqlparser.LOCK):
			if end == len(sql) {
				end = max(tk.OldPosition-1, 0)
			}
		}
	}
}

// keywordText is the text of a clause keyword token, for its length.
func keywordText(kw int) string {
	switch kw {
	case sqlparser.FROM:
		return "from"
	case sqlparser.HAVING:
		return "having"
	case sqlparser.GROUP:
		return "group"
	case sqlparser.ORDER:
		return "order"
	case sqlparser.LIMIT:
		return "limit"
	case sqlparser.WINDOW:
		return "window"
	case sqlparser.FOR:
		return "for"
	case sqlparser.LOCK:
		return "lock"
	case sqlparser.INTO:
		return "into"
	}
	return ""
}

// replaceLimit rewrites the statement's LIMIT clause to LIMIT o, c.
func (p *planner) replaceLimit(text string, o, c int64) (string, error) {
	at, end := topLevel(text, sqlparser.LIMIT)
	if at < 0 {
		return "", fmt.Errorf("sharding: internal: LIMIT not found in %q", text)
	}
	return text[:at] + "limit " + strconv.FormatInt(o, 10) + ", " + strconv.FormatInt(c, 10) + " " + text[end:], nil
}

// removeLimit drops the statement's LIMIT clause.
func (p *planner) removeLimit(text string) (string, error) {
	at, end := topLevel(text, sqlparser.LIMIT)
	if at < 0 {
		return "", fmt.Errorf("sharding: internal: LIMIT not found in %q", text)
	}
	return text[:at] + text[end:], nil
}

// addGroupBy adds an expression to the statement's top-level GROUP BY
// (or gives it one).
func addGroupBy(text, expr string) (string, error) {
	at := len(text)
	for _, kw := range []int{sqlparser.HAVING, sqlparser.WINDOW, sqlparser.ORDER, sqlparser.LIMIT, sqlparser.FOR, sqlparser.LOCK, sqlparser.INTO} {
		if i, _ := topLevel(text, kw); i >= 0 && i < at {
			at = i
		}
	}
	head := strings.TrimRight(text[:at], " \t\r\n")
	if g, _ := topLevel(head, sqlparser.GROUP); g >= 0 {
		if strings.Contains(strings.ToLower(head[g:]), "rollup") {
			return "", unsupported("GROUP BY … WITH ROLLUP over several data nodes")
		}
		return head + ", " + expr + " " + text[at:], nil
	}
	return head + " group by " + expr + " " + text[at:], nil
}

// addOrderBy adds an ORDER BY (the statement has none) before the
// top-level LIMIT, FOR UPDATE, LOCK IN SHARE MODE or INTO.
func addOrderBy(text, expr string) (string, error) {
	at := len(text)
	for _, kw := range []int{sqlparser.LIMIT, sqlparser.FOR, sqlparser.LOCK, sqlparser.INTO} {
		if i, _ := topLevel(text, kw); i >= 0 && i < at {
			at = i
		}
	}
	if i, _ := topLevel(text, sqlparser.ORDER); i >= 0 {
		return "", fmt.Errorf("sharding: internal: ORDER BY already in %q", text)
	}
	return strings.TrimRight(text[:at], " \t\r\n") + " order by " + expr + " " + text[at:], nil
}

// addHidden adds select items before the top-level FROM.
func (p *planner) addHidden(text string, cols []string) (string, error) {
	at, _ := topLevel(text, sqlparser.FROM)
	if at < 0 {
		return "", fmt.Errorf("sharding: internal: FROM not found in %q", text)
	}
	return strings.TrimRight(text[:at], " \t\r\n") + ", " + strings.Join(cols, ", ") + " " + text[at:], nil
}

// Prepare is what a prepared statement needs before its parameters are
// known: ok false for a statement on no rule table; otherwise the target
// of its first data node and the statement's text there (tables renamed),
// which can be prepared for its parameter and column definitions. The
// statement is routed at each execution, with its parameters.
func (rt *Router) Prepare(sql string) (target, text string, ok bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			target, text, ok, err = "", "", true, fmt.Errorf("%w: shardgate could not plan this statement (internal error: %v)", ErrRoute, v)
		}
	}()
	toks, named := rt.scan(sql)
	if !named {
		return "", "", false, nil
	}
	if strings.Contains(sql, "/*!") || strings.Contains(sql, "/*M!") {
		return "", "", true, unsupported("executable comments (/*! … */) in statements on sharded or broadcast tables")
	}
	stmt, err := parseSQL(sql)
	if err != nil {
		return "", "", true, unsupported("cannot parse the statement: %v", err)
	}
	p := &planner{rt: rt, sql: sql, toks: toks}
	if err := p.collect(stmt); err != nil {
		return "", "", true, err
	}
	if len(p.sharded) == 0 && len(p.bcast) == 0 {
		return "", "", false, nil
	}
	if err := p.checkCounts(); err != nil {
		return "", "", true, err
	}
	t, err := p.primary()
	if err != nil {
		return "", "", true, err
	}
	if t == nil {
		return p.broadcastRead(), sql, true, nil
	}
	return targetOf(t, 0), p.rewrite(t, 0), true, nil
}
