package sharding

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// insertRoute splits an INSERT's rows by the node each routes to, adding
// generated keys where the table has a key generator and the statement
// gives no value for its column.
// insertSelectRoute plans INSERT … SELECT: between binding tables (or a
// table and itself), each sharding column of the target filled with the
// same column of the SELECT's table, so that every row goes to the node
// of the row it comes from: the statement runs, tables renamed, on each
// node the SELECT's WHERE routes to. Broadcast into broadcast runs on
// every node. Anything else is refused: its rows could belong elsewhere.
func (p *planner) insertSelectRoute(ins *sqlparser.Insert, sel *sqlparser.Select) (*Route, error) {
	name := strings.ToLower(ins.Table.Name.String())
	ta := p.rt.tables[name]
	if ta == nil {
		if p.rt.broadcast[name] && len(p.sharded) == 0 && len(p.others) == 0 {
			return p.everywhere(), nil // every node has the same rows to copy
		}
		return nil, unsupported("INSERT … SELECT into %s from sharded tables or tables without a rule: its rows would have to go to other nodes", ins.Table.Name.String())
	}
	if _, err := p.primary(); err != nil {
		return nil, err // sharded tables of different binding groups
	}
	tb := p.outerTable(sel.From)
	if tb == nil {
		return nil, unsupported("INSERT … SELECT into sharded %s from tables without sharding: its rows would have to go to every node by their values", ta.Name)
	}
	if len(ins.Columns) == 0 {
		return nil, routeErr("INSERT … SELECT into sharded table %s needs a column list, to find its sharding columns", ta.Name)
	}
	if ta.keyCol != "" && !slices.ContainsFunc(ins.Columns, func(c sqlparser.ColIdent) bool { return c.Lowered() == ta.keyCol }) {
		return nil, unsupported("INSERT … SELECT into %s cannot generate its %s keys row by row; select them", ta.Name, ta.keyCol)
	}
	if !slices.Equal(shardingCols(ta), shardingCols(tb)) {
		return nil, unsupported("INSERT … SELECT from %s into %s, which shard by other columns", tb.Name, ta.Name)
	}
	for _, c := range shardingCols(ta) {
		at := slices.IndexFunc(ins.Columns, func(x sqlparser.ColIdent) bool { return x.Lowered() == c })
		if at < 0 || at >= len(sel.SelectExprs) {
			return nil, routeErr("INSERT … SELECT into %s: no value for sharding column %s", ta.Name, c)
		}
		ae, ok := sel.SelectExprs[at].(*sqlparser.AliasedExpr)
		cn, isCol := ae.Expr.(*sqlparser.ColName)
		if !ok || !isCol || cn.Name.Lowered() != c || !cn.Qualifier.IsEmpty() && p.aliases[strings.ToLower(cn.Qualifier.Name.String())] != tb ||
			cn.Qualifier.IsEmpty() && p.from != 1 {
			return nil, unsupported("INSERT … SELECT into %s: sharding column %s must be filled with %s.%s itself, so that each row stays on its node", ta.Name, c, tb.Name, c)
		}
	}
	for _, a := range ins.OnDup {
		if p.isShardingColumn(ta, a.Name.Name.Lowered()) {
			return nil, unsupported("ON DUPLICATE KEY UPDATE of sharding column %s: the row would move to another node", a.Name.Name.String())
		}
	}
	var where sqlparser.Expr
	if sel.Where != nil {
		where = sel.Where.Expr
	}
	idx := p.nodesOf(tb, where).list()
	if len(idx) == 0 {
		idx = []int{0} // no node has rows to copy: one copies none
	}
	if len(idx) > 1 {
		grouped := len(sel.GroupBy) > 0 || sel.Having != nil || sel.QueryOpts.Distinct || len(sel.OrderBy) > 0 || sel.Limit != nil
		for _, se := range sel.SelectExprs {
			if ae, ok := se.(*sqlparser.AliasedExpr); ok && noAggregate(ae.Expr) != nil {
				grouped = true
			}
		}
		if grouped {
			return nil, unsupported("INSERT … SELECT with GROUP BY, aggregates, DISTINCT, ORDER BY or LIMIT over several data nodes: each node would insert its part's rows")
		}
	}
	if len(p.subqueries) > 0 {
		if err := p.subqueriesOn(tb, sel.From, idx); err != nil {
			return nil, err
		}
	}
	r := &Route{Write: true}
	if len(idx) > 1 {
		r.Merge.Kind = Sum
	}
	for _, i := range idx {
		r.Units = append(r.Units, Unit{Target: targetOf(ta, i), SQL: p.rewrite(ta, i), Args: true})
	}
	return r, nil
}

func (p *planner) insertRoute(st *sqlparser.Insert) (*Route, error) {
	t, err := p.primary()
	if err != nil {
		return nil, err
	}
	if t == nil {
		return p.everywhere(), nil
	}
	var rows sqlparser.Values
	switch r := st.Rows.(type) {
	case sqlparser.Values:
		rows = r
	case *sqlparser.AliasedValues:
		if !r.As.IsEmpty() {
			return nil, unsupported("INSERT … VALUES … AS alias on sharded tables")
		}
		rows = r.Values
	default:
		return nil, unsupported("this INSERT form on sharded tables")
	}
	if len(st.Columns) == 0 {
		return nil, routeErr("INSERT into sharded table %s needs a column list, to find its sharding columns", t.Name)
	}
	cols := map[string]int{}
	for i, c := range st.Columns {
		cols[c.Lowered()] = i
	}
	for _, a := range st.OnDup {
		if p.isShardingColumn(t, a.Name.Name.Lowered()) {
			return nil, unsupported("ON DUPLICATE KEY UPDATE of sharding column %s: the row would move to another node", a.Name.Name.String())
		}
	}
	r := &Route{Write: true}
	generate := false
	if t.keyCol != "" {
		if _, ok := cols[t.keyCol]; !ok {
			generate = true
			cols[t.keyCol] = len(st.Columns)
			st.Columns = append(st.Columns, sqlparser.NewColIdent(t.keyCol))
			for i := range rows {
				k, err := p.rt.keys.Next()
				if err != nil {
					return nil, err
				}
				if i == 0 {
					r.Merge.InsertID = k
				}
				rows[i] = append(rows[i], sqlparser.NewIntVal([]byte(strconv.FormatInt(k, 10))))
			}
		}
	}
	var order []int
	byNode := map[int]sqlparser.Values{}
	for ri, row := range rows {
		if len(row) != len(st.Columns) {
			return nil, routeErr("INSERT into %s: row %d has %d values for %d columns", t.Name, ri+1, len(row), len(st.Columns))
		}
		vals := map[string]any{}
		for _, s := range []*strategy{t.db, t.tb} {
			if s.kind == "hint" {
				v, ok := p.hint(t, s)
				if !ok {
					what := "TABLE"
					if s == t.db {
						what = "DATABASE"
					}
					return nil, routeErr("INSERT into %s needs a sharding hint for its hint strategy (/* SHARDINGSPHERE_HINT: %s.SHARDING_%s_VALUE=… */)", t.Name, t.Name, what)
				}
				vals[s.cols[0]] = v
				continue
			}
			for _, c := range s.cols {
				i, ok := cols[c]
				if !ok {
					return nil, routeErr("INSERT into %s gives no value for sharding column %s", t.Name, c)
				}
				v, ok := p.value(row[i])
				if !ok {
					return nil, routeErr("INSERT into %s: sharding column %s needs a literal value, got %s (row %d)", t.Name, c, sqlparser.String(row[i]), ri+1)
				}
				vals[c] = v
			}
		}
		n, err := p.nodeOf(t, vals)
		if err != nil {
			return nil, err
		}
		if _, seen := byNode[n]; !seen {
			order = append(order, n)
		}
		byNode[n] = append(byNode[n], row)
	}
	if len(order) == 1 && !generate {
		// The text as written, with the table renamed.
		r.Units = []Unit{{Target: targetOf(t, order[0]), SQL: p.rewrite(t, order[0]), Args: true}}
		return r, nil
	}
	if err := p.bindArgs(st); err != nil {
		return nil, err
	}
	r.Merge.Kind = Sum
	for _, n := range order {
		cp := *st
		cp.Table = sqlparser.TableName{Name: sqlparser.NewTableIdent(t.Nodes[n].Table)}
		cp.Rows = &sqlparser.AliasedValues{Values: byNode[n]}
		r.Units = append(r.Units, Unit{Target: targetOf(t, n), SQL: sqlparser.String(&cp)})
	}
	return r, nil
}

func (p *planner) isShardingColumn(t *Table, col string) bool {
	for _, s := range []*strategy{t.db, t.tb} {
		for _, c := range s.cols {
			if c == col {
				return true
			}
		}
	}
	return false
}

// nodeOf is the index of the node a row with these sharding values lives on.
func (p *planner) nodeOf(t *Table, vals map[string]any) (int, error) {
	pick := func(s *strategy, candidates []string, what string) (string, error) {
		if s.none() {
			if len(candidates) == 1 {
				return candidates[0], nil
			}
			return "", routeErr("table %s has %d %ss and no %s strategy to pick one", t.Name, len(candidates), what, what)
		}
		return s.target(vals, candidates)
	}
	ds, err := pick(t.db, t.dsNames, "data source")
	if err != nil {
		return 0, err
	}
	tb, err := pick(t.tb, t.tbNames, "table")
	if err != nil {
		return 0, err
	}
	for i, n := range t.Nodes {
		if n.DataSource == ds && n.Table == tb {
			return i, nil
		}
	}
	return 0, routeErr("%s routes to %s.%s, which is not among its actualDataNodes", t.Name, ds, tb)
}

// bindArgs replaces the statement's parameters with their values, for text
// that is built anew (and so sent without parameters).
func (p *planner) bindArgs(stmt sqlparser.SQLNode) error {
	var err error
	sqlparser.Walk(func(node sqlparser.SQLNode) (bool, error) {
		v, ok := node.(*sqlparser.SQLVal)
		if !ok || v.Type != sqlparser.ValArg {
			return true, nil
		}
		i, e := strconv.Atoi(strings.TrimPrefix(string(v.Val), ":v"))
		if e != nil || i < 1 || i > len(p.args) {
			err = routeErr("parameter %s has no value (%d given)", v.Val, len(p.args))
			return false, err
		}
		*v, err = literal(p.args[i-1])
		return err == nil, err
	}, stmt)
	return err
}

// literal is a parameter's value as SQL text.
func literal(a any) (sqlparser.SQLVal, error) {
	raw := func(s string) sqlparser.SQLVal { return sqlparser.SQLVal{Type: sqlparser.IntVal, Val: []byte(s)} }
	switch v := a.(type) {
	case nil:
		return raw("NULL"), nil
	case int64:
		return raw(strconv.FormatInt(v, 10)), nil
	case int:
		return raw(strconv.Itoa(v)), nil
	case uint64:
		return raw(strconv.FormatUint(v, 10)), nil
	case float64:
		return sqlparser.SQLVal{Type: sqlparser.FloatVal, Val: []byte(strconv.FormatFloat(v, 'g', -1, 64))}, nil
	case bool:
		if v {
			return raw("1"), nil
		}
		return raw("0"), nil
	case string:
		return sqlparser.SQLVal{Type: sqlparser.StrVal, Val: []byte(v)}, nil
	case []byte:
		if v == nil {
			return raw("NULL"), nil
		}
		return sqlparser.SQLVal{Type: sqlparser.HexVal, Val: []byte(hex.EncodeToString(v))}, nil
	case time.Time:
		return sqlparser.SQLVal{Type: sqlparser.StrVal, Val: []byte(v.Format("2006-01-02 15:04:05.999999"))}, nil
	}
	return sqlparser.SQLVal{}, routeErr("parameter of type %T", a)
}

// updateRoute routes UPDATE (exprs: its assignments) and DELETE.
func (p *planner) updateRoute(from sqlparser.TableExprs, where *sqlparser.Where, orderBy sqlparser.OrderBy, limit *sqlparser.Limit, exprs sqlparser.AssignmentExprs) (*Route, error) {
	t, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.from != 1 {
		return nil, unsupported("multi-table UPDATE or DELETE on sharded or broadcast tables")
	}
	if len(p.subqueries) > 0 && t != nil {
		// The statement's own table, not one of its subqueries'.
		if t = p.outerTable(from); t == nil {
			return nil, unsupported("subqueries on sharded tables in a write on tables without sharding")
		}
	}
	if t == nil {
		return p.everywhere(), nil
	}
	var w sqlparser.Expr
	if where != nil {
		w = where.Expr
	}
	idx := p.nodesOf(t, w).list()
	if len(idx) == 0 {
		idx = []int{0}
	}
	for _, a := range exprs {
		col := a.Name.Name.Lowered()
		if !p.isShardingColumn(t, col) {
			continue
		}
		if err := p.keepsNode(t, idx, col, a.Expr); err != nil {
			return nil, err
		}
	}
	if len(idx) > 1 && (len(orderBy) > 0 || limit != nil) {
		return nil, unsupported("UPDATE or DELETE with ORDER BY or LIMIT over several data nodes")
	}
	if len(p.subqueries) > 0 {
		if err := p.subqueriesOn(t, from, idx); err != nil {
			return nil, err
		}
	}
	r := &Route{Write: true}
	if len(idx) > 1 {
		r.Merge.Kind = Sum
	}
	for _, i := range idx {
		r.Units = append(r.Units, Unit{Target: targetOf(t, i), SQL: p.rewrite(t, i), Args: true})
	}
	return r, nil
}

// keepsNode allows an assignment to a sharding column only when the rows
// stay on their node: the WHERE routes to one node and the new value
// routes there too. Anything else would leave the row on a node its key no
// longer routes to.
func (p *planner) keepsNode(t *Table, idx []int, col string, e sqlparser.Expr) error {
	v, ok := p.value(e)
	if !ok {
		return unsupported("SET %s = %s: a sharding column may only be set to a literal that keeps the row on its node", col, sqlparser.String(e))
	}
	if len(idx) != 1 {
		return unsupported("SET %s on rows of several data nodes: the new value would move rows between nodes", col)
	}
	n := t.Nodes[idx[0]]
	for _, c := range []struct {
		s    *strategy
		cand []string
		want string
	}{{t.db, t.dsNames, n.DataSource}, {t.tb, t.tbNames, n.Table}} {
		uses := false
		for _, x := range c.s.cols {
			uses = uses || x == col
		}
		if !uses {
			continue
		}
		if len(c.s.cols) != 1 {
			return unsupported("SET %s, one of the columns of a complex strategy", col)
		}
		got, err := c.s.target(map[string]any{col: v}, c.cand)
		if err != nil {
			return err
		}
		if got != c.want {
			return unsupported("SET %s = %v moves the row from %s.%s to %s; a row cannot change node (delete and insert it instead)", col, v, n.DataSource, n.Table, got)
		}
	}
	return nil
}

// ddlRoute sends a DDL statement to every actual table of its sharded
// table, or to every node for broadcast tables.
func (p *planner) ddlRoute() (*Route, error) {
	if len(p.sharded) > 1 && (p.sharded[0].binding == 0 || p.sharded[0].binding != p.sharded[1].binding) {
		return nil, unsupported("DDL naming sharded tables %s and %s, which are not binding tables: one statement per table", p.sharded[0].Name, p.sharded[1].Name)
	}
	t, err := p.primary()
	if err != nil {
		return nil, err
	}
	if t == nil {
		return p.everywhere(), nil
	}
	if len(p.bcast) > 0 {
		return nil, unsupported("DDL naming a sharded and a broadcast table; one statement per table")
	}
	r := &Route{Write: true, Merge: Merge{Kind: Sum}}
	for i := range t.Nodes {
		r.Units = append(r.Units, Unit{Target: targetOf(t, i), SQL: p.rewrite(t, i), Args: true})
	}
	return r, nil
}
