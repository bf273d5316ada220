package config

import (
	"strings"
	"testing"
)

const shardingYAML = `
users: [{name: app, password: x}]
dataSources:
  m0: {url: "127.0.0.1:3306", username: r}
  s0: {url: "127.0.0.1:3307", username: r}
  m1: {url: "127.0.0.1:3308", username: r}
  s1: {url: "127.0.0.1:3309", username: r}
shardingRule:
  tables:
    t_order:
      actualDataNodes: ms_ds_${0..1}.t_order_${0..1}
      databaseStrategy:
        inline:
          shardingColumn: user_id
          algorithmExpression: ms_ds_${user_id % 2}
      tableStrategy:
        inline:
          shardingColumn: order_id
          algorithmExpression: t_order_${order_id % 2}
      keyGenerator: {type: snowflake, column: order_id}
    t_order_item:
      actualDataNodes: ms_ds_${0..1}.t_order_item_${0..1}
      tableStrategy:
        standard: {shardingColumn: order_id, algorithm: MOD, props: {shardingCount: "2"}}
  bindingTables:
    - t_order,t_order_item
  broadcastTables: [t_config]
  defaultDataSourceName: ms_ds_0
  defaultDatabaseStrategy:
    none:
  masterSlaveRules:
    ms_ds_0: {masterDataSourceName: m0, slaveDataSourceNames: [s0]}
    ms_ds_1: {masterDataSourceName: m1, slaveDataSourceNames: [s1], loadBalanceAlgorithmType: random}
`

// ShardingSphere's YAML shape parses and validates; data nodes expand, the
// expressions compile and evaluate.
func TestShardingRule(t *testing.T) {
	c, err := Parse([]byte(shardingYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := c.ShardingRule
	o := r.Tables["t_order"]
	if len(o.Nodes) != 4 || o.Nodes[3] != (DataNode{"ms_ds_1", "t_order_1"}) {
		t.Fatalf("nodes %v", o.Nodes)
	}
	got, err := o.TableStrategy.Inline.Algorithm.Eval(map[string]any{"order_id": int64(7)})
	if err != nil || got != "t_order_1" {
		t.Fatalf("table of order 7: %q %v", got, err)
	}
	if r.DefaultDatabaseStrategy.None == nil || o.KeyGenerator.Type != "SNOWFLAKE" || r.MasterSlaveRules["ms_ds_1"].LoadBalanceAlgorithmType != Random {
		t.Fatalf("defaults: %+v %+v", r.DefaultDatabaseStrategy, o.KeyGenerator)
	}
}

// Every mistake is reported with its key path, all at once.
func TestShardingRuleErrors(t *testing.T) {
	for _, tc := range []struct{ old, new, want string }{
		{"ms_ds_${0..1}.t_order_${0..1}", "ms_ds_${0..2}.t_order_${0..1}", `shardingRule.tables.t_order.actualDataNodes: "ms_ds_2.t_order_0": unknown master/slave group "ms_ds_2"`},
		{"ms_ds_${0..1}.t_order_${0..1}", "ms_ds_${0..1", "shardingRule.tables.t_order.actualDataNodes: inline expression"},
		{"algorithmExpression: t_order_${order_id % 2}", "algorithmExpression: t_order_${orderid % 2}", `shardingRule.tables.t_order.tableStrategy.inline.algorithmExpression: reads "orderid", but the sharding column is "order_id"`},
		{"algorithmExpression: t_order_${order_id % 2}", "algorithmExpression: t_order_${order_id.hashCode() % 2}", "method calls"},
		{"algorithm: MOD, props: {shardingCount: \"2\"}", "algorithm: MODULO", `shardingRule.tables.t_order_item.tableStrategy.standard.algorithm: want MOD, HASH_MOD, RANGE or INTERVAL, got "MODULO"`},
		{"{type: snowflake, column: order_id}", "{type: uuid, column: order_id}", `shardingRule.tables.t_order.keyGenerator.type: want SNOWFLAKE, got "UUID"`},
		{"- t_order,t_order_item", "- t_order,t_nope", `shardingRule.bindingTables[0]: "t_nope" has no table rule`},
		{"broadcastTables: [t_config]", "broadcastTables: [t_order]", `"t_order" also has a table rule`},
		{"defaultDataSourceName: ms_ds_0", "defaultDataSourceName: m0", `shardingRule.defaultDataSourceName: unknown master/slave group "m0"`},
		{"ms_ds_1: {masterDataSourceName: m1", "ms_ds_1: {masterDataSourceName: m0", `shardingRule.masterSlaveRules.ms_ds_1.masterDataSourceName: data source "m0" is already in group ms_ds_0`},
		{"    none:\n", "    none:\n    inline: {shardingColumn: a, algorithmExpression: 'ds_${a}'}\n", "set exactly one strategy kind, got inline and none"},
		{"        inline:\n          shardingColumn: user_id", "        inlined:\n          shardingColumn: user_id", `unknown sharding strategy "inlined"`},
		{"shardingColumn: user_id", "shardingColumn: user_id\n          shardingColum: x", "field shardingColum not found"},
	} {
		y := strings.Replace(shardingYAML, tc.old, tc.new, 1)
		if y == shardingYAML {
			t.Fatalf("%q not in the YAML", tc.old)
		}
		_, err := Parse([]byte(y))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s → %s: %v\nwant %s", tc.old, tc.new, err, tc.want)
		}
	}
}
