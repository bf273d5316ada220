package sharding

import (
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
		{Merge{Aggs: []Agg{{0, "count"}, {1, "sum"}, {2, "min"}, {3, "max"}}}, []Column{num, num, txt, num},
			[][][][]byte{rowsOf("2|1.50|b|7"), rowsOf("0|NULL|NULL|NULL"), rowsOf("3|-0.25|a|9")}, "5|1.25|a|9;"},
		{Merge{Aggs: []Agg{{0, "sum"}}}, []Column{num}, [][][][]byte{rowsOf("1e3"), rowsOf("2.5")}, "1002.5;"},
		{Merge{Aggs: []Agg{{0, "sum"}}}, []Column{num}, [][][][]byte{rowsOf("99999999999999999999"), rowsOf("1")}, "100000000000000000000;"},
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
