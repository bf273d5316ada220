package gtid

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	g, err := Parse(" 0-1-42 ")
	if err != nil || g != (GTID{0, 1, 42}) || g.String() != "0-1-42" {
		t.Fatalf("%v %v", g, err)
	}
	for _, bad := range []string{"", "0-1", "a-1-2", "0-1-2-3", "0--2", "-1-1-1", "0-1-99999999999999999999"} {
		if _, err := Parse(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v, want ErrSyntax", bad, err)
		}
	}
}

func TestPos(t *testing.T) {
	p, err := ParsePos("1-2-7, 0-1-100")
	if err != nil || p.String() != "0-1-100,1-2-7" {
		t.Fatalf("%v %v", p, err)
	}
	if empty, err := ParsePos(""); err != nil || len(empty) != 0 || empty.Covers(GTID{0, 1, 1}) {
		t.Fatalf("empty: %v %v", empty, err)
	}
	for _, tc := range []struct {
		g    GTID
		want bool
	}{
		{GTID{0, 1, 100}, true}, {GTID{0, 3, 99}, true}, {GTID{0, 1, 101}, false},
		{GTID{1, 2, 7}, true}, {GTID{1, 2, 8}, false}, {GTID{2, 1, 1}, false},
	} {
		if got := p.Covers(tc.g); got != tc.want {
			t.Errorf("%v covers %v: %v", p, tc.g, got)
		}
	}
	q := Pos{{0, 1, 90}, {1, 2, 9}, {3, 1, 1}}
	m := p.Merge(q)
	if m.String() != "0-1-100,1-2-9,3-1-1" || p.String() != "0-1-100,1-2-7" {
		t.Fatalf("merge %v (p %v)", m, p)
	}
	if !m.CoversAll(p) || !m.CoversAll(q) || p.CoversAll(q) {
		t.Fatal("CoversAll")
	}
	if _, err := ParsePos("0-1-2,x"); !errors.Is(err, ErrSyntax) {
		t.Fatal(err)
	}
}
