package sharding

import (
	"strings"
	"testing"
)

// FuzzRoute: any client text is planned or refused, never a panic; a
// plan has units, each for a known target, and merged rows bounded.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{
		"select * from t_order where user_id = 1 and order_id in (1, 2) order by order_id limit 3, 4",
		"insert into t_order (user_id, status) values (1, 'a'), (2, 'b')",
		"update t_order set status = 'x' where user_id = 1 or order_id = 2",
		"select count(*), max(order_id) from t_order o join t_order_item i on o.order_id = i.order_id",
		"create table t_order (order_id bigint)", "select * from t_config", "delete from t_order limit 1",
		"select `t_order`.* from `t_order` where t_order.user_id = -3",
	} {
		f.Add(s)
	}
	rt := router(&testing.T{})
	targets := map[string]bool{}
	for _, n := range rt.Targets() {
		targets[n] = true
	}
	f.Fuzz(func(t *testing.T, sql string) {
		r, err := rt.Route(sql, nil)
		if err != nil || r == nil {
			return
		}
		if len(r.Units) == 0 {
			t.Fatalf("%q: a route without units", sql)
		}
		for _, u := range r.Units {
			if !targets[u.Target] {
				t.Fatalf("%q: unit for unknown target %q", sql, u.Target)
			}
			if strings.TrimSpace(u.SQL) == "" {
				t.Fatalf("%q: empty unit SQL", sql)
			}
		}
	})
}
