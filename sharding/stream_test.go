package sharding

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// reusing is a Source that, like a connection's read buffer, overwrites
// the row it returned before at each Next.
type reusing struct {
	rows [][][]byte
	buf  [][]byte
	mem  []byte
}

func (s *reusing) Next() ([][]byte, bool, error) {
	if len(s.rows) == 0 {
		return nil, false, nil
	}
	r := s.rows[0]
	s.rows = s.rows[1:]
	for i := range s.mem {
		s.mem[i] = '#' // what the caller kept of the last row is gone
	}
	s.mem, s.buf = s.mem[:0], s.buf[:0]
	for _, v := range r {
		if v == nil {
			s.buf = append(s.buf, nil)
			continue
		}
		at := len(s.mem)
		s.mem = append(s.mem, v...)
		s.buf = append(s.buf, s.mem[at:len(s.mem):len(s.mem)])
	}
	// The values alias mem: make it stable for this row.
	out := make([][]byte, len(s.buf))
	copy(out, s.buf)
	return out, true, nil
}

func drain(t *testing.T, s *Streamed) [][][]byte {
	t.Helper()
	var out [][][]byte
	for {
		r, _, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return out
		}
		out = append(out, cloneRow(r))
	}
}

// TestStreamedGroupsMatchGathered: a grouped merge folded as it streams
// from sources sorted by the keys gives what the gathered merge gives,
// for random rows, aggregates, HAVING, LIMIT and directions.
func TestStreamedGroupsMatchGathered(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	// Visible: 0 g1 (int), 1 g2 (binary text), 2 COUNT, 3 SUM, 4 MIN,
	// 5 MAX, 6 AVG, 7 COUNT(DISTINCT x); hidden: 8 AVG's SUM, 9 AVG's
	// COUNT, 10 x.
	cols := []Column{{Name: "g1", Numeric: true, Exact: true}, {Name: "g2", Binary: true, Exact: true},
		{Name: "c", Numeric: true}, {Name: "s", Numeric: true}, {Name: "mi", Numeric: true}, {Name: "ma", Numeric: true},
		{Name: "a", Numeric: true}, {Name: "d", Numeric: true}, {Name: "as", Numeric: true}, {Name: "ac", Numeric: true}, {Name: "x", Numeric: true}}
	num := func() []byte {
		if rng.IntN(8) == 0 {
			return nil
		}
		return strconv.AppendInt(nil, int64(rng.IntN(20)-5), 10)
	}
	for round := range 300 {
		m := Merge{Kind: Rows, Group: []int{0, 1}, Sorted: true, Hidden: 3, MaxRows: 100000,
			Aggs: []Agg{{Index: 2, Fn: "count"}, {Index: 3, Fn: "sum"}, {Index: 4, Fn: "min"}, {Index: 5, Fn: "max"},
				{Index: 6, Fn: "avg", Sum: 8, Count: 9}, {Index: 7, Fn: "count", Distinct: true, Arg: 10}}}
		desc := round%3 == 1
		if round%3 != 0 {
			m.Order = []OrderKey{{Index: 0, Desc: desc}, {Index: 1, Desc: desc}}
		}
		if round%4 == 2 {
			m.Having = &Cond{Op: "cmp", Col: 2, Cmp: ">", Lit: []byte("1"), Numeric: true}
		}
		if round%5 == 3 {
			m.Limit, m.Offset, m.Count = true, int64(rng.IntN(4)), int64(rng.IntN(6))
		}
		// Not Sorted (ORDER BY an aggregate): the nodes' rows come in no
		// group order, and the merge gathers them.
		unsorted := round%7 == 5
		if unsorted {
			m.Sorted, m.Order = false, []OrderKey{{Index: 3, Desc: true}, {Index: 0}, {Index: 1}}
		}
		nodes := 1 + rng.IntN(4)
		sets := make([][][][]byte, nodes)
		for n := range sets {
			for range rng.IntN(30) {
				g2 := []byte{'a' + byte(rng.IntN(3))}
				if rng.IntN(6) == 0 {
					g2 = nil
				}
				c := strconv.AppendInt(nil, int64(1+rng.IntN(4)), 10)
				as, ac := num(), []byte("0")
				if as != nil {
					ac = []byte(strconv.Itoa(1 + rng.IntN(3)))
				}
				a := []byte(nil)
				if as != nil {
					a = []byte("1.5000")
				}
				sets[n] = append(sets[n], [][]byte{strconv.AppendInt(nil, int64(rng.IntN(4)), 10), g2, c, num(), num(), num(), a, []byte("1"), as, ac, num()})
			}
			less, _ := m.Comparison(cols)
			if less == nil {
				less = func(a, b [][]byte) int { return sameKey(cols, m.Group, a, b) }
			}
			if unsorted {
				rng.Shuffle(len(sets[n]), func(i, j int) { sets[n][i], sets[n][j] = sets[n][j], sets[n][i] })
			} else {
				slices.SortStableFunc(sets[n], less)
			}
		}
		gathered := make([][][][]byte, nodes)
		srcs := make([]Source, nodes)
		for n, s := range sets {
			for _, r := range s {
				gathered[n] = append(gathered[n], cloneRow(r))
			}
			srcs[n] = &reusing{rows: s}
		}
		want, err := m.MergeRows(cols, gathered)
		if err != nil {
			t.Fatal(err)
		}
		st, err := m.Stream(cols, srcs)
		if err != nil {
			t.Fatal(err)
		}
		if got := drain(t, st); show(got) != show(want) {
			t.Fatalf("round %d (order %v, having %v, limit %v %d,%d):\n got %s\nwant %s", round, m.Order, m.Having != nil, m.Limit, m.Offset, m.Count, show(got), show(want))
		}
	}
}

// TestStreamedInexactKeysGather: a text key under a _ci collation cannot
// rely on the nodes' order (MariaDB's and ours differ, e.g. on accents):
// the rows are gathered and merged, so each group is still one row.
func TestStreamedInexactKeysGather(t *testing.T) {
	cols := []Column{{Name: "k"}, {Name: "n", Numeric: true}}
	m := Merge{Kind: Rows, Group: []int{0}, Sorted: true, Aggs: []Agg{{Index: 1, Fn: "count"}}}
	// Node orders that disagree with ours: 'b' before 'A' on one node.
	srcs := []Source{&reusing{rows: rowsOf("b|1", "A|2")}, &reusing{rows: rowsOf("a|3", "B|4")}}
	st, err := m.Stream(cols, srcs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := show(drain(t, st)), "A|5;b|5;"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestStreamedWeightedTextKeys: text keys with weights (the server's sort
// keys: e, é and É weigh alike, before f) stream, k-way by the weights,
// and fold as the gathered merge does, for random rows and directions.
func TestStreamedWeightedTextKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	// Visible: 0 k (text), 1 COUNT, 2 MIN(v) (text); hidden: 3 k's
	// weight, 4 MIN(v)'s weight.
	cols := []Column{{Name: "k"}, {Name: "c", Numeric: true}, {Name: "v"},
		{Name: "wk", Binary: true, Exact: true}, {Name: "wv", Binary: true, Exact: true}}
	spell := [][]string{{"e", "é", "É"}, {"f", "F"}, {"ä", "Ä"}}
	weight := []string{"45", "46", "5B"}
	for round := range 200 {
		m := Merge{Kind: Rows, Group: []int{0}, Sorted: true, Hidden: 2, MaxRows: 1000,
			Aggs:    []Agg{{Index: 1, Fn: "count"}, {Index: 2, Fn: "min"}},
			Weights: []Weight{{Col: 0, Hidden: 0}, {Col: 2, Hidden: 1}}}
		if round%2 == 1 {
			m.Order = []OrderKey{{Index: 0, Desc: true}}
		}
		nodes := 1 + rng.IntN(4)
		sets := make([][][][]byte, nodes)
		for n := range sets {
			for range rng.IntN(20) {
				g, v := rng.IntN(3), rng.IntN(3)
				sets[n] = append(sets[n], [][]byte{[]byte(spell[g][rng.IntN(len(spell[g]))]), []byte("1"),
					[]byte(spell[v][rng.IntN(len(spell[v]))]), []byte(weight[g]), []byte(weight[v])})
			}
			less, _ := m.Comparison(cols)
			if less == nil {
				key, _ := m.groupKey(cols)
				less = func(a, b [][]byte) int { return sameKey(cols, key, a, b) }
			}
			slices.SortStableFunc(sets[n], less) // as the node sorts by the collation
		}
		gathered := make([][][][]byte, nodes)
		srcs := make([]Source, nodes)
		for n, set := range sets {
			for _, r := range set {
				gathered[n] = append(gathered[n], cloneRow(r))
			}
			srcs[n] = &reusing{rows: set}
		}
		want, err := m.MergeRows(cols, gathered)
		if err != nil {
			t.Fatal(err)
		}
		st, err := m.Stream(cols, srcs)
		if err != nil {
			t.Fatal(err)
		}
		if st.held != nil {
			t.Fatal("a merge of weighted text keys was gathered, not streamed")
		}
		// Any member of a group may show: compare groups by their weights.
		fold := func(rows [][][]byte) string {
			out := ""
			for _, r := range rows {
				out += string(r[1]) + ":"
				for _, v := range [][]byte{r[0], r[2]} {
					for g, sp := range spell {
						if slices.Contains(sp, string(v)) {
							out += weight[g] + "|"
						}
					}
				}
				out += ";"
			}
			return out
		}
		if got := drain(t, st); fold(got) != fold(want) {
			t.Fatalf("round %d (order %v):\n got %s\nwant %s", round, m.Order, show(got), show(want))
		}
	}
}

// TestStreamedRows: without grouping, rows come k-way, each the source's
// own row (from), and LIMIT skips and stops.
func TestStreamedRows(t *testing.T) {
	cols := []Column{{Name: "k", Numeric: true}}
	m := Merge{Kind: Rows, Order: []OrderKey{{Index: 0}}, Limit: true, Offset: 1, Count: 3}
	srcs := []Source{&reusing{rows: rowsOf("1", "4", "6")}, &reusing{rows: rowsOf("2", "3", "5")}}
	st, err := m.Stream(cols, srcs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var from []int
	for {
		r, f, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		got, from = append(got, string(r[0])), append(from, f)
	}
	if !slices.Equal(got, []string{"2", "3", "4"}) || !slices.Equal(from, []int{1, 1, 0}) {
		t.Fatalf("got %v from %v", got, from)
	}
}

// TestFolderDistinctBound: a group's DISTINCT values are held, up to
// MaxRows.
func TestFolderDistinctBound(t *testing.T) {
	cols := []Column{{Name: "g", Numeric: true, Exact: true}, {Name: "x", Numeric: true}}
	m := Merge{Kind: Rows, Group: []int{0}, Sorted: true, MaxRows: 3, Aggs: []Agg{{Index: 1, Fn: "count", Distinct: true, Arg: 1}}}
	st, err := m.Stream(cols, []Source{&reusing{rows: rowsOf("1|1", "1|2", "1|3", "1|4")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Next(); err == nil {
		t.Fatal("4 distinct values held past MaxRows 3")
	}
}
