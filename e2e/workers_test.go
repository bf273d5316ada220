package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/driver"
	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"github.com/shardgate/shardgate/orchestration"
)

// Four instances, three proxy processes and an embedded driver (one per
// process and orchestration), insert
// 250,000 rows each at once into a sharded table whose key is generated:
// 1,000,000 distinct keys, from four worker ids claimed in one etcd, each
// row in the actual table its key routes to.
func TestWorkerIDsAcrossInstances(t *testing.T) {
	// A server of its own, without slaves: a million rows need not be
	// replicated to the shared ones.
	m := testenv.StartReplication(t, 0).Master
	m.Exec(t, "CREATE DATABASE wk",
		"CREATE TABLE wk.t_key_0 (id BIGINT PRIMARY KEY, src TINYINT NOT NULL)",
		"CREATE TABLE wk.t_key_1 (id BIGINT PRIMARY KEY, src TINYINT NOT NULL)")
	env := orchenv.Etcd(t, "workers")
	conf := func(listen string) string {
		return fmt.Sprintf(`%s
users: [{name: %s, password: %s}]
dataSources:
  k0: {url: "%s", username: root, password: %s, database: wk}
shardingRule:
  tables:
    t_key:
      actualDataNodes: k0.t_key_${0..1}
      tableStrategy: {inline: {shardingColumn: id, algorithmExpression: 't_key_${id %% 2}'}}
      keyGenerator: {type: SNOWFLAKE, column: id}
  defaultDataSourceName: k0
props: {maxAllowedPacket: 16777216}
orchestration:
  name: workers
  overwrite: true
  instanceIP: 127.0.0.1
  registry: %s
`, listen, user, password, m.Addr(), testenv.RootPassword, env.YAML)
	}
	reg := env.Client(t)
	var dbs []*sql.DB
	for range 3 {
		p := startProxy(t, env, conf(fmt.Sprintf("listen: 127.0.0.1:%d", freePort(t))), reg)
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/wk", user, password, p.addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	f, err := orchestration.ParseFile([]byte(conf("")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnectorContext(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	ddb := sql.OpenDB(c)
	t.Cleanup(func() { ddb.Close() })
	dbs = append(dbs, ddb)
	const per, batch = 250000, 1000
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, db := range dbs {
		rows := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("(%d),", i), batch), ",")
		wg.Go(func() {
			for range per / batch {
				if _, err := db.ExecContext(context.Background(), "INSERT INTO t_key (src) VALUES "+rows); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	t.Logf("%d rows inserted by %d instances in %v", per*len(dbs), len(dbs), time.Since(start).Round(time.Millisecond))
	db := m.DB(t, "wk")
	var n, distinct, workers, misplaced int
	all := "(SELECT id, src FROM t_key_0 UNION ALL SELECT id, src FROM t_key_1) k"
	if err := db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT id), COUNT(DISTINCT (id >> 12) & 1023) FROM "+all).Scan(&n, &distinct, &workers); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT (SELECT COUNT(*) FROM t_key_0 WHERE id % 2 <> 0) + (SELECT COUNT(*) FROM t_key_1 WHERE id % 2 <> 1)").Scan(&misplaced); err != nil {
		t.Fatal(err)
	}
	if n != per*len(dbs) || distinct != n || workers != len(dbs) || misplaced != 0 {
		t.Fatalf("%d rows, %d distinct keys, %d worker ids, %d rows on the wrong table; want %d, %d, %d, 0", n, distinct, workers, misplaced, per*len(dbs), per*len(dbs), len(dbs))
	}
	// One worker id per instance: no two instances share one.
	var pairs int
	if err := db.QueryRow("SELECT COUNT(DISTINCT src, (id >> 12) & 1023) FROM " + all).Scan(&pairs); err != nil {
		t.Fatal(err)
	}
	if pairs != len(dbs) {
		t.Fatalf("%d (instance, worker id) pairs, want %d", pairs, len(dbs))
	}
	kids, err := reg.Children(t.Context(), orchestration.WorkersDir)
	if err != nil || len(kids) != len(dbs) {
		t.Fatalf("worker nodes %v (%v), want %d", kids, err, len(dbs))
	}
}
