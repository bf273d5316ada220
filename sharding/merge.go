package sharding

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Column is what a merge needs to know of a result column.
type Column struct {
	Name string
	// Numeric: values compare and add as numbers.
	Numeric bool
	// Binary: text compares byte by byte; otherwise case-insensitively
	// with trailing spaces ignored, as MariaDB's default _ci collations
	// do (accents are not folded, which utf8mb4_general_ci would).
	Binary bool
	// Pad: a _bin collation of a character set, which ignores trailing
	// spaces ('a' = 'a '), unlike binary strings and NO PAD collations.
	Pad bool
	// Exact: values order here as on the server (numbers, binary
	// strings, temporal values), so a merge may rely on the nodes' order
	// to find a group's rows together.
	Exact bool
	// Enum: an ENUM or SET column, which MariaDB orders by the members'
	// positions in its definition: a merge, seeing only their text, cannot.
	Enum bool
}

// ErrTooManyRows is matched by the error of a merge past Merge.MaxRows.
var ErrTooManyRows = fmt.Errorf("%w: the merge would hold too many rows", ErrUnsupported)

// TooMany is the error for a merge past its bound.
func (m *Merge) TooMany() error {
	return fmt.Errorf("%w: more than %d rows from the data nodes (props.shardingMaxRows); add a LIMIT or a sharding key", ErrTooManyRows, m.MaxRows)
}

// Visible is how many of n result columns the client sees.
func (m *Merge) Visible(n int) int { return n - m.Hidden }

// MergeRows merges the units' result sets (sets[i]: unit i's rows, a value
// per column, nil for NULL) into the client's rows, hidden columns dropped.
func (m *Merge) MergeRows(cols []Column, sets [][][][]byte) ([][][]byte, error) {
	n := 0
	for _, s := range sets {
		n += len(s)
	}
	if m.MaxRows > 0 && n > m.MaxRows {
		return nil, m.TooMany()
	}
	rows := make([][][]byte, 0, n)
	for _, s := range sets {
		for _, r := range s {
			if len(r) != len(cols) {
				return nil, fmt.Errorf("sharding: internal: a row of %d values for %d columns", len(r), len(cols))
			}
			rows = append(rows, r)
		}
	}
	if m.grouped() {
		var err error
		if rows, err = m.group(cols, rows); err != nil {
			return nil, err
		}
	}
	less, err := m.Comparison(cols)
	if err != nil {
		return nil, err
	}
	if less != nil {
		slices.SortStableFunc(rows, less)
	}
	if m.Limit {
		o := min(m.Offset, int64(len(rows)))
		rows = rows[o:]
		rows = rows[:min(m.Count, int64(len(rows)))]
	}
	if m.Hidden > 0 {
		for i, r := range rows {
			rows[i] = r[:len(r)-m.Hidden]
		}
	}
	return rows, nil
}

// Comparison returns how two rows compare under the ORDER BY keys for the
// result columns cols (nil without ORDER BY).
func (m *Merge) Comparison(cols []Column) (func(a, b [][]byte) int, error) {
	if len(m.Order) == 0 {
		return nil, nil
	}
	keys, err := m.resolve(cols)
	if err != nil {
		return nil, err
	}
	return func(a, b [][]byte) int {
		for _, k := range keys {
			if c := compare(cols[k.Index], a[k.Index], b[k.Index]); c != 0 {
				if k.Desc {
					return -c
				}
				return c
			}
		}
		return 0
	}, nil
}

func (m *Merge) resolve(cols []Column) ([]OrderKey, error) {
	keys := make([]OrderKey, len(m.Order))
	for i, k := range m.Order {
		if k.Index < 0 {
			for j, c := range cols {
				if strings.EqualFold(c.Name, k.Name) {
					k.Index = j
					break
				}
			}
			if k.Index < 0 {
				return nil, unsupported("ORDER BY %s: no such column in the result", k.Name)
			}
		}
		if k.Index >= len(cols) {
			return nil, fmt.Errorf("sharding: internal: ORDER BY column %d of %d", k.Index+1, len(cols))
		}
		if c := cols[k.Index]; c.Enum {
			return nil, unsupported("ORDER BY the ENUM or SET column %s over several data nodes: MariaDB orders it by the members' positions, which the merged rows do not show; select CAST(%s AS CHAR) AS an alias and order by that (text order), or route to one node", c.Name, c.Name)
		}
		k.Index = m.keyCol(cols, k.Index)
		keys[i] = k
	}
	return keys, nil
}

// keyCol is the column the merge compares for key column k (< len(cols)):
// its weight when k holds text under a collation (_bin ones too: NO PAD
// or not, which the metadata does not tell), else k (numbers, binary
// strings, dates, ENUM).
func (m *Merge) keyCol(cols []Column, k int) int {
	c := cols[k]
	if len(m.Weights) == 0 || c.Numeric || c.Binary && !c.Pad || c.Enum {
		return k
	}
	for _, w := range m.Weights {
		if at := len(cols) - m.Hidden + w.Hidden; (w.Col == k || w.Col < 0 && strings.EqualFold(w.Name, c.Name)) && at < len(cols) && at >= 0 {
			return at
		}
	}
	return k
}

// group folds rows whose group keys compare equal (by the column's
// collation, as MariaDB groups) into one, in ascending key order, as
// MariaDB's GROUP BY returns them, and keeps the groups HAVING passes.
// Without keys all rows are one group (aggregates without GROUP BY: one
// row per node).
func (m *Merge) group(cols []Column, rows [][][]byte) ([][][]byte, error) {
	f, err := m.NewFolder(cols, false)
	if err != nil {
		return nil, err
	}
	if len(f.key) > 0 {
		slices.SortStableFunc(rows, func(a, b [][]byte) int { return sameKey(cols, f.key, a, b) })
	}
	out := rows[:0]
	for _, r := range rows {
		g, err := f.Add(r)
		if err != nil {
			return nil, err
		}
		if g != nil {
			out = append(out, g)
		}
	}
	g, err := f.End()
	if err != nil {
		return nil, err
	}
	if g != nil {
		out = append(out, g)
	}
	if len(rows) == 0 && m.NoGroupBy {
		// Aggregates over no rows: one row, as one server answers.
		row := make([][]byte, len(cols))
		for _, a := range m.Aggs {
			if a.Fn == "count" {
				row[a.Index] = []byte("0")
			}
		}
		if m.Having == nil || m.Having.eval(cols, row) == 1 {
			out = append(out, row)
		}
	}
	return out, nil
}

// distinctFold is COUNT(DISTINCT x) or SUM(DISTINCT x) of a group's
// non-NULL values of x (each node sent each of its values once; sorted
// here in place).
// Values equal by the column's collation are one.
func distinctFold(fn string, c Column, vals [][]byte) ([]byte, error) {
	slices.SortFunc(vals, func(a, b []byte) int { return compare(c, a, b) })
	vals = slices.CompactFunc(vals, func(a, b []byte) bool { return compare(c, a, b) == 0 })
	if fn == "count" {
		return strconv.AppendInt(nil, int64(len(vals)), 10), nil
	}
	var sum []byte
	for _, v := range vals {
		if sum == nil {
			sum = v
			continue
		}
		var err error
		if sum, err = addNumbers(sum, v); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

// average is sum / count printed like like (a node's AVG of the same
// expression): a decimal with like's scale, rounded half away from zero
// as MariaDB does, or a double.
func average(like, sum, count []byte) ([]byte, error) {
	if sum == nil || count == nil || string(count) == "0" {
		return nil, nil
	}
	n, ok := new(big.Int).SetString(string(count), 10)
	if !ok {
		return nil, fmt.Errorf("sharding: AVG: count %q is not an integer", count)
	}
	if bytes.ContainsAny(like, "eE") || bytes.ContainsAny(sum, "eE") {
		x, err := strconv.ParseFloat(string(sum), 64)
		if err != nil {
			return nil, fmt.Errorf("sharding: AVG: sum %q: %w", sum, err)
		}
		f, _ := new(big.Float).SetInt(n).Float64()
		return strconv.AppendFloat(nil, x/f, 'g', -1, 64), nil
	}
	scale := 0
	if i := bytes.IndexByte(like, '.'); i >= 0 {
		scale = len(like) - i - 1
	}
	x, sx, ok := decimal(sum)
	if !ok {
		return nil, fmt.Errorf("sharding: AVG: sum %q is not a number", sum)
	}
	// x / 10^sx / n, to scale digits: x * 10^scale / (n * 10^sx), rounded.
	num := new(big.Int).Mul(x, pow10(scale))
	den := new(big.Int).Mul(n, pow10(sx))
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Mul(r.Abs(r), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return []byte(formatScaled(q, scale)), nil
}

// formatScaled prints x / 10^scale.
func formatScaled(x *big.Int, scale int) string {
	s := x.String()
	if scale == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for len(s) <= scale {
		s = "0" + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

func foldOne(fn string, c Column, acc, v []byte) ([]byte, error) {
	if v == nil {
		return acc, nil // NULL: no rows there (SUM, MIN, MAX)
	}
	if acc == nil {
		return v, nil
	}
	switch fn {
	case "count", "sum":
		return addNumbers(acc, v)
	case "min":
		if compare(c, v, acc) < 0 {
			return v, nil
		}
		return acc, nil
	case "max":
		if compare(c, v, acc) > 0 {
			return v, nil
		}
		return acc, nil
	}
	return nil, fmt.Errorf("sharding: internal: aggregate %s", fn)
}

// addNumbers adds two numbers as MariaDB prints them: exactly for
// integers and fixed-point decimals (the scale of the wider), as float64
// for doubles.
func addNumbers(a, b []byte) ([]byte, error) {
	if bytes.ContainsAny(a, "eE") || bytes.ContainsAny(b, "eE") {
		x, err1 := strconv.ParseFloat(string(a), 64)
		y, err2 := strconv.ParseFloat(string(b), 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("sharding: cannot add %q and %q", a, b)
		}
		return strconv.AppendFloat(nil, x+y, 'g', -1, 64), nil
	}
	x, sx, ok1 := decimal(a)
	y, sy, ok2 := decimal(b)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("sharding: cannot add %q and %q", a, b)
	}
	scale := max(sx, sy)
	x.Mul(x, pow10(scale-sx))
	y.Mul(y, pow10(scale-sy))
	x.Add(x, y)
	return []byte(formatScaled(x, scale)), nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// decimal reads "-12.340" as -12340 with scale 3.
func decimal(b []byte) (*big.Int, int, bool) {
	s := string(b)
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	x, ok := new(big.Int).SetString(s, 10)
	return x, scale, ok
}

// compare orders two values of a column as MariaDB's ORDER BY does: NULL
// first, numbers by value, text by the column's collation (approximated).
func compare(c Column, a, b []byte) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if c.Numeric {
		if x, err := strconv.ParseInt(string(a), 10, 64); err == nil {
			if y, err := strconv.ParseInt(string(b), 10, 64); err == nil {
				return cmpInt(x, y)
			}
		}
		if x, sx, ok := decimal(a); ok {
			if y, sy, ok := decimal(b); ok {
				scale := max(sx, sy)
				x.Mul(x, pow10(scale-sx))
				y.Mul(y, pow10(scale-sy))
				return x.Cmp(y)
			}
		}
		x, err1 := strconv.ParseFloat(string(a), 64)
		y, err2 := strconv.ParseFloat(string(b), 64)
		if err1 == nil && err2 == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	if c.Binary {
		if c.Pad {
			a, b = bytes.TrimRight(a, " "), bytes.TrimRight(b, " ")
		}
		return bytes.Compare(a, b)
	}
	return compareText(a, b)
}

// compareText compares as a _ci collation (approximated): case folded,
// trailing spaces ignored. ASCII texts, the usual case, are compared in
// place; others folded by strings.ToLower.
func compareText(a, b []byte) int {
	a, b = bytes.TrimRight(a, " "), bytes.TrimRight(b, " ")
	n := min(len(a), len(b))
	for i := range n {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return strings.Compare(strings.ToLower(string(a[i:])), strings.ToLower(string(b[i:])))
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return cmpInt(int64(x), int64(y))
		}
	}
	// One is a prefix of the other (ASCII so far): the rest decides.
	switch {
	case len(a) == len(b):
		return 0
	case len(a) < len(b):
		if b[n] >= 0x80 {
			return strings.Compare("", strings.ToLower(string(b[n:])))
		}
		return -1
	}
	if a[n] >= 0x80 {
		return strings.Compare(strings.ToLower(string(a[n:])), "")
	}
	return 1
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
