package sharding

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func rowsOf(vals ...string) [][][]byte {
	var out [][][]byte
	for _, v := range vals {
		var r [][]byte
		for _, f := range splitFields(v) {
			if f == "NULL" {
				r = append(r, nil)
			} else {
				r = append(r, []byte(f))
			}
		}
		out = append(out, r)
	}
	return out
}

func splitFields(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '|' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func show(rows [][][]byte) string {
	s := ""
	for _, r := range rows {
		for i, v := range r {
			if i > 0 {
				s += "|"
			}
			if v == nil {
				s += "NULL"
			} else {
				s += string(v)
			}
		}
		s += ";"
	}
	return s
}

func TestMergeRows(t *testing.T) {
	num := Column{Name: "id", Numeric: true}
	txt := Column{Name: "s"}
	bin := Column{Name: "w", Binary: true, Exact: true}
	for _, tc := range []struct {
		m    Merge
		cols []Column
		sets [][][][]byte
		want string
	}{
		{Merge{Order: []OrderKey{{Index: 0}}}, []Column{num, txt}, [][][][]byte{rowsOf("1|a", "10|b"), rowsOf("2|c", "9|d")}, "1|a;2|c;9|d;10|b;"},
		{Merge{Order: []OrderKey{{Index: 1, Desc: true}}}, []Column{num, txt}, [][][][]byte{rowsOf("1|B", "2|a"), rowsOf("3|c", "4|NULL")}, "3|c;1|B;2|a;4|NULL;"},
		{Merge{Order: []OrderKey{{Index: -1, Name: "ID"}}, Limit: true, Offset: 1, Count: 2}, []Column{num, txt}, [][][][]byte{rowsOf("5|a", "7|b"), rowsOf("6|c")}, "6|c;7|b;"},
		{Merge{Order: []OrderKey{{Index: 1}}, Hidden: 1}, []Column{txt, num}, [][][][]byte{rowsOf("x|2"), rowsOf("y|1")}, "y;x;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "count"}, {Index: 1, Fn: "sum"}, {Index: 2, Fn: "min"}, {Index: 3, Fn: "max"}}}, []Column{num, num, txt, num},
			[][][][]byte{rowsOf("2|1.50|b|7"), rowsOf("0|NULL|NULL|NULL"), rowsOf("3|-0.25|a|9")}, "5|1.25|a|9;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "sum"}}}, []Column{num}, [][][][]byte{rowsOf("1e3"), rowsOf("2.5")}, "1002.5;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "sum"}}}, []Column{num}, [][][][]byte{rowsOf("99999999999999999999"), rowsOf("1")}, "100000000000000000000;"},
		// GROUP BY: 'a' and 'A ' are one group under a _ci collation; groups come out in key order.
		{Merge{Group: []int{0}, Aggs: []Agg{{Index: 1, Fn: "count"}, {Index: 2, Fn: "max"}}}, []Column{txt, num, num},
			[][][][]byte{rowsOf("b|1|5", "a|2|3"), rowsOf("A |4|9", "NULL|1|1")}, "NULL|1|1;a|6|9;b|1|5;"},
		// AVG from hidden SUM and COUNT, at the node's scale, rounded half away from zero.
		{Merge{Group: []int{0}, Aggs: []Agg{{Index: 1, Fn: "avg", Sum: 2, Count: 3}}, Hidden: 2}, []Column{txt, num, num, num},
			[][][][]byte{rowsOf("x|1.0000|1|1", "y|NULL|NULL|0"), rowsOf("x|2.5000|5|2", "y|-0.5000|-1|2")}, "x|2.0000;y|-0.5000;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "avg", Sum: 1, Count: 2}}, Hidden: 2}, []Column{num, num, num},
			[][][][]byte{rowsOf("0.3333|1|3"), rowsOf("1.0000|1|1")}, "0.5000;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "avg", Sum: 1, Count: 2}}, Hidden: 2}, []Column{num, num, num},
			[][][][]byte{rowsOf("0.6667|2|3"), rowsOf("NULL|NULL|0")}, "0.6667;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "avg", Sum: 1, Count: 2}}, Hidden: 2}, []Column{num, num, num},
			[][][][]byte{rowsOf("-0.5|-1|2"), rowsOf("-0.5|-2|4"), rowsOf("NULL|NULL|0")}, "-0.5;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "avg", Sum: 1, Count: 2}}, Hidden: 2}, []Column{num, num, num},
			[][][][]byte{rowsOf("-0.2|-1|4"), rowsOf("-0.3|-1|3")}, "-0.3;"},
		// HAVING on merged groups: count 6 > 2 keeps a; b's 1 does not pass; NULL is unknown.
		{Merge{Group: []int{0}, Aggs: []Agg{{Index: 1, Fn: "count"}, {Index: 2, Fn: "max"}},
			Having: &Cond{Op: "or", L: &Cond{Op: "cmp", Col: 1, Cmp: ">", Lit: []byte("2"), Numeric: true}, R: &Cond{Op: "cmp", Col: 2, Cmp: "=", Lit: []byte("x")}}},
			[]Column{txt, num, txt}, [][][][]byte{rowsOf("a|2|NULL", "b|1|y"), rowsOf("a|4|NULL", "c|1|X")}, "a|6|NULL;c|1|X;"},
		{Merge{Aggs: []Agg{{Index: 0, Fn: "sum"}}, Having: &Cond{Op: "not", L: &Cond{Op: "cmp", Col: 0, Cmp: "<", Lit: []byte("10.5"), Numeric: true}}},
			[]Column{num}, [][][][]byte{rowsOf("5.25"), rowsOf("5.25")}, "10.50;"},
		// DISTINCT over the visible columns; ORDER BY after grouping; LIMIT after both.
		{Merge{Distinct: true, Order: []OrderKey{{Index: 0, Desc: true}}, Limit: true, Count: 2}, []Column{txt},
			[][][][]byte{rowsOf("a", "b"), rowsOf("B", "c")}, "c;b;"},
		{Merge{Group: []int{0}, Aggs: []Agg{{Index: 1, Fn: "sum"}}, Order: []OrderKey{{Index: 1, Desc: true}}, Limit: true, Offset: 1, Count: 5}, []Column{num, num},
			[][][][]byte{rowsOf("1|5", "2|1"), rowsOf("1|1", "3|7")}, "1|6;2|1;"},
		// Text keys compare by their hidden weights (the server's sort
		// keys, here: é and e weigh 45, f 46): e and é are one group
		// before f, whatever their spelling; MIN keeps the row's value
		// with the smallest weight.
		{Merge{Group: []int{0}, Aggs: []Agg{{Index: 1, Fn: "count"}, {Index: 2, Fn: "min"}}, Weights: []Weight{{Col: 0, Hidden: 0}, {Col: 2, Hidden: 1}}, Hidden: 2},
			[]Column{txt, num, txt, bin, bin}, [][][][]byte{rowsOf("f|1|b|46|42", "é|2|z|45|5A"), rowsOf("e|4|a|45|41")}, "é|6|a;f|1|b;"},
		// SELECT * ORDER BY a name: the weight follows *'s columns.
		{Merge{Order: []OrderKey{{Index: -1, Name: "s"}}, Weights: []Weight{{Col: -1, Name: "s", Hidden: 0}}, Hidden: 1},
			[]Column{num, txt, bin}, [][][][]byte{rowsOf("1|é|45", "2|f|46"), rowsOf("3|e|45", "4|z|5A")}, "1|é;3|e;2|f;4|z;"},
		// A number or binary key ignores its weight.
		{Merge{Order: []OrderKey{{Index: 0}}, Weights: []Weight{{Col: 0, Hidden: 0}}, Hidden: 1},
			[]Column{num, bin}, [][][][]byte{rowsOf("10|10"), rowsOf("9|9")}, "9;10;"},
	} {
		got, err := tc.m.MergeRows(tc.cols, tc.sets)
		if err != nil {
			t.Errorf("%+v: %v", tc.m, err)
			continue
		}
		if show(got) != tc.want {
			t.Errorf("%+v: got %s want %s", tc.m, show(got), tc.want)
		}
	}
	m := Merge{MaxRows: 2}
	if _, err := m.MergeRows([]Column{num}, [][][][]byte{rowsOf("1", "2"), rowsOf("3")}); err == nil {
		t.Error("no error past MaxRows")
	}
}

// COUNT(DISTINCT x) and SUM(DISTINCT x): each node sends a row per value
// of x (grouped by it); the merge counts and adds the distinct values,
// 'a' and 'A ' being one under a _ci collation. No rows at all: one row.
func TestMergeDistinctAggregates(t *testing.T) {
	cols := []Column{{Name: "g", Numeric: true}, {Name: "n", Numeric: true}, {Name: "s", Numeric: true}, {Name: "c", Numeric: true}, {Name: "x"}, {Name: "y", Numeric: true}}
	m := Merge{Kind: Rows, Group: []int{0}, Hidden: 2, Aggs: []Agg{
		{Index: 1, Fn: "count", Distinct: true, Arg: 4},
		{Index: 2, Fn: "sum", Distinct: true, Arg: 5},
		{Index: 3, Fn: "count"},
	}}
	node0 := rowsOf("1|1|2|3|a|2", "1|1|5|1|b|5", "2|0|NULL|2|NULL|NULL")
	node1 := rowsOf("1|1|2|4|A |2", "2|1|7|1|c|7")
	got, err := m.MergeRows(cols, [][][][]byte{node0, node1})
	if err != nil {
		t.Fatal(err)
	}
	if want := "1|2|7|8;2|1|7|3;"; show(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", show(got), want)
	}
	m = Merge{Kind: Rows, NoGroupBy: true, Hidden: 1, Aggs: []Agg{{Index: 0, Fn: "count", Distinct: true, Arg: 2}, {Index: 1, Fn: "max"}}}
	got, err = m.MergeRows(cols[:3], [][][][]byte{nil, nil})
	if err != nil {
		t.Fatal(err)
	}
	if want := "0|NULL;"; show(got) != want {
		t.Fatalf("no rows: %q, want %q", show(got), want)
	}
}

// compareText's in-place ASCII comparison gives what folding both texts
// with strings.ToLower (after trimming trailing spaces) gives.
func TestCompareTextMatchesFolding(t *testing.T) {
	pieces := []string{"", "a", "A", "b", "Z", "z", " ", "  ", "é", "É", "ß", "İ", "\u212a", "k", "K", "_", "0", "~", "\xff", "ab", "aB "}
	rng := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	sign := func(n int) int { return max(-1, min(1, n)) }
	for range 200_000 {
		a, b := word(), word()
		want := strings.Compare(strings.ToLower(strings.TrimRight(a, " ")), strings.ToLower(strings.TrimRight(b, " ")))
		if got := compareText([]byte(a), []byte(b)); sign(got) != want {
			t.Fatalf("compareText(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}
