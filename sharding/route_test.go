package sharding

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/config"
)

const ruleYAML = `
users: [{name: app, password: x}]
dataSources:
  m0: {url: "127.0.0.1:3306", username: r}
  s0: {url: "127.0.0.1:3307", username: r}
  m1: {url: "127.0.0.1:3308", username: r}
  s1: {url: "127.0.0.1:3309", username: r}
shardingRule:
  tables:
    t_order:
      actualDataNodes: ms_${0..1}.t_order_${0..1}
      databaseStrategy:
        inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id % 2}'}
      tableStrategy:
        inline: {shardingColumn: order_id, algorithmExpression: 't_order_${order_id % 2}'}
      keyGenerator: {type: SNOWFLAKE, column: order_id}
    t_order_item:
      actualDataNodes: ms_${0..1}.t_order_item_${0..1}
      databaseStrategy:
        inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id % 2}'}
      tableStrategy:
        standard: {shardingColumn: order_id, algorithm: MOD, props: {shardingCount: "2"}}
    t_user:
      actualDataNodes: ms_${0..1}.t_user
      databaseStrategy:
        standard: {shardingColumn: name, algorithm: HASH_MOD, props: {shardingCount: "2"}}
    t_log:
      actualDataNodes: ms_0.t_log_${0..2}
      tableStrategy:
        standard: {shardingColumn: id, algorithm: RANGE, props: {boundaries: "100,200"}}
    t_event:
      actualDataNodes: ms_${0..1}.t_event_${['202401','202402','202403','202404']}
      databaseStrategy:
        inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id % 2}'}
      tableStrategy:
        standard:
          shardingColumn: created
          algorithm: INTERVAL
          props: {datetime-lower: "2024-01-01 00:00:00", datetime-upper: "2024-04-30 23:59:59", sharding-suffix-pattern: yyyyMM, datetime-interval-unit: MONTHS}
    t_hint:
      actualDataNodes: ms_${0..1}.t_hint_${0..1}
      databaseStrategy: {hint: {algorithmExpression: 'ms_${value % 2}'}}
      tableStrategy: {hint: {algorithmExpression: 't_hint_${value % 2}'}}
  bindingTables: ["t_order,t_order_item"]
  broadcastTables: [t_config]
  defaultDataSourceName: ms_0
  masterSlaveRules:
    ms_0: {masterDataSourceName: m0, slaveDataSourceNames: [s0]}
    ms_1: {masterDataSourceName: m1, slaveDataSourceNames: [s1]}
`

func router(t *testing.T) *Router {
	t.Helper()
	c, err := config.Parse([]byte(ruleYAML))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := NewSnowflake(1)
	r, err := New(c.ShardingRule, 1000, keys)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func units(r *Route) string {
	var b []string
	for _, u := range r.Units {
		b = append(b, u.Target+": "+u.SQL)
	}
	return strings.Join(b, "\n")
}

func TestRoute(t *testing.T) {
	rt := router(t)
	for _, tc := range []struct {
		sql, want string
		kind      MergeKind
	}{
		{"select * from plain where id = 1", "", 0},
		{"select t_order from plain", "", 0},
		{"SELECT * FROM t_order WHERE user_id = 3 AND order_id = 4", "ms_1: SELECT * FROM t_order_0 WHERE user_id = 3 AND order_id = 4", One},
		{"SELECT o.status FROM `t_order` o WHERE o.user_id = 3 AND o.order_id IN (4, 6)", "ms_1: SELECT o.status FROM `t_order_0` o WHERE o.user_id = 3 AND o.order_id IN (4, 6)", One},
		{"SELECT t_order.status FROM t_order WHERE t_order.user_id = '3' and order_id = 5", "ms_1: SELECT t_order_1.status FROM t_order_1 WHERE t_order_1.user_id = '3' and order_id = 5", One},
		{"select * from t_order where user_id = 3", "ms_1: select * from t_order_0 where user_id = 3\nms_1: select * from t_order_1 where user_id = 3", Rows},
		{"select * from t_order where user_id = 3 or user_id = 4 and order_id = 1", "ms_0: select * from t_order_1 where user_id = 3 or user_id = 4 and order_id = 1\nms_1: select * from t_order_0 where user_id = 3 or user_id = 4 and order_id = 1\nms_1: select * from t_order_1 where user_id = 3 or user_id = 4 and order_id = 1", Rows},
		{"select * from t_order where user_id = 3 and user_id = 4", "ms_0: select * from t_order_0 where user_id = 3 and user_id = 4", One},
		{"select * from t_order where user_id between 1 and 3 and order_id = 2", "ms_0: select * from t_order_0 where user_id between 1 and 3 and order_id = 2\nms_1: select * from t_order_0 where user_id between 1 and 3 and order_id = 2", Rows},
		{"select status from t_order where user_id = 1 order by order_id desc limit 2, 3",
			"ms_1: select status, order_id from t_order_0 where user_id = 1 order by order_id desc limit 0, 5 \nms_1: select status, order_id from t_order_1 where user_id = 1 order by order_id desc limit 0, 5 ", Rows},
		{"select count(*), max(order_id) from t_order", "ms_0: select count(*), max(order_id) from t_order_0\nms_0: select count(*), max(order_id) from t_order_1\nms_1: select count(*), max(order_id) from t_order_0\nms_1: select count(*), max(order_id) from t_order_1", Rows},
		{"select o.*, i.item from t_order o join t_order_item i on o.order_id = i.order_id where o.user_id = 2 and o.order_id = 3",
			"ms_0: select o.*, i.item from t_order_1 o join t_order_item_1 i on o.order_id = i.order_id where o.user_id = 2 and o.order_id = 3", One},
		{"select * from t_config", "ms_0: select * from t_config", One},
		{"select * from t_order o join t_config c on o.status = c.k where o.user_id = 1 and o.order_id = 1", "ms_1: select * from t_order_1 o join t_config c on o.status = c.k where o.user_id = 1 and o.order_id = 1", One},
		{"update t_config set v = 1", "ms_0: update t_config set v = 1\nms_1: update t_config set v = 1", Same},
		{"insert into t_order (user_id, order_id, status) values (1, 2, 'a')", "ms_1: insert into t_order_0 (user_id, order_id, status) values (1, 2, 'a')", One},
		{"insert into t_order (user_id, order_id, status) values (1, 2, 'a'), (2, 3, 'it''s'), (3, 4, null)",
			"ms_1: insert into t_order_0(user_id, order_id, `status`) values (1, 2, 'a'), (3, 4, null)\nms_0: insert into t_order_1(user_id, order_id, `status`) values (2, 3, 'it\\'s')", Sum},
		{"insert into t_order set user_id = 1, order_id = 3", "ms_1: insert into t_order_1 set user_id = 1, order_id = 3", One},
		{"update t_order set status = 'x' where user_id = 1 and order_id = 2", "ms_1: update t_order_0 set status = 'x' where user_id = 1 and order_id = 2", One},
		{"update t_order set status = 'x', user_id = 3 where user_id = 1 and order_id = 2", "ms_1: update t_order_0 set status = 'x', user_id = 3 where user_id = 1 and order_id = 2", One},
		{"delete from t_order where order_id = 2", "ms_0: delete from t_order_0 where order_id = 2\nms_1: delete from t_order_0 where order_id = 2", Sum},
		{"create table t_order (order_id bigint primary key, user_id int, status varchar(10), key idx_s (status))",
			"ms_0: create table t_order_0 (order_id bigint primary key, user_id int, status varchar(10), key idx_s (status))\nms_0: create table t_order_1 (order_id bigint primary key, user_id int, status varchar(10), key idx_s (status))\nms_1: create table t_order_0 (order_id bigint primary key, user_id int, status varchar(10), key idx_s (status))\nms_1: create table t_order_1 (order_id bigint primary key, user_id int, status varchar(10), key idx_s (status))", Sum},
		// DDL: every clause of an ALTER, tables of a binding group node by node.
		{"alter table t_log add column a int, add index i_a (a), drop column b", "ms_0: alter table t_log_0 add column a int, add index i_a (a), drop column b\nms_0: alter table t_log_1 add column a int, add index i_a (a), drop column b\nms_0: alter table t_log_2 add column a int, add index i_a (a), drop column b", Sum},
		{"alter table t_order_item add constraint f foreign key (a) references t_order (order_id)", "ms_0: alter table t_order_item_0 add constraint f foreign key (a) references t_order_0 (order_id)\nms_0: alter table t_order_item_1 add constraint f foreign key (a) references t_order_1 (order_id)\nms_1: alter table t_order_item_0 add constraint f foreign key (a) references t_order_0 (order_id)\nms_1: alter table t_order_item_1 add constraint f foreign key (a) references t_order_1 (order_id)", Sum},
		{"create table t_order like t_order_item", "ms_0: create table t_order_0 like t_order_item_0\nms_0: create table t_order_1 like t_order_item_1\nms_1: create table t_order_0 like t_order_item_0\nms_1: create table t_order_1 like t_order_item_1", Sum},
		{"drop table if exists t_order, t_order_item", "ms_0: drop table if exists t_order_0, t_order_item_0\nms_0: drop table if exists t_order_1, t_order_item_1\nms_1: drop table if exists t_order_0, t_order_item_0\nms_1: drop table if exists t_order_1, t_order_item_1", Sum},
		{"select *, status as s from t_order order by s", "ms_0: select *, status as s, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_0 order by s\nms_0: select *, status as s, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_1 order by s\nms_1: select *, status as s, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_0 order by s\nms_1: select *, status as s, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_1 order by s", Rows},
		{"select * from t_order order by status", "ms_0: select *, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_0 order by status\nms_0: select *, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_1 order by status\nms_1: select *, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_0 order by status\nms_1: select *, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_order_1 order by status", Rows},
		// Subqueries: the whole statement on one node, each subquery's rows there too.
		{"select * from t_order where user_id = 1 and order_id = 2 and status in (select status from t_order_item where user_id = 1 and order_id = 2)",
			"ms_1: select * from t_order_0 where user_id = 1 and order_id = 2 and status in (select status from t_order_item_0 where user_id = 1 and order_id = 2)", One},
		{"select o.*, (select count(*) from t_order_item i where i.user_id = 3 and i.order_id = 5) n from t_order o where o.user_id = 3 and o.order_id = 5 and exists (select 1 from t_config c where c.k = o.status)",
			"ms_1: select o.*, (select count(*) from t_order_item_1 i where i.user_id = 3 and i.order_id = 5) n from t_order_1 o where o.user_id = 3 and o.order_id = 5 and exists (select 1 from t_config c where c.k = o.status)", One},
		// Correlated on every sharding column: each node's rows meet their own.
		{"select o.order_id from t_order o where exists (select 1 from t_order_item i where i.order_id = o.order_id and o.user_id = i.user_id and i.qty > 1) order by o.order_id",
			"ms_0: select o.order_id from t_order_0 o where exists (select 1 from t_order_item_0 i where i.order_id = o.order_id and o.user_id = i.user_id and i.qty > 1) order by o.order_id\nms_0: select o.order_id from t_order_1 o where exists (select 1 from t_order_item_1 i where i.order_id = o.order_id and o.user_id = i.user_id and i.qty > 1) order by o.order_id\nms_1: select o.order_id from t_order_0 o where exists (select 1 from t_order_item_0 i where i.order_id = o.order_id and o.user_id = i.user_id and i.qty > 1) order by o.order_id\nms_1: select o.order_id from t_order_1 o where exists (select 1 from t_order_item_1 i where i.order_id = o.order_id and o.user_id = i.user_id and i.qty > 1) order by o.order_id", Rows},
		{"select * from t_order where order_id in (select 1)", "", Rows},
		{"update t_order o set status = 'x' where exists (select 1 from t_order_item i where i.user_id = o.user_id and i.order_id = o.order_id and i.qty = 0)",
			"ms_0: update t_order_0 o set status = 'x' where exists (select 1 from t_order_item_0 i where i.user_id = o.user_id and i.order_id = o.order_id and i.qty = 0)\nms_0: update t_order_1 o set status = 'x' where exists (select 1 from t_order_item_1 i where i.user_id = o.user_id and i.order_id = o.order_id and i.qty = 0)\nms_1: update t_order_0 o set status = 'x' where exists (select 1 from t_order_item_0 i where i.user_id = o.user_id and i.order_id = o.order_id and i.qty = 0)\nms_1: update t_order_1 o set status = 'x' where exists (select 1 from t_order_item_1 i where i.user_id = o.user_id and i.order_id = o.order_id and i.qty = 0)", Sum},
		{"delete from t_order where user_id = 1 and order_id = 2 and status in (select v from t_config)", "ms_1: delete from t_order_0 where user_id = 1 and order_id = 2 and status in (select v from t_config)", One},
		// Groups by numbers, in key order: each node's first o+c groups.
		{"select user_id, count(*) from t_order group by user_id order by user_id desc limit 2, 3",
			"ms_0: select user_id, count(*) from t_order_0 group by user_id order by user_id desc limit 0, 5 \nms_0: select user_id, count(*) from t_order_1 group by user_id order by user_id desc limit 0, 5 \nms_1: select user_id, count(*) from t_order_0 group by user_id order by user_id desc limit 0, 5 \nms_1: select user_id, count(*) from t_order_1 group by user_id order by user_id desc limit 0, 5 ", Rows},
		{"select distinct user_id from t_order limit 4",
			"ms_0: select distinct user_id from t_order_0 order by 1 limit 0, 4 \nms_0: select distinct user_id from t_order_1 order by 1 limit 0, 4 \nms_1: select distinct user_id from t_order_0 order by 1 limit 0, 4 \nms_1: select distinct user_id from t_order_1 order by 1 limit 0, 4 ", Rows},
		// INSERT … SELECT between binding tables: each node copies its own rows.
		{"insert into t_order_item (item_id, order_id, user_id, qty) select order_id + 100, order_id, user_id, 1 from t_order where status = 'x'",
			"ms_0: insert into t_order_item_0 (item_id, order_id, user_id, qty) select order_id + 100, order_id, user_id, 1 from t_order_0 where status = 'x'\nms_0: insert into t_order_item_1 (item_id, order_id, user_id, qty) select order_id + 100, order_id, user_id, 1 from t_order_1 where status = 'x'\nms_1: insert into t_order_item_0 (item_id, order_id, user_id, qty) select order_id + 100, order_id, user_id, 1 from t_order_0 where status = 'x'\nms_1: insert into t_order_item_1 (item_id, order_id, user_id, qty) select order_id + 100, order_id, user_id, 1 from t_order_1 where status = 'x'", Sum},
		{"insert into t_order_item (item_id, order_id, user_id) select o.order_id * 10, o.order_id, o.user_id from t_order o where o.user_id = 3 and o.order_id = 5",
			"ms_1: insert into t_order_item_1 (item_id, order_id, user_id) select o.order_id * 10, o.order_id, o.user_id from t_order_1 o where o.user_id = 3 and o.order_id = 5", One},
		{"insert into t_config (k, v) select k, v from t_config where k = 'a'", "ms_0: insert into t_config (k, v) select k, v from t_config where k = 'a'\nms_1: insert into t_config (k, v) select k, v from t_config where k = 'a'", Same},
		// HAVING on a group key stays on the nodes (their collation); the rest is merged.
		{"select status, count(*) from t_log group by status having status = 'e' and count(*) > 1 order by status",
			"ms_0: select status, count(*), WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_log_0 group by status  HAVING (`status` = 'e') order by status\nms_0: select status, count(*), WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_log_1 group by status  HAVING (`status` = 'e') order by status\nms_0: select status, count(*), WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_log_2 group by status  HAVING (`status` = 'e') order by status", Rows},
		{"select * from t_user where name = 'bob'", "", One},
		// Ranges: RANGE prunes by boundaries, MOD and inline arithmetic enumerate small ranges.
		{"select * from t_log where id between 150 and 250", "ms_0: select * from t_log_1 where id between 150 and 250\nms_0: select * from t_log_2 where id between 150 and 250", Rows},
		{"select * from t_log where id < 100", "ms_0: select * from t_log_0 where id < 100", One},
		{"select * from t_log where 200 <= id and id <= 1000000", "ms_0: select * from t_log_2 where 200 <= id and id <= 1000000", One},
		{"select * from t_log where id > 99 and id < 101", "ms_0: select * from t_log_1 where id > 99 and id < 101", One},
		{"select * from t_log where id > 5 and id < 3", "ms_0: select * from t_log_0 where id > 5 and id < 3", One},
		{"select * from t_log where id not between 100 and 199", "ms_0: select * from t_log_0 where id not between 100 and 199\nms_0: select * from t_log_1 where id not between 100 and 199\nms_0: select * from t_log_2 where id not between 100 and 199", Rows},
		{"select * from t_log where id < '100'", "ms_0: select * from t_log_0 where id < '100'\nms_0: select * from t_log_1 where id < '100'\nms_0: select * from t_log_2 where id < '100'", Rows},
		{"select * from t_order where user_id >= 4 and user_id <= 4 and order_id between 6 and 6", "ms_0: select * from t_order_0 where user_id >= 4 and user_id <= 4 and order_id between 6 and 6", One},
		{"select * from t_order_item where user_id = 1 and order_id between 10 and 11", "ms_1: select * from t_order_item_0 where user_id = 1 and order_id between 10 and 11\nms_1: select * from t_order_item_1 where user_id = 1 and order_id between 10 and 11", Rows},
		{"select * from t_order_item where user_id = 1 and order_id > 10", "ms_1: select * from t_order_item_0 where user_id = 1 and order_id > 10\nms_1: select * from t_order_item_1 where user_id = 1 and order_id > 10", Rows},
		{"delete from t_log where id >= 250", "ms_0: delete from t_log_2 where id >= 250", One},
		// Grouped merges: LIMIT removed per node, GROUP BY columns and AVG's SUM/COUNT added hidden.
		{"select count(*), avg(o.amount) from t_log o where id < 150 group by o.status order by 1 desc limit 3",
			"ms_0: select count(*), avg(o.amount), o.`status`, SUM(o.amount), COUNT(o.amount), WEIGHT_STRING(IF(o.`status` = RTRIM(o.`status`), RTRIM(o.`status`), o.`status`)) from t_log_0 o where id < 150 group by o.status order by 1 desc \nms_0: select count(*), avg(o.amount), o.`status`, SUM(o.amount), COUNT(o.amount), WEIGHT_STRING(IF(o.`status` = RTRIM(o.`status`), RTRIM(o.`status`), o.`status`)) from t_log_1 o where id < 150 group by o.status order by 1 desc ", Rows},
		{"select distinct status from t_log where t_log.id > 99 limit 2", "ms_0: select distinct status, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_log_1 where t_log_1.id > 99 order by 1 \nms_0: select distinct status, WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)) from t_log_2 where t_log_2.id > 99 order by 1 ", Rows},
		{"select status, count(*) n from t_log group by status having n > 1 and (max(amount) >= 2.5 or not avg(id) < 3) order by status limit 2",
			"ms_0: select status, count(*) n, max(amount), avg(id), SUM(id), COUNT(id), WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)), WEIGHT_STRING(IF(max(amount) = RTRIM(max(amount)), RTRIM(max(amount)), max(amount))) from t_log_0 group by status  order by status \nms_0: select status, count(*) n, max(amount), avg(id), SUM(id), COUNT(id), WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)), WEIGHT_STRING(IF(max(amount) = RTRIM(max(amount)), RTRIM(max(amount)), max(amount))) from t_log_1 group by status  order by status \nms_0: select status, count(*) n, max(amount), avg(id), SUM(id), COUNT(id), WEIGHT_STRING(IF(`status` = RTRIM(`status`), RTRIM(`status`), `status`)), WEIGHT_STRING(IF(max(amount) = RTRIM(max(amount)), RTRIM(max(amount)), max(amount))) from t_log_2 group by status  order by status ", Rows},
		{"select count(distinct t_log.status), sum(amount) from t_log where id > 150 order by 1 limit 1",
			"ms_0: select count(distinct t_log_1.status), sum(amount), t_log_1.`status`, WEIGHT_STRING(IF(t_log_1.`status` = RTRIM(t_log_1.`status`), RTRIM(t_log_1.`status`), t_log_1.`status`)) from t_log_1 where id > 150 group by t_log_1.`status` order by 1 \nms_0: select count(distinct t_log_2.status), sum(amount), t_log_2.`status`, WEIGHT_STRING(IF(t_log_2.`status` = RTRIM(t_log_2.`status`), RTRIM(t_log_2.`status`), t_log_2.`status`)) from t_log_2 where id > 150 group by t_log_2.`status` order by 1 ", Rows},
		{"select avg(t_log.id) from t_log where id > 150", "ms_0: select avg(t_log_1.id), SUM(t_log_1.id), COUNT(t_log_1.id) from t_log_1 where id > 150\nms_0: select avg(t_log_2.id), SUM(t_log_2.id), COUNT(t_log_2.id) from t_log_2 where id > 150", Rows},
	} {
		r, err := rt.Route(tc.sql, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		if tc.want == "" && r == nil {
			continue
		}
		if r == nil {
			t.Errorf("%s: not routed", tc.sql)
			continue
		}
		if got := units(r); (got != tc.want && tc.want != "") || r.Merge.Kind != tc.kind {
			t.Errorf("%s:\n got %s (%d)\nwant %s (%d)", tc.sql, got, r.Merge.Kind, tc.want, tc.kind)
		}
	}
}

// With CompareLocally (props.shardingCompareLocally) merges add no
// weights: backends without WEIGHT_STRING run them.
func TestRouteCompareLocally(t *testing.T) {
	rt := router(t)
	rt.CompareLocally()
	r, err := rt.Route("select distinct status from t_order order by status", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := units(r); strings.Contains(got, "WEIGHT_STRING") || len(r.Merge.Weights) != 0 {
		t.Fatalf("weights with CompareLocally: %s %+v", got, r.Merge.Weights)
	}
}

// A planner bug met by some input fails that statement, with ErrRoute,
// and the process lives (the driver runs inside the application).
func TestRoutePanicIsAnError(t *testing.T) {
	rt := router(t)
	rt.tables["t_order"].Nodes = nil // a broken rule: routing indexes past it
	r, err := rt.Route("select * from t_order where user_id = 1 and order_id = 2", nil)
	if r != nil || !errors.Is(err, ErrRoute) || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("Route on a broken rule: %v, %v", r, err)
	}
}

func TestRouteRefuses(t *testing.T) {
	rt := router(t)
	for _, tc := range []struct{ sql, want string }{
		{"select status from t_order having status = 'a'", "HAVING without GROUP BY"},
		{"select status, count(*) from t_order group by status having count(*) > user_id", "compare an aggregate or grouped column with a literal"},
		{"select status, count(*) from t_order group by status having user_id = 1", "HAVING on user_id"},
		{"select status, count(*) from t_order group by status having count(distinct user_id) > 1", "HAVING on count(distinct user_id)"},
		{"select status, count(*) from t_order group by status having count(*) like '1%'", "HAVING … like"},
		{"select count(distinct status, user_id) from t_order", "one expression in DISTINCT"},
		{"select avg(distinct amount) from t_order", "AVG(DISTINCT …)"},
		{"select group_concat(status) from t_order", "over several data nodes (only COUNT"},
		{"select order_id, row_number() over (order by order_id) from t_order", "window functions"},
		{"select count(*) from t_order group by upper(status)", "GROUP BY an expression"},
		{"select status, count(*) from t_order group by status order by user_id", "neither selected nor grouped by"},
		{"select * from t_order group by status", "SELECT * with GROUP BY"},
		{"select distinct count(*) from t_order", "DISTINCT with aggregates"},
		{"select * from t_order where order_id in (select order_id from t_order_item)", "in a statement over several data nodes: correlate it"},
		{"select * from t_order o where exists (select 1 from t_order_item i where i.order_id = o.order_id)", "in a statement over several data nodes: correlate it"},
		{"select o.order_id, (select max(qty) from t_order_item i where i.order_id = o.order_id and i.user_id = o.user_id) m from t_order o order by m", "a subquery as a merge key"},
		{"select * from t_order o join t_user u on o.user_id = u.id", "not binding tables"},
		{"select * from t_order o join plain p on o.user_id = p.id", "plain has no table rule"},
		{"select * from t_order limit 900, 200", "above the bound of 1000"},
		{"insert into t_order values (1, 2)", "needs a column list"},
		{"insert into t_order (order_id, status) values (1, 'a')", "no value for sharding column user_id"},
		{"insert into t_order (user_id, status) values (now(), 'a')", "needs a literal value"},
		{"update t_order set user_id = 2 where user_id = 1 and order_id = 2", "moves the row from ms_1.t_order_0 to ms_0"},
		{"update t_order set user_id = 2 where order_id = 2", "rows of several data nodes"},
		{"delete from t_order limit 1", "ORDER BY or LIMIT over several"},
		{"select * from db.t_order where user_id = 1", "database-qualified"},
		{"select t_order.t_order from t_order", "also something else"},
		{"select * from t_order /*!50000 where user_id = 1 */", "executable comments"},
		{"select * from t_order wher user_id = 1 and", "cannot parse"},
		// The tokenizer panics on "/*!*/"; the statement is refused, not
		// sent unsharded, and the process lives (FuzzRoute found it).
		{"/*!*/ select * from t_order", "executable comments"},
		{"select * from t_order /*!*/", "executable comments"},
		{"/*!*/ select * from T_ORDER", "executable comments"},
		{"select status from t_order order by length(status)", "ORDER BY an expression"},
		{"select *, length(status) from t_order order by 2", "an item after *"},
		{"select * from t_order where user_id = 1 and order_id = 2 and status in (select status from t_order_item)", "does not route to the statement's one data node"},
		{"select * from t_order where user_id = 1 and order_id = 2 and status in (select status from t_order_item where user_id = 2 and order_id = 2)", "does not route to the statement's one data node"},
		{"select * from t_order where user_id = 1 and order_id = 2 and exists (select 1 from t_order_item where user_id = 1 and order_id = 2 union select 1 from t_config)", "UNION"},
		{"select * from t_order where user_id = 1 and order_id = 2 and status in (select status from t_log where id = 1)", "not binding tables"},
		{"delete from t_order where user_id = 1 and order_id in (select order_id from t_order_item where user_id = 1)", "in a statement over several data nodes"},
		{"update t_config set v = 'x' where k in (select status from t_order where user_id = 1 and order_id = 2)", "in a write on tables without sharding"},
		{"insert into t_order (user_id, order_id, status) values (1, 2, (select max(status) from t_config))", "subqueries in INSERT"},
		{"select * from t_order o where o.user_id = 1 and o.order_id = 2 and exists (select 1 from t_order_item o where o.user_id = 1 and o.order_id = 2)", "the alias o names both"},
		{"select * from t_config where k in (select status from t_order where user_id = 1 and order_id = 2)", "in a statement on tables without sharding"},
		{"insert into t_order_item (item_id, order_id, user_id) select order_id + 1, order_id + 1, user_id from t_order", "must be filled with t_order.order_id itself"},
		{"insert into t_order_item (item_id, order_id) select order_id, order_id from t_order", "no value for sharding column user_id"},
		{"insert into t_order (user_id, status) select user_id, status from t_order_item", "cannot generate its order_id keys"},
		{"insert into t_order_item (item_id, order_id, user_id) select max(order_id), order_id, user_id from t_order group by order_id, user_id", "GROUP BY, aggregates"},
		{"insert into t_order_item (item_id, order_id, user_id) select id, id, id from t_log", "not binding tables"},
		{"insert into t_config (k, v) select status, status from t_order", "into t_config from sharded tables"},
		{"insert into t_order_item (item_id, order_id, user_id) select k, k, k from t_config", "from tables without sharding"},
		{"alter table t_log rename to t_log_new", "ALTER TABLE … RENAME of a sharded"},
		{"rename table plain to t_log", "RENAME on sharded"},
		{"drop table t_log, t_order", "DDL naming sharded tables t_log and t_order, which are not binding tables"},
		{"drop table t_order, t_config", "a sharded and a broadcast table"},
		{"create table t_new like t_log", "t_new has no table rule"},
		{"create view v as select * from t_order", "views over sharded or broadcast tables"},
	} {
		_, err := rt.Route(tc.sql, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.sql, err, tc.want)
		}
		if err != nil && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrRoute) {
			t.Errorf("%s: %v is neither ErrUnsupported nor ErrRoute", tc.sql, err)
		}
	}
}

// A text the tokenizer cannot read that names no rule table runs as
// without sharding (the default data source answers it, errors included).
func TestRouteUntokenizable(t *testing.T) {
	rt := router(t)
	for _, sql := range []string{"/*!*/", "/*!*/ select 1", "select 'unterminated"} {
		if r, err := rt.Route(sql, nil); r != nil || err != nil {
			t.Errorf("%q: %v, %v; want no route", sql, r, err)
		}
	}
}

// BenchmarkRoutePointSelect: the plan (tokenise, parse, route, rewrite)
// of a point select on a sharded table.
func BenchmarkRoutePointSelect(b *testing.B) {
	c, err := config.Parse([]byte(ruleYAML))
	if err != nil {
		b.Fatal(err)
	}
	keys, _ := NewSnowflake(1)
	rt, err := New(c.ShardingRule, 1000, keys)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := rt.Route("SELECT c FROM t_order WHERE user_id = 5003 AND order_id = 17", nil)
		if err != nil || len(r.Units) != 1 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkRouteUnsharded: what a statement on no rule table costs in a
// sharded config (the tokeniser's scan only).
func BenchmarkRouteUnsharded(b *testing.B) {
	c, err := config.Parse([]byte(ruleYAML))
	if err != nil {
		b.Fatal(err)
	}
	keys, _ := NewSnowflake(1)
	rt, _ := New(c.ShardingRule, 1000, keys)
	b.ReportAllocs()
	for b.Loop() {
		if r, err := rt.Route("SELECT c FROM sbtest1 WHERE id = 5003", nil); err != nil || r != nil {
			b.Fatal(r, err)
		}
	}
}

// Cached statements are shared by concurrent sessions: routing the same
// texts (points with other keys, merges with hidden columns) at once gives
// every one its own correct plan, with no data race (go test -race).
func TestRouteConcurrent(t *testing.T) {
	rt := router(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				u := (g + i) % 8
				r, err := rt.Route(fmt.Sprintf("SELECT status FROM t_order o WHERE o.user_id = %d AND o.order_id = %d", u, i), nil)
				if err != nil || len(r.Units) != 1 || r.Units[0].Target != fmt.Sprintf("ms_%d", u%2) ||
					!strings.Contains(r.Units[0].SQL, fmt.Sprintf("t_order_%d o WHERE o.user_id = %d AND o.order_id = %d", i%2, u, i)) {
					t.Errorf("point %d/%d: %v %v", u, i, r, err)
					return
				}
				r, err = rt.Route(fmt.Sprintf("SELECT status FROM t_order WHERE user_id = %d ORDER BY t_order.order_id LIMIT 2, 3", u), nil)
				if err != nil || len(r.Units) != 2 || !strings.Contains(r.Units[1].SQL, "status, t_order_1.order_id FROM t_order_1") {
					t.Errorf("merge %d: %+v %v", u, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The fast scanner and the vitess tokenizer read the same out of random
// texts made of SQL's pieces (words, rule tables in any case and quoted,
// numbers, strings, operators, punctuation, spaces).
func TestScanFastMatchesVitess(t *testing.T) {
	rt := router(t)
	pieces := []string{"select", "from", "where", "and", "or", "t_order", "T_Order", "`t_order`", "t_order_item", "t_config", "status",
		"user_id", "order_id", "o", ".", ",", "(", ")", "*", "=", "<", ">", "<=", ">=", "<>", "!=", "<=>", "-", "+", "/", "%", "?",
		"1", "42", "007", "99999999999999999999", "'a'", "''", "'x y'", "in", "between", "BETWEEN", "AnD", "limit", "not", "null", "is", " ", "\n", "\t"}
	rnd := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for range 200_000 {
		var b strings.Builder
		for range 1 + rnd.IntN(12) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
			if rnd.IntN(3) > 0 {
				b.WriteByte(' ')
			}
		}
		sql := b.String()
		for _, norm := range []bool{true, false} {
			toks, named, key, lits, ok := rt.scanFast(sql, norm)
			if !ok {
				continue
			}
			fast++
			vt, vn, vk, vl := rt.scanVitess(sql, norm)
			if !reflect.DeepEqual(toks, vt) || named != vn || key != vk || !reflect.DeepEqual(lits, vl) {
				t.Fatalf("%q (normalize %v): fast %v %v %q %v, vitess %v %v %q %v", sql, norm, toks, named, key, lits, vt, vn, vk, vl)
			}
		}
	}
	t.Logf("%d of 400,000 readings taken by the fast scanner", fast)
	if fast < 100_000 {
		t.Errorf("the fast scanner took only %d readings", fast)
	}
}

// Rule tables named like keywords are left to the vitess tokenizer.
func TestKeywordNames(t *testing.T) {
	k := keywordNames([]string{"t_order", "status", "user", "table"})
	if k["t_order"] || !k["table"] {
		t.Fatalf("%v", k)
	}
	t.Logf("read as keywords: %v", k)
}

// INTERVAL routes a datetime to the table of its month, prunes ranges to
// the months they meet, and refuses values outside its bounds on INSERT.
func TestRouteInterval(t *testing.T) {
	rt := router(t)
	ts := func(y, m, d, h int) time.Time { return time.Date(y, time.Month(m), d, h, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		sql  string
		args []any
		want string
	}{
		{"select * from t_event where user_id = 1 and created = '2024-02-29 23:59:59'", nil, "ms_1: select * from t_event_202402 where user_id = 1 and created = '2024-02-29 23:59:59'"},
		{"select * from t_event where user_id = 1 and created = '2024-03-01'", nil, "ms_1: select * from t_event_202403 where user_id = 1 and created = '2024-03-01'"},
		{"select * from t_event where user_id = ? and created = ?", []any{int64(2), ts(2024, 1, 31, 12)}, "ms_0: select * from t_event_202401 where user_id = ? and created = ?"},
		{"select * from t_event where user_id = 2 and created between '2024-02-15' and '2024-03-10'", nil,
			"ms_0: select * from t_event_202402 where user_id = 2 and created between '2024-02-15' and '2024-03-10'\nms_0: select * from t_event_202403 where user_id = 2 and created between '2024-02-15' and '2024-03-10'"},
		{"select * from t_event where user_id = 2 and created >= '2024-04-02 10:00:00'", nil, "ms_0: select * from t_event_202404 where user_id = 2 and created >= '2024-04-02 10:00:00'"},
		{"select * from t_event where user_id = 2 and created < ?", []any{ts(2024, 2, 1, 0)}, "ms_0: select * from t_event_202401 where user_id = 2 and created < ?"},
		{"select * from t_event where user_id = 2 and created > '2030-01-01'", nil, "ms_0: select * from t_event_202401 where user_id = 2 and created > '2030-01-01'"}, // no row anywhere: one node answers none
		{"insert into t_event (user_id, created, v) values (1, '2024-04-30 23:59:59', 'a'), (2, '2024-01-01', 'b')", nil,
			"ms_1: insert into t_event_202404(user_id, created, v) values (1, '2024-04-30 23:59:59', 'a')\nms_0: insert into t_event_202401(user_id, created, v) values (2, '2024-01-01', 'b')"},
	} {
		r, err := rt.Route(tc.sql, tc.args)
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		if got := units(r); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.sql, got, tc.want)
		}
	}
	// No created: every month of the group.
	r, err := rt.Route("select * from t_event where user_id = 3", nil)
	if err != nil || len(r.Units) != 4 {
		t.Errorf("no created: %v %v", r, err)
	}
	for _, tc := range []struct{ sql, want string }{
		{"insert into t_event (user_id, created) values (1, '2023-12-31 23:59:59')", "outside datetimeLower..datetimeUpper"},
		{"insert into t_event (user_id, created) values (1, 'soon')", "INTERVAL needs a datetime created"},
		{"insert into t_event (user_id, created) values (1, 5)", "INTERVAL needs a datetime created"},
	} {
		if _, err := rt.Route(tc.sql, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.sql, err, tc.want)
		}
	}
}

// An INTERVAL strategy's props are checked when the rule compiles, each
// error naming its key.
func TestIntervalProps(t *testing.T) {
	base := map[string]string{"datetimeLower": "2024-01-01 00:00:00", "datetimeUpper": "2024-12-31 23:59:59", "shardingSuffixPattern": "yyyyMM", "intervalUnit": "MONTHS"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	iv, err := compileInterval("p", base)
	if err != nil || len(iv.starts) != 12 || iv.suffixes[11] != "202412" {
		t.Fatalf("%v %v", iv, err)
	}
	m := with("datetimePattern", "yyyy/MM/dd")
	m["datetimeLower"], m["datetimeUpper"], m["intervalUnit"], m["intervalAmount"], m["shardingSuffixPattern"] = "2024/01/01", "2024/01/31", "DAYS", "7", "yyyyMMdd"
	if iv, err = compileInterval("p", m); err != nil || strings.Join(iv.suffixes, ",") != "20240101,20240108,20240115,20240122,20240129" {
		t.Errorf("weeks of days: %v %v", iv, err)
	}
	for k, v := range map[string]string{
		"datetimeLower":         "yesterday",
		"datetimeUpper":         "2023-01-01",
		"intervalUnit":          "FORTNIGHTS",
		"intervalAmount":        "0",
		"shardingSuffixPattern": "yyyyQQ",
		"datetimePattern":       "EEE",
	} {
		if _, err := compileInterval("p", with(k, v)); err == nil || !strings.Contains(err.Error(), "p.standard.props."+k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if _, err := compileInterval("p", with("intervalUnit", "SECONDS")); err == nil || !strings.Contains(err.Error(), "more than 100000 intervals") {
		t.Errorf("a year of seconds: %v", err)
	}
}

// Hint strategies route by the statement's SHARDINGSPHERE_HINT comment:
// per table or for every table, database and table values apart; without
// a hint a read runs on every node and an INSERT is refused.
func TestRouteHint(t *testing.T) {
	rt := router(t)
	for _, tc := range []struct{ sql, want string }{
		{"/* SHARDINGSPHERE_HINT: t_hint.SHARDING_DATABASE_VALUE=1, t_hint.SHARDING_TABLE_VALUE=2 */ select * from t_hint",
			"ms_1: /* SHARDINGSPHERE_HINT: t_hint.SHARDING_DATABASE_VALUE=1, t_hint.SHARDING_TABLE_VALUE=2 */ select * from t_hint_0"},
		{"select * from t_hint where id = 5 /* shardingsphere_hint: SHARDING_DATABASE_VALUE = 0 */",
			"ms_0: select * from t_hint_0 where id = 5 /* shardingsphere_hint: SHARDING_DATABASE_VALUE = 0 */\nms_0: select * from t_hint_1 where id = 5 /* shardingsphere_hint: SHARDING_DATABASE_VALUE = 0 */"},
		{"/* SHARDINGSPHERE_HINT: t_hint.SHARDING_DATABASE_VALUE=3, t_hint.SHARDING_TABLE_VALUE=3 */ insert into t_hint (id, v) values (1, 'a'), (2, 'b')",
			"ms_1: /* SHARDINGSPHERE_HINT: t_hint.SHARDING_DATABASE_VALUE=3, t_hint.SHARDING_TABLE_VALUE=3 */ insert into t_hint_1 (id, v) values (1, 'a'), (2, 'b')"},
		{"/* SHARDINGSPHERE_HINT: SHARDING_DATABASE_VALUE=0, SHARDING_TABLE_VALUE=1 */ update t_hint set v = 'x' where id = 1",
			"ms_0: /* SHARDINGSPHERE_HINT: SHARDING_DATABASE_VALUE=0, SHARDING_TABLE_VALUE=1 */ update t_hint_1 set v = 'x' where id = 1"},
		// A hint for another table leaves this one unrouted: every node.
		{"/* SHARDINGSPHERE_HINT: t_other.SHARDING_DATABASE_VALUE=1 */ select count(*) from t_hint",
			"ms_0: /* SHARDINGSPHERE_HINT: t_other.SHARDING_DATABASE_VALUE=1 */ select count(*) from t_hint_0\nms_0: /* SHARDINGSPHERE_HINT: t_other.SHARDING_DATABASE_VALUE=1 */ select count(*) from t_hint_1\nms_1: /* SHARDINGSPHERE_HINT: t_other.SHARDING_DATABASE_VALUE=1 */ select count(*) from t_hint_0\nms_1: /* SHARDINGSPHERE_HINT: t_other.SHARDING_DATABASE_VALUE=1 */ select count(*) from t_hint_1"},
	} {
		r, err := rt.Route(tc.sql, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		if got := units(r); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.sql, got, tc.want)
		}
	}
	for _, tc := range []struct{ sql, want string }{
		{"insert into t_hint (id) values (1)", "needs a sharding hint"},
		{"/* SHARDINGSPHERE_HINT: t_hint.SHARDING_DATABASE_VALUE=1 */ insert into t_hint (id) values (1)", "SHARDING_TABLE_VALUE"},
		{"/* SHARDINGSPHERE_HINT: SHARDING_DATABASE_VALUE=abc, SHARDING_TABLE_VALUE=1 */ insert into t_hint (id) values (1)", "databaseStrategy: ms_${value % 2}"},
	} {
		if _, err := rt.Route(tc.sql, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.sql, err, tc.want)
		}
	}
	// An expression reading anything but ${value} is a rule error.
	c, err := config.Parse([]byte(strings.Replace(ruleYAML, "'ms_${value % 2}'", "'ms_${id % 2}'", 1)))
	if err == nil {
		keys, _ := NewSnowflake(1)
		_, err = New(c.ShardingRule, 10, keys)
	}
	if err == nil || !strings.Contains(err.Error(), "t_hint.databaseStrategy.hint.algorithmExpression") {
		t.Errorf("hint expression on a column: %v", err)
	}
}

// A cached point read routes by its values alone (point.route) from its
// second execution on; that must give the full plan's route for every
// statement and value, and leave the others to the full plan.
func TestPointRouteMatchesFullPlan(t *testing.T) {
	shapes := []string{
		"SELECT c FROM t_order WHERE user_id = %v AND order_id = %v",
		"SELECT c FROM t_order WHERE (order_id = %v) AND user_id = %v AND status = 'x'",
		"SELECT c FROM t_order o WHERE o.user_id = %v AND o.order_id = %v FOR UPDATE",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id IN (%v, 3)",
		"SELECT c FROM t_order WHERE user_id = %v OR order_id = %v",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id > %v",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id = %v AND order_id = 4",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id = %v + 1",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id = %v AND order_id > 1",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id = %v AND (user_id = 3 OR status = 'x')",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id = %v AND user_id IN (2, 4)",
		"SELECT c FROM t_order WHERE user_id = %v AND status = %v",
		"SELECT COUNT(*) FROM t_order WHERE user_id = %v AND order_id = %v GROUP BY status",
		"SELECT o.c FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id WHERE o.user_id = %v AND o.order_id = %v",
		"SELECT c FROM t_order_item WHERE user_id = %v AND order_id = %v",
		"SELECT c FROM t_user WHERE name = %v AND id = %v",
		"SELECT c FROM t_log WHERE id = %v AND k = %v",
		"SELECT c FROM t_event WHERE user_id = %v AND created = %v",
		"SELECT c FROM t_hint WHERE id = %v AND k = %v",
		"SELECT c FROM t_order WHERE user_id = %v AND order_id = %v /* c */",
		"SELECT c FROM t_log WHERE id BETWEEN %v AND %v",
		"SELECT c FROM t_order WHERE user_id BETWEEN %v AND %v AND order_id = 3",
		"SELECT c FROM t_order WHERE user_id NOT BETWEEN %v AND %v",
	}
	vals := []string{"0", "1", "2", "7", "-3", "'5'", "'abc'", "99999999999999999999", "'2024-02-03 10:00:00'", "NULL", "150"}
	rng := rand.New(rand.NewPCG(1, 2))
	fresh := router(t)
	warm := router(t)
	for range 4000 {
		shape := shapes[rng.IntN(len(shapes))]
		a, b := vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]
		sql := fmt.Sprintf(shape, a, b)
		// warm has planned the shape before, with other values.
		warm.Route(fmt.Sprintf(shape, vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]), nil)
		full, ferr := fresh.Route(sql, nil)
		fresh.cache.Clear()
		fresh.cached.Store(0)
		got, gerr := warm.Route(sql, nil)
		if fmt.Sprint(ferr) != fmt.Sprint(gerr) || fmt.Sprintf("%+v", full) != fmt.Sprintf("%+v", got) {
			t.Fatalf("%s:\n full plan %+v, %v\n cached    %+v, %v", sql, full, ferr, got, gerr)
		}
		// Prepared: the values as parameters.
		q := fmt.Sprintf(shape, "?", "?")
		args := []any{argOf(a), argOf(b)}
		full, ferr = fresh.Route(q, args)
		fresh.cache.Clear()
		fresh.cached.Store(0)
		got, gerr = warm.Route(q, args)
		if fmt.Sprint(ferr) != fmt.Sprint(gerr) || fmt.Sprintf("%+v", full) != fmt.Sprintf("%+v", got) {
			t.Fatalf("%s %v:\n full plan %+v, %v\n cached    %+v, %v", q, args, full, ferr, got, gerr)
		}
	}
	var points int
	warm.cache.Range(func(_, v any) bool {
		if v.(*parsed).point.Load() != nil {
			points++
		}
		return true
	})
	if points < 6 {
		t.Fatalf("%d cached statements take the point route; want the plain point reads to", points)
	}
}

func argOf(lit string) any {
	switch {
	case lit == "NULL":
		return nil
	case lit[0] == '\'':
		return lit[1 : len(lit)-1]
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return lit
	}
	return n
}

// BETWEEN's literal operands are parameters of the cache key: range reads
// of other bounds share one parsed statement (and do not fill the cache).
func TestBetweenSharesCacheEntry(t *testing.T) {
	rt := router(t)
	for lo := range 50 {
		r, err := rt.Route(fmt.Sprintf("SELECT c FROM t_log WHERE id BETWEEN %d AND %d", lo, lo+99), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := 2 // t_log_0 (id < 100) and t_log_1 (100 ≤ id < 200)
		if lo == 0 {
			want = 1
		}
		if len(r.Units) != want {
			t.Fatalf("BETWEEN %d AND %d: %d units, want %d", lo, lo+99, len(r.Units), want)
		}
	}
	if r, _ := rt.Route("SELECT c FROM t_log WHERE id BETWEEN 100 AND 150", nil); len(r.Units) != 1 || !strings.Contains(r.Units[0].SQL, "t_log_1") {
		t.Fatalf("BETWEEN 100 AND 150: %+v", r)
	}
	if n := rt.cached.Load(); n != 1 {
		t.Fatalf("%d cache entries for one shape", n)
	}
}

// A full statement cache starts over, so a shape first seen after it
// filled is still cached.
func TestCacheStartsOverWhenFull(t *testing.T) {
	rt := router(t)
	for i := range maxPlanCache + 10 {
		if _, err := rt.Route(fmt.Sprintf("SELECT c FROM t_order WHERE order_id IN (%d, %d)", i, i+1), nil); err != nil {
			t.Fatal(err)
		}
	}
	q := "SELECT c FROM t_order_item WHERE user_id = 3 AND order_id = 4"
	rt.Route(q, nil)
	key := "SELECT c FROM t_order_item WHERE user_id = ? AND order_id = ?"
	if _, ok := rt.cache.Load(key); !ok {
		t.Fatalf("a new shape is not cached after the cache filled (%d entries)", rt.cached.Load())
	}
	if n := rt.cached.Load(); n > maxPlanCache {
		t.Fatalf("%d entries, bound %d", n, maxPlanCache)
	}
}
