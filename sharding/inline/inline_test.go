package inline

import (
	"errors"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ds_${0..1}.t_order_${0..1}", "ds_0.t_order_0 ds_0.t_order_1 ds_1.t_order_0 ds_1.t_order_1"},
		{"ds_$->{0..1}.t", "ds_0.t ds_1.t"},
		{"ds_${['a','b']}.t_${[0, 2]}", "ds_a.t_0 ds_a.t_2 ds_b.t_0 ds_b.t_2"},
		{"ds_0.t_${0..1}, ds_1.t_${2..3}", "ds_0.t_0 ds_0.t_1 ds_1.t_2 ds_1.t_3"},
		{"ms_ds_${0..1}", "ms_ds_0 ms_ds_1"},
		{"plain.t", "plain.t"},
		{"cost$.t", "cost$.t"},
	} {
		got, err := Expand(tc.in)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("Expand(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"ds_${0..}", "ds_${1..0}", "ds_${0..1", "ds_${x}", "ds_${[]}", "a,,b", "t_${0..99999999}", "t_${0..999}_${0..999}"} {
		if _, err := Expand(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("Expand(%q): %v, want ErrSyntax", bad, err)
		}
	}
}

func TestAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		expr string
		vals map[string]any
		want string
	}{
		{"t_order_${order_id % 4}", map[string]any{"order_id": int64(7)}, "t_order_3"},
		{"ds_${user_id % 2}", map[string]any{"user_id": 10}, "ds_0"},
		{"t_${(order_id / 10) % 4}", map[string]any{"order_id": int64(57)}, "t_1"},
		{"t_${a * 2 + b - 1}", map[string]any{"a": int64(3), "b": int64(4)}, "t_9"},
		{"t_$->{-x % 3}", map[string]any{"x": int64(4)}, "t_-1"},
		{"t_${region}", map[string]any{"region": "eu"}, "t_eu"},
	} {
		a, err := Compile(tc.expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.expr, err)
		}
		got, err := a.Eval(tc.vals)
		if err != nil || got != tc.want {
			t.Errorf("%s with %v = %q, %v; want %q", tc.expr, tc.vals, got, err, tc.want)
		}
	}
	a, _ := Compile("t_${a % b}_${a}")
	if strings.Join(a.Columns(), ",") != "a,b" {
		t.Errorf("columns %v", a.Columns())
	}
	for _, bad := range []string{"t_order", "t_${order_id.hashCode() % 4}", "t_${x %}", "t_${(x}", "t_${x & 1}", "t_${99999999999999999999}"} {
		if _, err := Compile(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("Compile(%q): %v, want ErrSyntax", bad, err)
		}
	}
	z, _ := Compile("t_${x % y}")
	if _, err := z.Eval(map[string]any{"x": int64(1), "y": int64(0)}); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("x %% 0: %v", err)
	}
	if _, err := z.Eval(map[string]any{"x": int64(1)}); err == nil || !strings.Contains(err.Error(), "no value for sharding column y") {
		t.Errorf("missing y: %v", err)
	}
	if _, err := z.Eval(map[string]any{"x": "a", "y": int64(2)}); err == nil || !strings.Contains(err.Error(), "needs an integer") {
		t.Errorf("string in arithmetic: %v", err)
	}
}

// No input panics or expands without bound.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"ds_${0..1}.t_${0..3}", "${['a','b']}", "x,$->{1..2}", "${${0..1}}", "t_${a % 4}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if names, err := Expand(s); err == nil && len(names) > MaxExpansion {
			t.Fatalf("%q expanded to %d names", s, len(names))
		}
		if a, err := Compile(s); err == nil {
			a.Eval(map[string]any{"a": int64(5)})
		}
	})
}
