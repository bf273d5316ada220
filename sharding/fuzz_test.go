package sharding

import (
	"reflect"
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
		"SELECT c FROM t_order WHERE user_id = 5003 AND order_id = 17",
		"select * from T_ORDER where status = 'x' and user_id <= 4 and order_id <> 2 or user_id <=> 3",
		"update t_order set status = ? where user_id = ? and order_id != 5",
		"select * from `T_Order` o where o.user_id >= 10 and o.status = '' limit 5",
		"select * from t_order where user_id = 1 and order_id = 2 and status in (select status from t_order_item where user_id = 1 and order_id = 2)",
		"select (select max(i.qty) from t_order_item i where i.user_id = 3 and i.order_id = 5) from t_order o where o.user_id = 3 and o.order_id = 5 and exists (select 1 from t_config)",
		"insert into t_order_item (item_id, order_id, user_id) select order_id + 1, order_id, user_id from t_order where status = ?",
		"select status, count(*) from t_order group by status having status = 'e' and count(*) > ? order by status limit 2",
		"select *, status s from t_order order by s, order_id limit 3",
	} {
		f.Add(s)
	}
	rt := router(&testing.T{})
	targets := map[string]bool{}
	for _, n := range rt.Targets() {
		targets[n] = true
	}
	f.Fuzz(func(t *testing.T, sql string) {
		// The fast scanner reads what the vitess tokenizer reads, on
		// every text it takes.
		for _, norm := range []bool{true, false} {
			toks, named, key, lits, ok := rt.scanFast(sql, norm)
			if !ok {
				continue
			}
			vt, vn, vk, vl := rt.scanVitess(sql, norm)
			if !reflect.DeepEqual(toks, vt) || named != vn || key != vk || !reflect.DeepEqual(lits, vl) {
				t.Fatalf("%q (normalize %v): fast %v %v %q %v, vitess %v %v %q %v", sql, norm, toks, named, key, lits, vt, vn, vk, vl)
			}
		}
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
