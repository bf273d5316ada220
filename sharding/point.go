package sharding

import (
	"sync"
	"sync/atomic"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// parsed is a cached statement and, once planned, the shortcut its later
// executions take when it is a point read.
type parsed struct {
	stmt sqlparser.Statement
	// planned: point was worked out (nil: the statement has none).
	planned atomic.Bool
	point   atomic.Pointer[point]
}

// point is a SELECT of one sharded table whose WHERE pins every sharding
// column with "col = value" (a literal or parameter) and routes by nothing
// else: its node follows from those values alone, so an execution
// evaluates the strategies on them instead of walking the statement. It
// gives what the full plan would for the same values; where it cannot (a
// value that does not route, several nodes) the full plan runs.
type point struct {
	t      *Table
	db, tb []pointCol // the strategies' columns and their values
}

type pointCol struct {
	col string
	val *sqlparser.SQLVal
}

// pointOf is st's point shape, nil when it has none. p has collected st.
func (p *planner) pointOf(st *sqlparser.Select) *point {
	if len(p.sharded) != 1 || len(p.bcast) > 0 || len(p.others) > 0 || p.from != 1 || st.Into != nil || st.Where == nil || len(p.subqueries) > 0 {
		return nil
	}
	t := p.sharded[0]
	eq := map[string]*sqlparser.SQLVal{}
	for _, part := range conjuncts(nil, st.Where.Expr) {
		if c, ok := part.(*sqlparser.ComparisonExpr); ok && c.Operator == sqlparser.EqualStr {
			left, right := c.Left, c.Right
			if _, ok := left.(*sqlparser.ColName); !ok {
				left, right = right, left
			}
			if col, ok := p.column(t, left); ok {
				v, ok := right.(*sqlparser.SQLVal)
				if !ok || eq[col] != nil {
					return nil
				}
				switch v.Type {
				case sqlparser.IntVal, sqlparser.StrVal, sqlparser.ValArg:
				default:
					return nil
				}
				eq[col] = v
				continue
			}
		}
		if p.touches(t, part) {
			return nil // an OR, a range, an IN on a sharding column: the full plan
		}
	}
	pt := &point{t: t}
	for _, s := range []struct {
		st  *strategy
		out *[]pointCol
	}{{t.db, &pt.db}, {t.tb, &pt.tb}} {
		if s.st.none() {
			continue
		}
		if s.st.kind == "hint" {
			return nil
		}
		for _, c := range s.st.cols {
			if eq[c] == nil {
				return nil
			}
			*s.out = append(*s.out, pointCol{c, eq[c]})
		}
	}
	return pt
}

// touches reports whether e could narrow t's nodes in the full plan: an
// OR, or any reference to one of t's sharding columns.
func (p *planner) touches(t *Table, e sqlparser.Expr) bool {
	found := false
	sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch x := n.(type) {
		case *sqlparser.OrExpr:
			found = true
		case *sqlparser.ColName:
			if _, ok := p.column(t, x); ok {
				found = true
			}
		}
		return !found, nil
	}, e)
	return found
}

// route is the point's single-unit route for the statement's values, or
// false when the full plan must decide.
func (pt *point) route(p *planner) (*Route, bool) {
	t := pt.t
	ds, ok := pt.target(p, t.db, pt.db, t.dsNames)
	if !ok {
		return nil, false
	}
	tb, ok := pt.target(p, t.tb, pt.tb, t.tbNames)
	if !ok {
		return nil, false
	}
	at := -1
	for i, n := range t.Nodes {
		if (ds == "" || n.DataSource == ds) && (tb == "" || n.Table == tb) {
			if at >= 0 {
				return nil, false // several nodes: merged
			}
			at = i
		}
	}
	if at < 0 {
		return nil, false
	}
	return &Route{Units: []Unit{{Target: targetOf(t, at), SQL: p.rewrite(t, at), Args: true}}}, true
}

// target is where st sends the values of cols ("" for a strategy that is
// none: any).
func (pt *point) target(p *planner, st *strategy, cols []pointCol, candidates []string) (string, bool) {
	if st.none() {
		return "", true
	}
	vals := valsPool.Get().(map[string]any)
	defer func() {
		clear(vals)
		valsPool.Put(vals)
	}()
	for _, c := range cols {
		v, ok := p.value(c.val)
		if !ok {
			return "", false
		}
		vals[c.col] = v
	}
	name, err := st.target(vals, candidates)
	return name, err == nil
}

// valsPool holds the maps point routes pass the strategies (which only
// read them).
var valsPool = sync.Pool{New: func() any { return make(map[string]any, 4) }}
