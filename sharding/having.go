package sharding

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// Cond is a HAVING condition the merge evaluates on merged groups:
// comparisons of a result column (an aggregate, added hidden when not
// selected, or a group column) with a literal, under AND, OR and NOT.
type Cond struct {
	Op   string // and, or, not, cmp
	L, R *Cond
	// cmp: column Col compared with Lit by Cmp; Numeric: Lit is a number.
	Col     int
	Cmp     string
	Lit     []byte
	Numeric bool
}

// maxCol is the highest column the condition reads.
func (c *Cond) maxCol() int {
	switch c.Op {
	case "cmp":
		return c.Col
	case "not":
		return c.L.maxCol()
	}
	return max(c.L.maxCol(), c.R.maxCol())
}

// eval is the condition's value on a merged row, three-valued as SQL's:
// 1 true, 0 false, -1 unknown (a NULL compared).
func (c *Cond) eval(cols []Column, row [][]byte) int {
	switch c.Op {
	case "and":
		l, r := c.L.eval(cols, row), c.R.eval(cols, row)
		switch {
		case l == 0 || r == 0:
			return 0
		case l < 0 || r < 0:
			return -1
		}
		return 1
	case "or":
		l, r := c.L.eval(cols, row), c.R.eval(cols, row)
		switch {
		case l == 1 || r == 1:
			return 1
		case l < 0 || r < 0:
			return -1
		}
		return 0
	case "not":
		if v := c.L.eval(cols, row); v >= 0 {
			return 1 - v
		}
		return -1
	}
	v := row[c.Col]
	if v == nil {
		return -1
	}
	col := cols[c.Col]
	if c.Numeric {
		col = Column{Name: col.Name, Numeric: true}
	}
	n := compare(col, v, c.Lit)
	var ok bool
	switch c.Cmp {
	case sqlparser.EqualStr:
		ok = n == 0
	case sqlparser.NotEqualStr:
		ok = n != 0
	case sqlparser.LessThanStr:
		ok = n < 0
	case sqlparser.LessEqualStr:
		ok = n <= 0
	case sqlparser.GreaterThanStr:
		ok = n > 0
	case sqlparser.GreaterEqualStr:
		ok = n >= 0
	}
	if ok {
		return 1
	}
	return 0
}

// having compiles a HAVING clause into a Cond; operands that are not
// result columns are added hidden by hide (which returns their index).
func (p *planner) having(items sqlparser.SelectExprs, e sqlparser.Expr, operand func(sqlparser.Expr) (int, error)) (*Cond, error) {
	switch x := e.(type) {
	case *sqlparser.AndExpr:
		return p.binary("and", items, x.Left, x.Right, operand)
	case *sqlparser.OrExpr:
		return p.binary("or", items, x.Left, x.Right, operand)
	case *sqlparser.NotExpr:
		l, err := p.having(items, x.Expr, operand)
		if err != nil {
			return nil, err
		}
		return &Cond{Op: "not", L: l}, nil
	case *sqlparser.ParenExpr:
		return p.having(items, x.Expr, operand)
	case *sqlparser.ComparisonExpr:
		op, left, right := x.Operator, x.Left, x.Right
		if _, lit := left.(*sqlparser.SQLVal); lit {
			left, right, op = right, left, flipped(op)
		}
		switch op {
		case sqlparser.EqualStr, sqlparser.NotEqualStr, sqlparser.LessThanStr, sqlparser.LessEqualStr, sqlparser.GreaterThanStr, sqlparser.GreaterEqualStr:
		default:
			return nil, unsupported("HAVING … %s … over several data nodes", op)
		}
		lit, numeric, ok := p.literal(right)
		if !ok {
			return nil, unsupported("HAVING %s over several data nodes: compare an aggregate or grouped column with a literal", sqlparser.String(x))
		}
		col, err := operand(left)
		if err != nil {
			return nil, err
		}
		return &Cond{Op: "cmp", Col: col, Cmp: op, Lit: lit, Numeric: numeric}, nil
	}
	return nil, unsupported("HAVING %s over several data nodes: compare an aggregate or grouped column with a literal", sqlparser.String(e))
}

func (p *planner) binary(op string, items sqlparser.SelectExprs, l, r sqlparser.Expr, operand func(sqlparser.Expr) (int, error)) (*Cond, error) {
	lc, err := p.having(items, l, operand)
	if err != nil {
		return nil, err
	}
	rc, err := p.having(items, r, operand)
	if err != nil {
		return nil, err
	}
	return &Cond{Op: op, L: lc, R: rc}, nil
}

// literal reads a HAVING literal: a number (integer or decimal) or a
// string, or a bound parameter.
func (p *planner) literal(e sqlparser.Expr) ([]byte, bool, bool) {
	neg := false
	if u, ok := e.(*sqlparser.UnaryExpr); ok && u.Operator == sqlparser.UMinusStr {
		neg, e = true, u.Expr
	}
	v, ok := e.(*sqlparser.SQLVal)
	if !ok {
		return nil, false, false
	}
	sign := func(b []byte) []byte {
		if neg {
			return append([]byte("-"), b...)
		}
		return b
	}
	switch v.Type {
	case sqlparser.IntVal:
		return sign(v.Val), true, true
	case sqlparser.FloatVal:
		if _, _, ok := decimal(v.Val); ok { // 1.5, not 1e3
			return sign(v.Val), true, true
		}
		if _, err := strconv.ParseFloat(string(v.Val), 64); err == nil {
			return sign(v.Val), true, true
		}
	case sqlparser.StrVal:
		if !neg {
			return v.Val, false, true
		}
	case sqlparser.ValArg:
		x, ok := p.value(v)
		switch a := x.(type) {
		case int64:
			if neg {
				a = -a
			}
			return []byte(strconv.FormatInt(a, 10)), true, ok
		case string:
			return []byte(a), false, ok && !neg
		}
	}
	return nil, false, false
}

// BindText replaces a unit's parameters (?) with the literals of their
// values, for a front end that runs the unit as text (the proxy's merged
// reads of a prepared statement, which it reads in the text protocol).
func BindText(text string, args []any) (string, error) {
	p := planner{args: args}
	return p.bindText(text)
}

// bindText replaces the text's parameters (?) with their values, for a
// node's text that no longer holds all of them (HAVING dropped).
func (p *planner) bindText(text string) (string, error) {
	var b []byte
	last := 0
	tk := sqlparser.NewStringTokenizer(text)
	for {
		typ, val := scanTok(tk)
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			break
		}
		end := tk.Position - 1
		if typ != sqlparser.VALUE_ARG || end < 1 || end > len(text) || text[end-1] != '?' {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(string(val), ":v"))
		if err != nil || i < 1 || i > len(p.args) {
			return "", routeErr("parameter %s has no value (%d given)", val, len(p.args))
		}
		lit, err := literal(p.args[i-1])
		if err != nil {
			return "", err
		}
		b = append(append(b, text[last:end-1]...), sqlparser.String(&lit)...)
		last = end
	}
	return string(append(b, text[last:]...)), nil
}

// replaceClause puts repl in place of a top-level clause (HAVING), which
// runs up to the next top-level ORDER BY, LIMIT, WINDOW, FOR, LOCK, INTO
// or the end.
func replaceClause(sql string, kw int, repl string) (string, error) {
	at, end, depth := -1, len(sql), 0
	tk := sqlparser.NewStringTokenizer(sql)
	for {
		typ, _ := scanTok(tk)
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			break
		}
		switch {
		case typ == '(':
			depth++
		case typ == ')':
			depth--
		case depth != 0:
		case at < 0 && typ == kw:
			at = tk.Position - 1 - len(keywordText(kw))
		case at >= 0 && (typ == sqlparser.ORDER || typ == sqlparser.LIMIT || typ == sqlparser.WINDOW || typ == sqlparser.FOR || typ == sqlparser.LOCK || typ == sqlparser.INTO):
			if end == len(sql) {
				end = tk.Position - 1 - len(keywordText(typ))
			}
		}
	}
	if at < 0 {
		return "", fmt.Errorf("sharding: internal: HAVING not found in %q", sql)
	}
	return sql[:at] + repl + " " + sql[end:], nil
}
