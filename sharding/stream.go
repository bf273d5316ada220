package sharding

import (
	"fmt"
	"slices"
)

// Source is one node's rows of a streamed merge, in the order the node
// sorted them. Next returns its next row (valid until the following call)
// and false at its end.
type Source interface {
	Next() (row [][]byte, ok bool, err error)
}

// Streamed merges the rows of several sources as its caller reads them:
// k-way under the merge's ORDER BY (or the group keys), folding groups
// when the merge groups, then HAVING, LIMIT, hidden columns dropped.
// Memory is a row per source and the open group, whatever the row count.
type Streamed struct {
	m    *Merge
	cols []Column
	srcs []Source
	cur  [][][]byte // each source's current row; nil: at its end
	less func(a, b [][]byte) int
	// last is the source whose row the previous Next returned; it moves
	// on at the following call (the caller may read that row until then).
	last       int
	fold       *Folder
	skip, left int64
	// held: a grouped merge whose keys order differently on the nodes
	// than here is gathered whole (bounded by MaxRows) and merged.
	held [][][]byte
	done bool
}

// Streams reports whether a front end runs the merge through Stream: every
// merged read does. Rows taken one at a time (ORDER BY, LIMIT, hidden
// columns) and groups the nodes send sorted by their keys (Sorted) stream;
// other groupings are gathered by Stream, bounded by MaxRows, from units
// that all ran at once.
func (m *Merge) Streams() bool { return m.Kind == Rows }

func (m *Merge) grouped() bool { return m.Distinct || len(m.Group) > 0 || len(m.Aggs) > 0 }

// groupKey is the columns a group is known by (GROUP BY's, or every
// visible column for DISTINCT), as the merge compares them (keyCol).
func (m *Merge) groupKey(cols []Column) ([]int, error) {
	var key []int
	if m.Distinct {
		for i := range len(cols) - m.Hidden {
			key = append(key, i)
		}
	} else {
		key = slices.Clone(m.Group)
	}
	for i, k := range key {
		if k >= len(cols) {
			return nil, fmt.Errorf("sharding: internal: GROUP BY column %d of %d", k+1, len(cols))
		}
		key[i] = m.keyCol(cols, k)
	}
	return key, nil
}

// Stream merges srcs, whose rows have the columns cols, for a merge that
// Streams. The first Next reads a row of every source.
func (m *Merge) Stream(cols []Column, srcs []Source) (*Streamed, error) {
	s := &Streamed{m: m, cols: cols, srcs: srcs, cur: make([][][]byte, len(srcs)), last: -1, left: -1}
	if m.Limit {
		s.skip, s.left = m.Offset, m.Count
	}
	var err error
	if !m.grouped() {
		if s.less, err = m.Comparison(cols); err != nil {
			return nil, err
		}
		for i := range srcs {
			if err := s.advance(i); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	key, err := m.groupKey(cols)
	if err != nil {
		return nil, err
	}
	exact := true
	for _, k := range key {
		exact = exact && cols[k].Exact
	}
	if !exact || !m.Sorted {
		// A text key compared here (no weight): the nodes' order and
		// ours may differ, and a group would then be cut in two; or rows
		// not sorted by the keys (ORDER BY an aggregate, no GROUP BY).
		// Gather.
		return s, s.gather()
	}
	if len(m.Order) > 0 {
		s.less, err = m.Comparison(cols)
	} else {
		s.less = func(a, b [][]byte) int { return sameKey(cols, key, a, b) }
	}
	if err != nil {
		return nil, err
	}
	if s.fold, err = m.NewFolder(cols, true); err != nil {
		return nil, err
	}
	for i := range srcs {
		if err := s.advance(i); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// gather reads every source to its end and merges the rows held.
func (s *Streamed) gather() error {
	sets := make([][][][]byte, len(s.srcs))
	n := 0
	for i, src := range s.srcs {
		for {
			row, ok, err := src.Next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if n++; s.m.MaxRows > 0 && n > s.m.MaxRows {
				return s.m.TooMany()
			}
			sets[i] = append(sets[i], cloneRow(row))
		}
	}
	rows, err := s.m.MergeRows(s.cols, sets)
	if err != nil {
		return err
	}
	// MergeRows applied the LIMIT.
	s.held, s.cur, s.done, s.skip, s.left = rows, nil, true, 0, -1
	if len(s.held) == 0 {
		s.held = [][][]byte{} // gathered: not nil
	}
	return nil
}

func (s *Streamed) advance(i int) error {
	row, ok, err := s.srcs[i].Next()
	if err != nil {
		s.cur[i] = nil
		return err
	}
	if !ok {
		row = nil
	} else if len(row) != len(s.cols) {
		return fmt.Errorf("sharding: internal: a row of %d values for %d columns", len(row), len(s.cols))
	}
	s.cur[i] = row
	return nil
}

// pick is the source whose current row comes next, -1 at the end of all.
func (s *Streamed) pick() int {
	at := -1
	for i, r := range s.cur {
		if r == nil {
			continue
		}
		if at < 0 {
			at = i
			if s.less == nil {
				break
			}
		} else if s.less(r, s.cur[at]) < 0 {
			at = i
		}
	}
	return at
}

// Next returns the next row of the merge (visible columns, valid until
// the following call) and from, the source whose row it is unchanged (-1
// for a folded group); nil at the end.
func (s *Streamed) Next() (row [][]byte, from int, err error) {
	visible := s.m.Visible(len(s.cols))
	for s.left != 0 {
		if s.held != nil {
			if len(s.held) == 0 {
				return nil, -1, nil
			}
			row, s.held = s.held[0], s.held[1:]
			return row, -1, nil
		}
		if s.last >= 0 {
			i := s.last
			s.last = -1
			if err := s.advance(i); err != nil {
				return nil, -1, err
			}
		}
		var out [][]byte
		at := s.pick()
		switch {
		case s.fold == nil && at < 0:
			return nil, -1, nil
		case s.fold == nil:
			s.last, out = at, s.cur[at]
		case at < 0:
			if s.done {
				return nil, -1, nil
			}
			s.done = true
			if out, err = s.fold.End(); err != nil {
				return nil, -1, err
			}
			if out == nil {
				return nil, -1, nil
			}
			at = -1
		default:
			s.last = at
			if out, err = s.fold.Add(s.cur[at]); err != nil {
				return nil, -1, err
			}
			if out == nil {
				continue
			}
			at = -1
		}
		if s.skip > 0 {
			s.skip--
			continue
		}
		if s.left > 0 {
			s.left--
		}
		return out[:visible], at, nil
	}
	return nil, -1, nil
}

func cloneRow(row [][]byte) [][]byte {
	out := make([][]byte, len(row))
	for i, v := range row {
		if v != nil {
			out[i] = append([]byte{}, v...)
		}
	}
	return out
}

func sameKey(cols []Column, key []int, a, b [][]byte) int {
	for _, k := range key {
		if c := compare(cols[k], a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

// Folder folds rows that come in group order (a group's rows one after
// the other) into groups, one at a time, and keeps those HAVING passes.
type Folder struct {
	m    *Merge
	cols []Column
	key  []int
	// by is, per aggregate, the column MIN/MAX compare or COUNT(DISTINCT)
	// tells values apart by: its weight (keyCol), or its own.
	by   []int
	own  bool // copy what is kept: the caller reuses its rows
	acc  [][]byte
	n    int        // rows in the open group
	vals [][][]byte // per aggregate: the DISTINCT argument's values
	held int
}

// NewFolder is a Folder of the merge's groups for rows of columns cols;
// own: the rows added are reused by the caller after Add.
func (m *Merge) NewFolder(cols []Column, own bool) (*Folder, error) {
	key, err := m.groupKey(cols)
	if err != nil {
		return nil, err
	}
	by := make([]int, len(m.Aggs))
	for j, a := range m.Aggs {
		if a.Index >= len(cols) || (a.Fn == "avg" && (a.Sum >= len(cols) || a.Count >= len(cols))) || (a.Distinct && a.Arg >= len(cols)) {
			return nil, fmt.Errorf("sharding: internal: aggregate column %d of %d", a.Index+1, len(cols))
		}
		switch {
		case a.Distinct && a.Fn == "count":
			by[j] = m.keyCol(cols, a.Arg)
		case a.Distinct:
			by[j] = a.Arg // SUM(DISTINCT x) adds values
		case a.Fn == "min" || a.Fn == "max":
			by[j] = m.keyCol(cols, a.Index)
		default:
			by[j] = a.Index
		}
	}
	if m.Having != nil && m.Having.maxCol() >= len(cols) {
		return nil, fmt.Errorf("sharding: internal: HAVING column %d of %d", m.Having.maxCol()+1, len(cols))
	}
	return &Folder{m: m, cols: cols, key: key, by: by, own: own, vals: make([][][]byte, len(m.Aggs))}, nil
}

func (f *Folder) keep(v []byte) []byte {
	if !f.own || v == nil {
		return v
	}
	return append([]byte{}, v...)
}

// Add takes the next row; when it starts a new group, the group before it
// is returned (nil when HAVING drops it, or there was none).
func (f *Folder) Add(row [][]byte) ([][]byte, error) {
	if f.acc != nil && sameKey(f.cols, f.key, f.acc, row) == 0 {
		f.n++
		for j, a := range f.m.Aggs {
			var err error
			acc := f.acc
			switch {
			case a.Distinct:
				err = f.hold(j, row[f.by[j]])
			case f.by[j] != a.Index:
				f.weighed(a.Fn, a.Index, f.by[j], row)
			case a.Fn == "avg":
				acc[a.Sum], err = f.fold("sum", a.Sum, row)
				if err == nil {
					acc[a.Count], err = f.fold("count", a.Count, row)
				}
				if acc[a.Index] == nil {
					acc[a.Index] = f.keep(row[a.Index]) // a non-NULL AVG shows its scale
				}
			default:
				acc[a.Index], err = f.fold(a.Fn, a.Index, row)
			}
			if err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	out, err := f.End()
	if err != nil {
		return nil, err
	}
	f.acc, f.n = slices.Clone(row), 1
	if f.own {
		f.acc = cloneRow(row)
	}
	for j, a := range f.m.Aggs {
		f.vals[j] = f.vals[j][:0]
		if a.Distinct {
			if err := f.hold(j, row[f.by[j]]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// fold is the open group's column i folded with row's by fn.
func (f *Folder) fold(fn string, i int, row [][]byte) ([]byte, error) {
	v, err := foldOne(fn, f.cols[i], f.acc[i], row[i])
	if err == nil && len(v) > 0 && len(row[i]) > 0 && &v[0] == &row[i][0] {
		v = f.keep(v) // the row's own value won
	}
	return v, err
}

// weighed folds MIN or MAX (fn) of column i, compared by its weight in
// column w: the winning row's value and weight are kept together.
func (f *Folder) weighed(fn string, i, w int, row [][]byte) {
	if row[i] == nil {
		return // NULL: not a value of MIN or MAX
	}
	c := compare(f.cols[w], row[w], f.acc[w])
	if f.acc[i] == nil || fn == "min" && c < 0 || fn == "max" && c > 0 {
		f.acc[i], f.acc[w] = f.keep(row[i]), f.keep(row[w])
	}
}

// hold keeps a DISTINCT argument's value of the open group.
func (f *Folder) hold(j int, v []byte) error {
	if v == nil {
		return nil
	}
	if f.held++; f.m.MaxRows > 0 && f.held > f.m.MaxRows {
		return f.m.TooMany()
	}
	f.vals[j] = append(f.vals[j], f.keep(v))
	return nil
}

// End returns the open group (nil when there is none or HAVING drops
// it); the Folder is then empty.
func (f *Folder) End() ([][]byte, error) {
	acc := f.acc
	if acc == nil {
		return nil, nil
	}
	f.acc, f.held = nil, 0
	for j, a := range f.m.Aggs {
		if a.Distinct {
			v, err := distinctFold(a.Fn, f.cols[f.by[j]], f.vals[j])
			if err != nil {
				return nil, err
			}
			acc[a.Index] = v
			continue
		}
		if a.Fn == "avg" && f.n > 1 {
			v, err := average(acc[a.Index], acc[a.Sum], acc[a.Count])
			if err != nil {
				return nil, err
			}
			acc[a.Index] = v
		}
	}
	if f.m.Having != nil && f.m.Having.eval(f.cols, acc) != 1 {
		return nil, nil
	}
	return acc, nil
}
