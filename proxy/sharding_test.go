package proxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/internal/testenv"
)

// shardEnv is a proxy sharding t_order (and its binding table
// t_order_item) over two master/slave groups, with t_config broadcast,
// and an unsharded database with the same tables and rows: the oracle.
type shardEnv struct {
	*proxyEnv
	db     *sql.DB // through the proxy
	oracle *sql.DB // one unsharded MariaDB database
}

const shardTables = `
CREATE TABLE t_order (order_id BIGINT PRIMARY KEY, user_id INT NOT NULL, status VARCHAR(16), amount DECIMAL(10,2), KEY idx_user (user_id))
CREATE TABLE t_order_item (item_id INT PRIMARY KEY, order_id BIGINT NOT NULL, user_id INT NOT NULL, qty INT)
CREATE TABLE t_config (k VARCHAR(16) PRIMARY KEY, v VARCHAR(64))
CREATE TABLE t_event (id INT PRIMARY KEY, user_id INT NOT NULL, created DATETIME(3) NOT NULL, v VARCHAR(16))
CREATE TABLE t_hint (id INT PRIMARY KEY, v VARCHAR(16))
CREATE TABLE plain (id INT PRIMARY KEY, v VARCHAR(16))`

func startShards(t testing.TB) *shardEnv {
	t.Helper()
	r := harness(t)
	r.Master.Exec(t,
		"DROP DATABASE IF EXISTS sh0", "DROP DATABASE IF EXISTS sh1", "DROP DATABASE IF EXISTS shoracle",
		"CREATE DATABASE sh0", "CREATE DATABASE sh1", "CREATE DATABASE shoracle")
	for _, ddl := range strings.Split(strings.TrimSpace(shardTables), "\n") {
		r.Master.Exec(t, "USE shoracle", ddl)
	}
	r.Sync(t)
	pw := testenv.RootPassword
	ds := func(name string, m *testenv.MariaDB, db string) string {
		return fmt.Sprintf("  %s: {url: %q, username: root, password: %s, database: %s, healthCheckInterval: 100ms, connectTimeout: 1s}\n", name, m.Addr(), pw, db)
	}
	y := fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}]
dataSources:
%s%s%s%s%s
shardingRule:
  tables:
    t_order:
      actualDataNodes: ms_${0..1}.t_order_${0..1}
      databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id %% 2}'}}
      tableStrategy: {inline: {shardingColumn: order_id, algorithmExpression: 't_order_${order_id %% 2}'}}
      keyGenerator: {type: SNOWFLAKE, column: order_id}
    t_order_item:
      actualDataNodes: ms_${0..1}.t_order_item_${0..1}
      databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id %% 2}'}}
      tableStrategy: {standard: {shardingColumn: order_id, algorithm: MOD, props: {shardingCount: "2"}}}
    t_event:
      actualDataNodes: ms_${0..1}.t_event_${['202401','202402','202403']}
      databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id %% 2}'}}
      tableStrategy:
        standard: {shardingColumn: created, algorithm: INTERVAL, props: {datetimeLower: "2024-01-01 00:00:00", datetimeUpper: "2024-03-31 23:59:59.999", shardingSuffixPattern: yyyyMM, intervalUnit: MONTHS}}
    t_hint:
      actualDataNodes: ms_${0..1}.t_hint_${0..1}
      databaseStrategy: {hint: {algorithmExpression: 'ms_${value %% 2}'}}
      tableStrategy: {hint: {algorithmExpression: 't_hint_${value %% 2}'}}
  bindingTables: ["t_order,t_order_item"]
  broadcastTables: [t_config]
  defaultDataSourceName: ms_0
  masterSlaveRules:
    ms_0: {masterDataSourceName: m0, slaveDataSourceNames: [s0]}
    ms_1: {masterDataSourceName: m1, slaveDataSourceNames: [s1]}
props: {readYourWrites: off, shardingMaxRows: 5000}
`, user, password, ds("m0", r.Master, "sh0"), ds("s0", r.Slaves[0], "sh0"), ds("m1", r.Master, "sh1"), ds("s1", r.Slaves[1], "sh1"), ds("spare", r.Master, "sh0"))
	p := startProxyYAML(t, r, y)
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/sh0?interpolateParams=true", user, password, p.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &shardEnv{proxyEnv: p, db: db, oracle: r.Master.DB(t, "shoracle")}
	for _, ddl := range strings.Split(strings.TrimSpace(shardTables), "\n") {
		e.exec(t, ddl)
	}
	return e
}

// exec runs a statement through the proxy.
func (e *shardEnv) exec(t testing.TB, q string, args ...any) sql.Result {
	t.Helper()
	res, err := e.db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

// both runs a write through the proxy and on the oracle; the affected rows
// must agree.
func (e *shardEnv) both(t *testing.T, q string) {
	t.Helper()
	a := e.exec(t, q)
	b, err := e.oracle.Exec(q)
	if err != nil {
		t.Fatalf("oracle: %s: %v", q, err)
	}
	na, _ := a.RowsAffected()
	nb, _ := b.RowsAffected()
	if na != nb {
		t.Fatalf("%s: %d rows affected through shardgate, %d unsharded", q, na, nb)
	}
}

// rowsOf reads a query's rows as text.
func rowsOf(t *testing.T, db *sql.DB, q string, args ...any) ([]string, []string) {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = string(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return cols, out
}

// same checks that a query answers alike through shardgate and unsharded:
// the same columns and rows, in the same order when the query orders them
// totally (ordered), as the same multiset otherwise.
func (e *shardEnv) same(t *testing.T, q string, ordered bool) {
	t.Helper()
	ca, a := rowsOf(t, e.db, q)
	cb, b := rowsOf(t, e.oracle, q)
	if !ordered {
		sort.Strings(a)
		sort.Strings(b)
	}
	if strings.Join(ca, ",") != strings.Join(cb, ",") || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("%s\nshardgate: %v\n%s\nunsharded: %v\n%s", q, ca, strings.Join(a, "\n"), cb, strings.Join(b, "\n"))
	}
}

// sameFolded is same for answers whose text columns may show any member of
// a group of values equal under the collation: rows compare lower-cased,
// trailing spaces dropped, as multisets.
func (e *shardEnv) sameFolded(t *testing.T, q string) {
	t.Helper()
	fold := func(rows []string) string {
		out := make([]string, len(rows))
		for i, r := range rows {
			parts := strings.Split(r, "|")
			for j := range parts {
				parts[j] = strings.ToLower(strings.TrimRight(parts[j], " "))
			}
			out[i] = strings.Join(parts, "|")
		}
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	ca, a := rowsOf(t, e.db, q)
	cb, b := rowsOf(t, e.oracle, q)
	if strings.Join(ca, ",") != strings.Join(cb, ",") || fold(a) != fold(b) {
		t.Errorf("%s\nshardgate: %v\n%s\nunsharded: %v\n%s", q, ca, strings.Join(a, "\n"), cb, strings.Join(b, "\n"))
	}
}

// Statements on sharded tables answer as one unsharded MariaDB does: the
// same rows after the same writes, for point reads, scatter reads, sorted
// and limited reads, aggregates, binding-table joins and broadcast tables.
func TestShardingMatchesUnsharded(t *testing.T) {
	e := startShards(t)
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"new", "paid", "Paid", "shipped", "done "}
	id := 0
	for batch := range 20 {
		var vals, items []string
		for range 1 + batch%5 {
			id++
			user := rng.IntN(7)
			amount := "NULL"
			if rng.IntN(5) > 0 {
				amount = fmt.Sprintf("%d.%02d", rng.IntN(1000), rng.IntN(100))
			}
			vals = append(vals, fmt.Sprintf("(%d, %d, '%s', %s)", id, user, statuses[rng.IntN(len(statuses))], amount))
			items = append(items, fmt.Sprintf("(%d, %d, %d, %d)", id*10, id, user, rng.IntN(9)))
		}
		e.both(t, "INSERT INTO t_order (order_id, user_id, status, amount) VALUES "+strings.Join(vals, ", "))
		e.both(t, "INSERT INTO t_order_item (item_id, order_id, user_id, qty) VALUES "+strings.Join(items, ", "))
	}
	e.both(t, "INSERT INTO t_config (k, v) VALUES ('a', 'x'), ('b', 'y')")
	e.both(t, "UPDATE t_order SET status = 'late' WHERE amount > 900")
	e.both(t, "UPDATE t_order SET amount = amount + 1 WHERE user_id = 3 AND order_id = 7")
	e.both(t, "DELETE FROM t_order WHERE order_id IN (2, 3, 5) OR user_id = 6 AND status = 'new'")
	e.both(t, "UPDATE t_config SET v = 'z' WHERE k = 'b'")
	e.both(t, "INSERT INTO plain VALUES (1, 'p')")
	e.r.Sync(t)

	for _, q := range []string{
		"SELECT * FROM t_order",
		"SELECT order_id, status FROM t_order WHERE user_id = 3",
		"SELECT * FROM t_order WHERE order_id = 7",
		"SELECT * FROM t_order WHERE user_id IN (1, 2) AND order_id IN (1, 2, 3, 4, 10)",
		"SELECT * FROM t_order WHERE user_id = 1 OR order_id BETWEEN 10 AND 20",
		"SELECT * FROM t_order WHERE status = 'paid'",
		"SELECT * FROM t_order WHERE user_id BETWEEN 2 AND 3 AND order_id > 5 AND order_id <= 12",
		"SELECT * FROM t_order WHERE 4 <= user_id AND order_id < 3",
		"SELECT * FROM t_order WHERE user_id > 3 AND user_id < 2",
		"SELECT o.order_id, i.item_id, i.qty FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id AND o.user_id = i.user_id",
		"SELECT o.order_id, c.v FROM t_order o JOIN t_config c ON c.k = 'a' WHERE o.user_id = 4",
		"SELECT * FROM t_config",
		"SELECT * FROM plain",
	} {
		e.same(t, q, false)
	}
	for _, q := range []string{
		"SELECT * FROM t_order ORDER BY order_id",
		"SELECT order_id, amount FROM t_order ORDER BY amount DESC, order_id",
		"SELECT status FROM t_order ORDER BY order_id DESC LIMIT 5",
		"SELECT order_id FROM t_order ORDER BY order_id LIMIT 7, 4",
		"SELECT order_id, status FROM t_order ORDER BY 2, 1 LIMIT 3, 100",
		"SELECT * FROM t_order WHERE user_id = 5 ORDER BY order_id LIMIT 1, 2",
		"SELECT COUNT(*), SUM(amount), MIN(status), MAX(order_id), MIN(amount) FROM t_order",
		"SELECT COUNT(*) AS n, SUM(amount) FROM t_order WHERE user_id IN (1, 3)",
		"SELECT COUNT(*), SUM(amount), MAX(amount) FROM t_order WHERE user_id = 99",
		"SELECT order_id FROM t_order WHERE status = 'none' ORDER BY order_id",
		"SELECT user_id, COUNT(*), SUM(amount), MIN(order_id), MAX(amount), AVG(amount) FROM t_order GROUP BY user_id ORDER BY user_id",
		"SELECT user_id, COUNT(*) AS n FROM t_order GROUP BY user_id ORDER BY n DESC, user_id LIMIT 1, 3",
		"SELECT AVG(amount), COUNT(amount), AVG(order_id) FROM t_order",
		"SELECT AVG(amount) FROM t_order WHERE user_id = 99",
		"SELECT COUNT(*), AVG(o.amount) FROM t_order o GROUP BY o.user_id ORDER BY 2 DESC, 1",
		"SELECT DISTINCT user_id FROM t_order ORDER BY user_id DESC LIMIT 4",
		"SELECT user_id, COUNT(*) AS n FROM t_order GROUP BY user_id HAVING n > 2 OR MAX(amount) > 900 ORDER BY user_id",
		"SELECT user_id, SUM(amount) FROM t_order GROUP BY user_id HAVING AVG(amount) < 500 AND NOT MIN(order_id) = 1 ORDER BY 1 LIMIT 3",
		"SELECT COUNT(*) FROM t_order HAVING COUNT(*) > 1000",
		"SELECT COUNT(*), SUM(amount) FROM t_order HAVING SUM(amount) > 0",
		"SELECT DISTINCT user_id, user_id % 2 AS odd FROM t_order ORDER BY 1",
		"SELECT o.user_id, SUM(i.qty), COUNT(*) FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id AND o.user_id = i.user_id GROUP BY o.user_id ORDER BY o.user_id",
	} {
		e.same(t, q, true)
	}
	// Groups of text under a _ci collation: 'paid' and 'Paid' are one
	// group, shown with either spelling (MariaDB shows whichever it met first).
	for _, q := range []string{
		"SELECT status, COUNT(*), SUM(amount) FROM t_order GROUP BY status",
		"SELECT DISTINCT status FROM t_order",
		"SELECT COUNT(*) FROM t_order GROUP BY status ORDER BY 1",
		"SELECT status, COUNT(*) FROM t_order GROUP BY status HAVING COUNT(*) > 1 AND status <> 'new'",
	} {
		e.sameFolded(t, q)
	}

	// Refused, with ER_NOT_SUPPORTED_YET and what to do.
	for q, want := range map[string]string{
		"SELECT status, COUNT(*) FROM t_order GROUP BY status HAVING COUNT(*) > user_id": "compare an aggregate or grouped column with a literal",
		"SELECT COUNT(DISTINCT status, user_id) FROM t_order":                            "one expression in DISTINCT",
		"SELECT GROUP_CONCAT(status) FROM t_order":                                       "over several data nodes",
		"SELECT * FROM t_order o JOIN plain p ON o.user_id = p.id":                       "plain has no table rule",
		"SELECT * FROM t_order WHERE order_id IN (SELECT id FROM plain)":                 "plain has no table rule",
		"UPDATE t_order SET user_id = 2 WHERE user_id = 1 AND order_id = 1":              "a row cannot change node",
	} {
		_, err := e.db.Exec(q)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || !strings.Contains(me.Message, want) {
			t.Errorf("%s: %v, want %q", q, err, want)
		}
	}
	// One GROUP BY routed to one node is fine.
	e.same(t, "SELECT status, COUNT(*) FROM t_order WHERE user_id = 3 AND order_id = 7 GROUP BY status", true)
}

// INSERT without the key column gets SNOWFLAKE keys: LAST_INSERT_ID() is
// the first, and each row lands on the node its key routes to.
func TestShardingGeneratedKeys(t *testing.T) {
	e := startShards(t)
	conn, err := e.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.ExecContext(t.Context(), "INSERT INTO t_order (user_id, status) VALUES (1, 'a'), (1, 'b'), (2, 'c')")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := res.LastInsertId()
	n, _ := res.RowsAffected()
	if first <= 0 || n != 3 {
		t.Fatalf("last insert id %d, %d rows", first, n)
	}
	var got int64
	if err := conn.QueryRowContext(t.Context(), "SELECT LAST_INSERT_ID()").Scan(&got); err != nil || got != first {
		t.Fatalf("LAST_INSERT_ID() %d %v, want %d", got, err, first)
	}
	e.r.Sync(t) // readYourWrites is off: the read goes to a slave
	var status string
	if err := conn.QueryRowContext(t.Context(), fmt.Sprintf("SELECT status FROM t_order WHERE user_id = 1 AND order_id = %d", first)).Scan(&status); err != nil || status != "a" {
		t.Fatalf("row of the first key: %q %v", status, err)
	}
	// The rows are where the rule says: ms_1 (odd user) table by key parity.
	var cnt int
	tbl := fmt.Sprintf("sh1.t_order_%d", first%2)
	if err := e.oracle.QueryRow("SELECT COUNT(*) FROM "+tbl+" WHERE order_id = ?", first).Scan(&cnt); err != nil || cnt != 1 {
		t.Fatalf("%s holds %d rows of key %d (%v)", tbl, cnt, first, err)
	}
}

// A slave of a sharded group DISABLED in the registry leaves that
// group's reads; with all its slaves disabled the group's reads go to its
// master; the other group is untouched.
func TestShardingDisabledSlave(t *testing.T) {
	e := startShards(t)
	// @@server_id of the node a point read of user u runs on.
	node := func(u int) int {
		var n, id int
		q := fmt.Sprintf("SELECT COUNT(*), @@server_id FROM t_order WHERE user_id = %d AND order_id = 1", u)
		if err := e.db.QueryRow(q).Scan(&n, &id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return id
	}
	m, s0, s1 := e.r.Master.ServerID, e.r.Slaves[0].ServerID, e.r.Slaves[1].ServerID
	if a, b := node(0), node(1); a != s0 || b != s1 {
		t.Fatalf("reads of ms_0 on %d (want slave %d), of ms_1 on %d (want slave %d)", a, s0, b, s1)
	}
	if err := e.rt.SetState(config.State{DisabledDataSources: map[string]string{"s1": "/t/state/datasources/s1"}}); err != nil {
		t.Fatal(err)
	}
	if a, b := node(0), node(1); a != s0 || b != m {
		t.Fatalf("s1 disabled: ms_0 on %d (want %d), ms_1 on %d (want master %d)", a, s0, b, m)
	}
	if err := e.rt.SetState(config.State{}); err != nil {
		t.Fatal(err)
	}
	if b := node(1); b != s1 {
		t.Fatalf("s1 enabled again: ms_1 on %d, want %d", b, s1)
	}
}

// count is how many rows of t_order order_id IN (ids) lie on the two
// groups' actual tables, read straight from the server (not the proxy).
func (e *shardEnv) count(t *testing.T, ids string) int {
	t.Helper()
	n := 0
	for _, tbl := range []string{"sh0.t_order_0", "sh0.t_order_1", "sh1.t_order_0", "sh1.t_order_1"} {
		var c int
		if err := e.oracle.QueryRow("SELECT COUNT(*) FROM " + tbl + " WHERE order_id IN (" + ids + ")").Scan(&c); err != nil {
			t.Fatal(err)
		}
		n += c
	}
	return n
}

// A transaction over both groups: each group's part runs in a branch
// transaction of its own, invisible to others until COMMIT, which commits
// them all; ROLLBACK rolls them all back. Statements on several nodes run
// inside it, and see its writes.
func TestShardingTransactions(t *testing.T) {
	e := startShards(t)
	mustExec := func(tx *sql.Tx, q string) {
		t.Helper()
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tx, err := e.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(tx, "INSERT INTO t_order (order_id, user_id, status) VALUES (100, 2, 'new')") // ms_0
	mustExec(tx, "INSERT INTO t_order (order_id, user_id, status) VALUES (101, 1, 'new')") // ms_1
	if n := e.count(t, "100, 101"); n != 0 {
		t.Fatalf("%d uncommitted rows seen outside the transaction", n)
	}
	var n int
	if err := tx.QueryRow("SELECT COUNT(*) FROM t_order WHERE status = 'new'").Scan(&n); err != nil || n != 2 {
		t.Fatalf("the transaction's own rows on every node: %d %v", n, err)
	}
	mustExec(tx, "UPDATE t_order SET status = 'paid'") // every node, in the transaction
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := e.oracle.QueryRow("SELECT (SELECT COUNT(*) FROM sh0.t_order_0 WHERE order_id = 100 AND status = 'paid') + (SELECT COUNT(*) FROM sh1.t_order_1 WHERE order_id = 101 AND status = 'paid')").Scan(&n); err != nil || n != 2 {
		t.Fatalf("committed rows on their nodes: %d %v", n, err)
	}

	tx, err = e.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(tx, "INSERT INTO t_order (order_id, user_id) VALUES (102, 2)")
	mustExec(tx, "INSERT INTO t_order (order_id, user_id) VALUES (103, 1)")
	mustExec(tx, "DELETE FROM t_order WHERE order_id IN (100, 101)")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "100, 101, 102, 103"); n != 2 {
		t.Fatalf("after ROLLBACK: %d of the rows, want the 2 committed before", n)
	}
}

// Savepoints hold on every node, also on a group the transaction reached
// after the savepoint was set; autocommit off spans groups the same way.
func TestShardingSavepointsAutocommit(t *testing.T) {
	e := startShards(t)
	c, err := e.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := c.ExecContext(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	run("BEGIN",
		"INSERT INTO t_order (order_id, user_id) VALUES (200, 2)",
		"SAVEPOINT a",
		"INSERT INTO t_order (order_id, user_id) VALUES (201, 1)", // ms_1 joins after a
		"SAVEPOINT b",
		"INSERT INTO t_order (order_id, user_id) VALUES (202, 2)",
		"INSERT INTO t_order (order_id, user_id) VALUES (203, 1)",
		"ROLLBACK TO SAVEPOINT b")
	if n := e.count(t, "200, 201, 202, 203"); n != 0 {
		t.Fatalf("%d uncommitted rows visible", n)
	}
	// An unknown savepoint is the first node's own error (the branches
	// do not know it either), and the transaction goes on.
	var me *mysql.MySQLError
	if _, err := c.ExecContext(context.Background(), "RELEASE SAVEPOINT nosuch"); !errors.As(err, &me) || me.Number != 1305 {
		t.Fatalf("RELEASE of an unknown savepoint: %v, want 1305", err)
	}
	run("ROLLBACK TO a", "INSERT INTO t_order (order_id, user_id) VALUES (204, 1)", "COMMIT")
	if n := e.count(t, "200, 204"); n != 2 {
		t.Fatalf("committed: %d of 200, 204", n)
	}
	if n := e.count(t, "201, 202, 203"); n != 0 {
		t.Fatalf("rolled back to savepoints, yet %d rows stayed", n)
	}

	run("SET autocommit = 0",
		"INSERT INTO t_order (order_id, user_id) VALUES (210, 1)",
		"INSERT INTO t_order (order_id, user_id) VALUES (211, 2)")
	if n := e.count(t, "210, 211"); n != 0 {
		t.Fatalf("autocommit off: %d rows visible before COMMIT", n)
	}
	run("COMMIT", "INSERT INTO t_order (order_id, user_id) VALUES (212, 1)", "INSERT INTO t_order (order_id, user_id) VALUES (213, 2)", "ROLLBACK", "SET autocommit = 1")
	if n := e.count(t, "210, 211, 212, 213"); n != 2 {
		t.Fatalf("autocommit off: %d rows, want 210 and 211", n)
	}
	// A write on every node (both groups at once) under autocommit off
	// or in BEGIN is rolled back whole.
	for _, begin := range []string{"SET autocommit = 0", "BEGIN"} {
		run(begin, "UPDATE t_order SET status = 'scatter' WHERE order_id IN (210, 211)", "DELETE FROM t_order WHERE order_id >= 200 AND status <> 'scatter'", "ROLLBACK", "SET autocommit = 1")
		if n := e.count(t, "200, 204, 210, 211"); n != 4 {
			t.Fatalf("%s, writes on every node, ROLLBACK: %d of the 4 rows left", begin, n)
		}
		var n int
		if err := e.oracle.QueryRow("SELECT (SELECT COUNT(*) FROM sh0.t_order_0 WHERE status = 'scatter') + (SELECT COUNT(*) FROM sh0.t_order_1 WHERE status = 'scatter') + (SELECT COUNT(*) FROM sh1.t_order_0 WHERE status = 'scatter') + (SELECT COUNT(*) FROM sh1.t_order_1 WHERE status = 'scatter')").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s: %d rows kept a rolled back update (%v)", begin, n, err)
		}
	}

	// An implicit commit on the first connection commits every node.
	run("BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (220, 1)", "INSERT INTO t_order (order_id, user_id) VALUES (221, 2)",
		"BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (222, 1)", "ROLLBACK")
	if n := e.count(t, "220, 221, 222"); n != 2 {
		t.Fatalf("BEGIN in a transaction: %d rows, want 220 and 221 committed", n)
	}
	run("BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (223, 1)", "CREATE TABLE implicit_commit (id INT)",
		"INSERT INTO t_order (order_id, user_id) VALUES (224, 1)", "ROLLBACK")
	if n := e.count(t, "223, 224"); n != 2 {
		t.Fatalf("DDL in a transaction: %d rows, want 223 committed (and 224 autocommitted after it)", n)
	}
}

// A write on several nodes outside a transaction is atomic: when one node
// refuses its part, no node keeps its own.
func TestShardingAtomicWrite(t *testing.T) {
	e := startShards(t)
	e.exec(t, "INSERT INTO t_order (order_id, user_id) VALUES (301, 1)")
	for _, q := range []string{
		"INSERT INTO t_order (order_id, user_id) VALUES (300, 2), (301, 1)",
		"INSERT INTO t_order (order_id, user_id) VALUES (301, 1), (300, 2)",
	} {
		_, err := e.db.Exec(q)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1062 {
			t.Fatalf("%s: %v, want the duplicate key error", q, err)
		}
		if n := e.count(t, "300"); n != 0 {
			t.Fatalf("%s: the other node kept its row", q)
		}
	}
	// On one session: the atomic write leaves no transaction open, so the
	// next write on several nodes commits too.
	c, err := e.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"INSERT INTO t_order (order_id, user_id) VALUES (300, 2), (302, 1)", "UPDATE t_order SET status = 'seen'"} {
		if _, err := c.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var n int
	if err := e.oracle.QueryRow("SELECT (SELECT COUNT(*) FROM sh0.t_order_0 WHERE status = 'seen') + (SELECT COUNT(*) FROM sh1.t_order_0 WHERE status = 'seen') + (SELECT COUNT(*) FROM sh1.t_order_1 WHERE status = 'seen')").Scan(&n); err != nil || n != 3 {
		t.Fatalf("rows committed by the session's writes: %d of 3 (%v)", n, err)
	}
}

// A branch whose connection dies before COMMIT: nothing commits anywhere,
// and the client is told. One that dies before a later statement dooms
// the transaction: statements fail until ROLLBACK.
func TestShardingLostBranch(t *testing.T) {
	e := startShards(t)
	killBranch := func() {
		t.Helper()
		// The branch is the connection to sh1 with a transaction open.
		var id int
		if err := e.oracle.QueryRow("SELECT p.ID FROM information_schema.INNODB_TRX x JOIN information_schema.PROCESSLIST p ON p.ID = x.trx_mysql_thread_id WHERE p.DB = 'sh1'").Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := e.oracle.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tx, err := e.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO t_order (order_id, user_id) VALUES (400, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (401, 1)"} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	killBranch()
	err = tx.Commit()
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1180 || !strings.Contains(me.Message, "rolled back on every node") {
		t.Fatalf("COMMIT with a lost branch: %v", err)
	}
	if n := e.count(t, "400, 401"); n != 0 {
		t.Fatalf("%d rows committed", n)
	}

	tx, err = e.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO t_order (order_id, user_id) VALUES (402, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (403, 1)"} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	killBranch()
	if _, err := tx.Exec("INSERT INTO t_order (order_id, user_id) VALUES (405, 1)"); err == nil {
		t.Fatal("a statement on the lost branch succeeded")
	}
	_, err = tx.Exec("INSERT INTO t_order (order_id, user_id) VALUES (404, 2)")
	if !errors.As(err, &me) || me.Number != 1402 {
		t.Fatalf("a statement in the doomed transaction: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "402, 403, 404, 405"); n != 0 {
		t.Fatalf("%d rows of the doomed transaction stayed", n)
	}
	e.exec(t, "INSERT INTO t_order (order_id, user_id) VALUES (406, 1), (407, 2)") // the session goes on
}

// PREVIEW shows each unit's data source and SQL without running anything.
func TestShardingPreview(t *testing.T) {
	e := startShards(t)
	for q, want := range map[string]string{
		"PREVIEW SELECT * FROM t_order WHERE user_id = 3 AND order_id = 4":      "s1|SELECT * FROM t_order_0 WHERE user_id = 3 AND order_id = 4",
		"preview insert into t_order (order_id, user_id) values (1, 1), (2, 2)": "m1|insert into t_order_1(order_id, user_id) values (1, 1)\nm0|insert into t_order_0(order_id, user_id) values (2, 2)",
		"  Preview\tSELECT 1": "s0|SELECT 1",
		"PREVIEW UPDATE t_order SET status = 'x' WHERE order_id = 3":                    "m0|UPDATE t_order_1 SET status = 'x' WHERE order_id = 3\nm1|UPDATE t_order_1 SET status = 'x' WHERE order_id = 3",
		"PREVIEW SELECT COUNT(*) FROM t_order WHERE user_id IN (1, 2) AND order_id = 2": "s0|SELECT COUNT(*) FROM t_order_0 WHERE user_id IN (1, 2) AND order_id = 2\ns1|SELECT COUNT(*) FROM t_order_0 WHERE user_id IN (1, 2) AND order_id = 2",
	} {
		cols, rows := rowsOf(t, e.db, q)
		if strings.Join(cols, ",") != "data_source_name,actual_sql" || strings.Join(rows, "\n") != want {
			t.Errorf("%s:\n%v\n%s\nwant\n%s", q, cols, strings.Join(rows, "\n"), want)
		}
	}
	if _, err := e.db.Exec("PREVIEW SELECT COUNT(DISTINCT status, user_id) FROM t_order"); err == nil || !strings.Contains(err.Error(), "one expression in DISTINCT") {
		t.Errorf("PREVIEW of a refused statement: %v", err)
	}
	var n int
	if err := e.oracle.QueryRow("SELECT COUNT(*) FROM sh1.t_order_1").Scan(&n); err != nil || n != 0 {
		t.Errorf("PREVIEW ran an INSERT: %d rows (%v)", n, err)
	}
}

// Server-side prepared statements on sharded tables: routed at each
// execution by their parameters, run natively on the one data node they
// route to (binary results relayed); on several nodes, merged and answered
// in the binary protocol as one server answers.
func TestShardingPrepared(t *testing.T) {
	e := startShards(t)
	e.both(t, "INSERT INTO t_order (order_id, user_id, status, amount) VALUES (1, 1, 'a', 1.50), (2, 2, 'b', NULL), (3, 3, 'c', 3.25), (4, 4, 'd', 4.00)")
	e.r.Sync(t)
	ps, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/sh0", user, password, e.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	st, err := ps.Prepare("SELECT order_id, status, amount FROM t_order WHERE user_id = ? AND order_id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, k := range [][2]any{{1, 1}, {2, int64(2)}, {3, "3"}, {4, 4}, {4, 5}} {
		var got []string
		rows, err := st.Query(k[0], k[1])
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		for rows.Next() {
			var id int64
			var status string
			var amount sql.NullString
			if err := rows.Scan(&id, &status, &amount); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(id, status, amount.String))
		}
		rows.Close()
		var want []string
		orows, _ := e.oracle.Query("SELECT order_id, status, amount FROM t_order WHERE user_id = ? AND order_id = ?", k[0], k[1])
		for orows.Next() {
			var id int64
			var status string
			var amount sql.NullString
			orows.Scan(&id, &status, &amount)
			want = append(want, fmt.Sprint(id, status, amount.String))
		}
		orows.Close()
		if strings.Join(got, ";") != strings.Join(want, ";") {
			t.Errorf("%v: %v, want %v", k, got, want)
		}
	}
	// A prepared write to one node, then read back through the oracle.
	if _, err := ps.Exec("UPDATE t_order SET status = ? WHERE user_id = ? AND order_id = ?", "upd", 3, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Exec("INSERT INTO t_order (order_id, user_id, status) VALUES (?, ?, ?)", 10, 5, "new"); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := e.oracle.QueryRow("SELECT status FROM sh1.t_order_1 WHERE order_id = 3").Scan(&status); err != nil || status != "upd" {
		t.Fatalf("prepared UPDATE: %q %v", status, err)
	}
	if err := e.oracle.QueryRow("SELECT status FROM sh1.t_order_0 WHERE order_id = 10").Scan(&status); err != nil || status != "new" {
		t.Fatalf("prepared INSERT: %q %v", status, err)
	}
	e.oracle.Exec("UPDATE t_order SET status = 'upd' WHERE order_id = 3")
	e.oracle.Exec("INSERT INTO t_order (order_id, user_id, status) VALUES (10, 5, 'new')")
	// Several nodes: each node's text runs with the parameters bound, and
	// the merged rows go back in the binary protocol, as one server's
	// prepared statement answers (both sides prepared: no interpolation).
	samePrepared := func(q string, args ...any) {
		t.Helper()
		ca, a := rowsOf(t, ps, q, args...)
		cb, b := rowsOf(t, e.oracle, q, args...)
		if strings.Join(ca, ",") != strings.Join(cb, ",") || strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Errorf("%s %v\nshardgate: %v\n%s\nunsharded: %v\n%s", q, args, ca, strings.Join(a, "\n"), cb, strings.Join(b, "\n"))
		}
	}
	e.r.Sync(t)
	samePrepared("SELECT * FROM t_order WHERE user_id IN (?, ?) ORDER BY order_id", 1, 2)
	samePrepared("SELECT order_id, status FROM t_order WHERE user_id > ? ORDER BY order_id DESC LIMIT ?, ?", 0, 1, 3)
	samePrepared("SELECT order_id, CAST(order_id AS UNSIGNED) u, order_id * 1.5e0 d, order_id / 3e0 d3, 0.1e0 * order_id + 0.2e0 d4, amount, "+
		"DATE_ADD(DATE(?), INTERVAL order_id DAY) dt, TIMESTAMP(?) + INTERVAL order_id SECOND ts, "+
		"CAST('2024-05-06 07:08:09.25' AS DATETIME(2)) + INTERVAL order_id DAY ts2, SEC_TO_TIME(order_id * 36001 - 90000) tm, "+
		"CAST(SEC_TO_TIME(order_id) AS TIME(3)) tm3, CAST(order_id AS CHAR) c, NULL n, CAST(order_id AS SIGNED) - 10 neg "+
		"FROM t_order WHERE status <> ? ORDER BY order_id",
		"2024-02-27", "2024-12-31 23:59:58", "zzz")
	// A FLOAT would come back rounded to its text form: refused, saying so.
	_, err = ps.Query("SELECT CAST(order_id / 3 AS FLOAT) FROM t_order WHERE user_id IN (?, ?) ORDER BY order_id", 1, 2)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1235 || !strings.Contains(me.Message, "FLOAT") {
		t.Errorf("merged FLOAT: %v", err)
	}
	// (MAX of a FLOAT answers a DOUBLE: exact in its text form.)
	samePrepared("SELECT MAX(CAST(order_id / 3 AS FLOAT)) FROM t_order WHERE user_id IN (?, ?)", 1, 2)
	samePrepared("SELECT COUNT(*), SUM(amount), MIN(order_id), MAX(status), AVG(amount) FROM t_order WHERE order_id >= ?", 2)
	samePrepared("SELECT user_id % 2 AS p, COUNT(*) AS n FROM t_order GROUP BY p HAVING n > ? ORDER BY p", 0)
	samePrepared("SELECT DISTINCT status FROM t_order WHERE order_id < ? ORDER BY status", 100)
	samePrepared("SELECT o.order_id, i.qty FROM t_order o JOIN t_order_item i ON i.order_id = o.order_id AND i.user_id = o.user_id WHERE o.user_id IN (?, ?, ?) ORDER BY o.order_id", 1, 2, 3)
	// Inside a transaction the merge is gathered on the held connections
	// and answered the same way.
	tx, err := ps.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE t_order SET status = ? WHERE order_id = ? AND user_id = ?", "intx", 4, 4); err != nil {
		t.Fatal(err)
	}
	_, got := func() ([]string, []string) {
		rows, err := tx.Query("SELECT order_id, status, amount FROM t_order WHERE user_id IN (?, ?) ORDER BY order_id", 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id int64
			var st string
			var amount sql.NullString
			if err := rows.Scan(&id, &st, &amount); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintln(id, st, amount.String))
		}
		return nil, out
	}()
	if want := "3 upd 3.25\n;4 intx 4.00\n"; strings.Join(got, ";") != want {
		t.Errorf("merged prepared read in a transaction: %q, want %q", strings.Join(got, ";"), want)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// Writes on several nodes, and an INSERT that generates its key.
	for _, w := range []struct {
		q    string
		args []any
	}{
		{"UPDATE t_order SET amount = ? WHERE status <> ?", []any{"7.25", "a"}},
		{"INSERT INTO t_order (order_id, user_id, status) VALUES (?, ?, ?), (?, ?, ?)", []any{20, 6, "x", 21, 7, "y"}},
		{"DELETE FROM t_order WHERE order_id IN (?, ?)", []any{20, 2}},
	} {
		a, err := ps.Exec(w.q, w.args...)
		if err != nil {
			t.Fatalf("%s: %v", w.q, err)
		}
		b, err := e.oracle.Exec(w.q, w.args...)
		if err != nil {
			t.Fatalf("oracle: %s: %v", w.q, err)
		}
		na, _ := a.RowsAffected()
		nb, _ := b.RowsAffected()
		if na != nb {
			t.Errorf("%s: %d rows affected, %d unsharded", w.q, na, nb)
		}
	}
	res, err := ps.Exec("INSERT INTO t_order (user_id, status) VALUES (?, ?), (?, ?)", 8, "gen", 9, "gen")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("generated-key INSERT: %d rows", n)
	}
	e.r.Sync(t)
	var n int
	if err := ps.QueryRow("SELECT COUNT(*) FROM t_order WHERE status = ?", "gen").Scan(&n); err != nil || n != 2 {
		t.Errorf("generated rows read back: %d %v", n, err)
	}
	e.exec(t, "DELETE FROM t_order WHERE status = ?", "gen")
	e.r.Sync(t)
	samePrepared("SELECT order_id, user_id, status, amount FROM t_order WHERE order_id > ? ORDER BY order_id", 0)
}

// A table sharded by month (INTERVAL) keeps each row in its month's table
// of its user's group and answers point, range and scatter reads, text and
// prepared (time parameters), as one table does.
func TestShardingInterval(t *testing.T) {
	e := startShards(t)
	rng := rand.New(rand.NewPCG(7, 7))
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	span := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC).Sub(start)
	var stamps []time.Time
	for i := range 200 {
		ts := start.Add(time.Duration(rng.Int64N(int64(span/time.Millisecond))) * time.Millisecond)
		if i < 4 {
			ts = []time.Time{start, start.Add(span - time.Millisecond), time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}[i]
		}
		stamps = append(stamps, ts)
		e.both(t, fmt.Sprintf("INSERT INTO t_event (id, user_id, created, v) VALUES (%d, %d, '%s', 'v%d')", i, i%5, ts.Format("2006-01-02 15:04:05.000"), i%3))
	}
	// Every row lies in its month's table on its user's group.
	for db := range 2 {
		for _, m := range []string{"202401", "202402", "202403"} {
			rows, err := e.oracle.Query(fmt.Sprintf("SELECT user_id, DATE_FORMAT(created, '%%Y%%m') FROM sh%d.t_event_%s", db, m))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var u int
				var month string
				rows.Scan(&u, &month)
				if u%2 != db || month != m {
					t.Errorf("user %d, month %s found in sh%d.t_event_%s", u, month, db, m)
				}
			}
			rows.Close()
		}
	}
	e.r.Sync(t)
	for _, q := range []string{
		"SELECT * FROM t_event WHERE user_id = 3 AND created = '" + stamps[7].Format("2006-01-02 15:04:05.000") + "'",
		"SELECT id, created FROM t_event WHERE created BETWEEN '2024-02-10' AND '2024-03-05 12:00:00' ORDER BY created, id",
		"SELECT id FROM t_event WHERE created >= '2024-03-01' AND user_id IN (1, 2) ORDER BY id",
		"SELECT id FROM t_event WHERE created < '2024-01-15' ORDER BY id",
		"SELECT v, COUNT(*), MIN(created), MAX(created) FROM t_event WHERE created > '2024-01-31 23:59:59.999' GROUP BY v ORDER BY v",
		"SELECT COUNT(*) FROM t_event WHERE created < '2023-06-01' OR created > '2025-01-01'",
	} {
		e.same(t, q, true)
	}
	ps, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/sh0?parseTime=true", user, password, e.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	var n, want int
	lo, hi := time.Date(2024, 2, 20, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	if err := ps.QueryRow("SELECT COUNT(*) FROM t_event WHERE created BETWEEN ? AND ?", lo, hi).Scan(&n); err != nil {
		t.Fatal(err)
	}
	e.oracle.QueryRow("SELECT COUNT(*) FROM t_event WHERE created BETWEEN ? AND ?", lo, hi).Scan(&want)
	if n != want || n == 0 {
		t.Errorf("prepared range of times: %d rows, want %d", n, want)
	}
	var got time.Time
	if err := ps.QueryRow("SELECT created FROM t_event WHERE user_id = ? AND created = ?", 2, stamps[2]).Scan(&got); err != nil || !got.Equal(stamps[2]) {
		t.Errorf("prepared point read: %v %v, want %v", got, err, stamps[2])
	}
	_, err = ps.Exec("INSERT INTO t_event (id, user_id, created) VALUES (?, ?, ?)", 999, 1, time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC))
	var me *mysql.MySQLError
	if !errors.As(err, &me) || !strings.Contains(me.Message, "outside datetimeLower..datetimeUpper") {
		t.Errorf("a month without a table: %v", err)
	}
}

// Hint strategies: rows go where the statement's SHARDINGSPHERE_HINT
// comment says, reads with the hint find them on that node only, reads
// without one ask every node, and an INSERT without a hint is refused.
func TestShardingHint(t *testing.T) {
	e := startShards(t)
	for id := range 8 {
		e.exec(t, fmt.Sprintf("/* SHARDINGSPHERE_HINT: t_hint.SHARDING_DATABASE_VALUE=%d, t_hint.SHARDING_TABLE_VALUE=%d */ INSERT INTO t_hint (id, v) VALUES (%d, 'h')", id/4, id/2, id))
	}
	for id := range 8 {
		var n int
		q := fmt.Sprintf("SELECT COUNT(*) FROM sh%d.t_hint_%d WHERE id = %d", id/4, id/2%2, id)
		if err := e.oracle.QueryRow(q).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d %v", q, n, err)
		}
	}
	e.r.Sync(t)
	var n int
	if err := e.db.QueryRow("/* SHARDINGSPHERE_HINT: SHARDING_DATABASE_VALUE=1, SHARDING_TABLE_VALUE=1 */ SELECT COUNT(*) FROM t_hint").Scan(&n); err != nil || n != 2 {
		t.Errorf("hinted count: %d %v, want 2 (ids 6, 7)", n, err)
	}
	if err := e.db.QueryRow("SELECT COUNT(*) FROM t_hint").Scan(&n); err != nil || n != 8 {
		t.Errorf("count without a hint: %d %v, want 8", n, err)
	}
	_, err := e.db.Exec("INSERT INTO t_hint (id, v) VALUES (100, 'x')")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || !strings.Contains(me.Message, "needs a sharding hint") {
		t.Errorf("INSERT without a hint: %v", err)
	}
}

// A scatter ORDER BY streams: 1M rows on 4 nodes reach the client in
// order, past props.shardingMaxRows (which bounds only merges that hold
// rows), while the proxy's heap grows by far less than the rows' size.
func TestShardingStreamedMerge(t *testing.T) {
	e := startShards(t)
	const perTable = 250_000
	for db := range 2 {
		for tb := range 2 {
			q := fmt.Sprintf("INSERT INTO sh%d.t_order_%d (order_id, user_id, status) SELECT 4*seq + %d, 2*seq + %d, 'streamed-rows' FROM seq_0_to_%d",
				db, tb, 2*db+tb, db, perTable-1)
			if _, err := e.oracle.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.r.Sync(t)
	n := 0
	growth := heapGrowth(func() {
		rows, err := e.db.Query("SELECT order_id, user_id, status FROM t_order ORDER BY order_id")
		if err != nil {
			t.Fatal(err)
		}
		last := int64(-1)
		for rows.Next() {
			var id, user int64
			var status sql.RawBytes
			if err := rows.Scan(&id, &user, &status); err != nil {
				t.Fatal(err)
			}
			if id <= last {
				t.Fatalf("row %d: order_id %d after %d", n, id, last)
			}
			last = id
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	})
	if n != 4*perTable {
		t.Fatalf("%d rows, want %d", n, 4*perTable)
	}
	t.Logf("%d rows streamed; heap grew by at most %d KiB", n, growth>>10)
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MiB while streaming (the rows are ~%d MiB)", growth>>20, n*40>>20)
	}

	// GROUP BY a number: every group's rows are on two tables of one
	// node; the nodes sort by the key and the groups fold as they stream,
	// 500,000 groups from 1,000,000 rows, far past shardingMaxRows.
	groups := 0
	growth = heapGrowth(func() {
		rows, err := e.db.Query("SELECT user_id, COUNT(*), SUM(order_id), MAX(status) FROM t_order GROUP BY user_id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var user, count, sum int64
			var status string
			if err := rows.Scan(&user, &count, &sum, &status); err != nil {
				t.Fatal(err)
			}
			seq, db := user/2, user%2
			if user != int64(groups) || count != 2 || sum != 8*seq+4*db+1 || status != "streamed-rows" {
				t.Fatalf("group %d: user %d, count %d, sum %d, status %q", groups, user, count, sum, status)
			}
			groups++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	})
	if groups != 2*perTable {
		t.Fatalf("%d groups, want %d", groups, 2*perTable)
	}
	t.Logf("%d groups streamed; heap grew by at most %d KiB", groups, growth>>10)
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MiB while folding groups", growth>>20)
	}
	// Under LIMIT, with HAVING, and ordered by the key descending.
	var got []int64
	rows, err := e.db.Query("SELECT user_id, COUNT(*) AS n FROM t_order GROUP BY user_id HAVING COUNT(*) = 2 AND MAX(order_id) <= 2000 ORDER BY user_id DESC LIMIT 2, 3")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var user, count int64
		if err := rows.Scan(&user, &count); err != nil {
			t.Fatal(err)
		}
		got = append(got, user)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var want []int64
	for u := int64(2*perTable - 1); u >= 0 && len(want) < 5; u-- {
		if 4*(u/2)+2*(u%2)+1 <= 2000 {
			want = append(want, u)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Fatalf("HAVING … ORDER BY user_id DESC LIMIT 2, 3: %v, want %v", got, want[2:])
	}
	// A text key under a _ci collation: the nodes' groups are gathered
	// (each node sends one) and folded here.
	var status string
	var count int64
	if err := e.db.QueryRow("SELECT status, COUNT(*) FROM t_order GROUP BY status").Scan(&status, &count); err != nil || status != "streamed-rows" || count != 4*perTable {
		t.Fatalf("GROUP BY status: %q, %d, %v; want streamed-rows, %d", status, count, err, 4*perTable)
	}
}

// heapGrowth runs f and returns how far the heap grew above where it was
// before, sampled every 20ms.
func heapGrowth(f func()) int64 {
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
		}
	}()
	f()
	close(stop)
	<-done
	return int64(peak.Load()) - int64(base.HeapAlloc)
}

// Subqueries run where every subquery's rows lie on the node that runs it:
// correlated with the statement's table on every sharding column (any
// nodes), or routed with the statement to one node (binding tables,
// broadcast tables), with the answer one server gives; otherwise they are
// refused (1235), never answered from one node's rows.
func TestShardingSubqueries(t *testing.T) {
	e := startShards(t)
	for _, q := range []string{
		"INSERT INTO t_order (order_id, user_id, status) VALUES (3, 1, 'new'), (5, 1, 'paid'), (4, 2, 'new')",
		"INSERT INTO t_order_item (item_id, order_id, user_id, qty) VALUES (1, 3, 1, 2), (2, 3, 1, 5), (3, 5, 1, 1), (4, 4, 2, 7)",
		"INSERT INTO t_config (k, v) VALUES ('new', 'fresh'), ('paid', 'settled')",
	} {
		e.both(t, q)
	}
	e.r.Sync(t)
	for _, q := range []string{
		"SELECT * FROM t_order WHERE user_id = 1 AND order_id = 3 AND order_id IN (SELECT order_id FROM t_order_item WHERE user_id = 1 AND order_id = 3)",
		"SELECT o.order_id, (SELECT SUM(i.qty) FROM t_order_item i WHERE i.user_id = 1 AND i.order_id = 3) AS q FROM t_order o WHERE o.user_id = 1 AND o.order_id = 3",
		"SELECT o.order_id, (SELECT c.v FROM t_config c WHERE c.k = o.status) AS v FROM t_order o WHERE o.user_id = 1 AND o.order_id = 5",
		"SELECT COUNT(*) FROM t_order WHERE user_id = 2 AND order_id = 4 AND NOT EXISTS (SELECT 1 FROM t_order_item WHERE user_id = 2 AND order_id = 4 AND qty > 9)",
		// Correlated on every sharding column: on every node at once, merged.
		"SELECT o.order_id FROM t_order o WHERE EXISTS (SELECT 1 FROM t_order_item i WHERE i.order_id = o.order_id AND i.user_id = o.user_id AND i.qty > 1) ORDER BY o.order_id",
		"SELECT o.order_id, (SELECT SUM(i.qty) FROM t_order_item i WHERE i.order_id = o.order_id AND i.user_id = o.user_id) AS q FROM t_order o ORDER BY o.order_id",
		"SELECT COUNT(*), SUM(o.order_id) FROM t_order o WHERE NOT EXISTS (SELECT 1 FROM t_order_item i WHERE o.user_id = i.user_id AND o.order_id = i.order_id AND i.qty = 1)",
	} {
		if got, want := e.rowsOf(t, e.db, q), e.rowsOf(t, e.oracle, q); got != want {
			t.Errorf("%s:\n shardgate %s\n MariaDB   %s", q, got, want)
		}
	}
	// Writes alike: affected rows and the rows after them as one server's.
	e.both(t, "UPDATE t_order o SET status = 'big' WHERE EXISTS (SELECT 1 FROM t_order_item i WHERE i.user_id = o.user_id AND i.order_id = o.order_id AND i.qty > 4)")
	e.both(t, "DELETE FROM t_order WHERE user_id = 1 AND order_id = 5 AND status IN (SELECT k FROM t_config)")
	e.r.Sync(t)
	if q := "SELECT order_id, status FROM t_order ORDER BY order_id"; e.rowsOf(t, e.db, q) != e.rowsOf(t, e.oracle, q) {
		t.Errorf("after writes with subqueries:\n shardgate %s\n MariaDB   %s", e.rowsOf(t, e.db, q), e.rowsOf(t, e.oracle, q))
	}
	var me *mysql.MySQLError
	for _, q := range []string{
		"SELECT * FROM t_order WHERE user_id = 1 AND order_id = 3 AND EXISTS (SELECT 1 FROM t_order_item WHERE qty > 6)",
		"UPDATE t_order SET status = 'x' WHERE order_id IN (SELECT order_id FROM t_order_item WHERE qty > 6)",
		"SELECT * FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE user_id = 1 AND order_id = 3)",
		"SELECT o.order_id FROM t_order o WHERE EXISTS (SELECT 1 FROM t_order_item i WHERE i.order_id = o.order_id)", // user_id not correlated
	} {
		if _, err := e.db.Exec(q); !errors.As(err, &me) || me.Number != 1235 {
			t.Errorf("%s: %v, want 1235", q, err)
		}
	}
}

// INSERT … SELECT between binding tables copies each node's rows on that
// node; into a broadcast table from one, on every node; other forms are
// refused. Affected rows and contents as on one server.
func TestShardingInsertSelect(t *testing.T) {
	e := startShards(t)
	e.both(t, "INSERT INTO t_order (order_id, user_id, status) VALUES (3, 1, 'x'), (5, 1, 'y'), (4, 2, 'x'), (6, 3, 'x')")
	e.both(t, "INSERT INTO t_config (k, v) VALUES ('a', '1')")
	e.both(t, "INSERT INTO t_order_item (item_id, order_id, user_id, qty) SELECT order_id + 100, order_id, user_id, 1 FROM t_order WHERE status = 'x'")
	e.both(t, "INSERT INTO t_order_item (item_id, order_id, user_id, qty) SELECT o.order_id * 10, o.order_id, o.user_id, 2 FROM t_order o WHERE o.user_id = 1 AND o.order_id = 5")
	e.both(t, "INSERT INTO t_order_item (item_id, order_id, user_id, qty) SELECT order_id + 200, order_id, user_id, 3 FROM t_order WHERE status = 'x' ON DUPLICATE KEY UPDATE qty = 9")
	e.both(t, "INSERT INTO t_config (k, v) SELECT CONCAT(k, '2'), v FROM t_config")
	e.r.Sync(t)
	for _, q := range []string{
		"SELECT item_id, order_id, user_id, qty FROM t_order_item ORDER BY item_id",
		"SELECT k, v FROM t_config ORDER BY k",
	} {
		if got, want := e.rowsOf(t, e.db, q), e.rowsOf(t, e.oracle, q); got != want {
			t.Errorf("%s:\n shardgate %s\n MariaDB   %s", q, got, want)
		}
	}
	// Every node's copy of the broadcast table has both rows.
	for _, db := range []string{"sh0", "sh1"} {
		var n int
		if err := e.oracle.QueryRow("SELECT COUNT(*) FROM " + db + ".t_config").Scan(&n); err != nil || n != 2 {
			t.Errorf("%s.t_config: %d rows (%v), want 2", db, n, err)
		}
	}
	// In a transaction, one that a node refuses (a duplicate key) is
	// undone on the others, with that node's error; the transaction goes
	// on, as on one server.
	c, err := e.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var me *mysql.MySQLError
	ctx := context.Background()
	for _, q := range []string{"BEGIN", "INSERT INTO t_order (order_id, user_id, status) VALUES (7, 2, 'tx')"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ExecContext(ctx, "INSERT INTO t_order_item (item_id, order_id, user_id, qty) SELECT order_id + 100, order_id, user_id, 5 FROM t_order WHERE status = 'tx' OR order_id = 3"); !errors.As(err, &me) || me.Number != 1062 {
		t.Fatalf("INSERT … SELECT with a duplicate on some nodes: %v, want their 1062", err)
	}
	for _, q := range []string{"INSERT INTO t_order (order_id, user_id, status) VALUES (8, 1, 'tx')", "COMMIT"} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s after the undone statement: %v", q, err)
		}
	}
	e.oracle.Exec("INSERT INTO t_order (order_id, user_id, status) VALUES (7, 2, 'tx'), (8, 1, 'tx')")
	e.r.Sync(t)
	for _, q := range []string{"SELECT item_id, order_id, user_id, qty FROM t_order_item ORDER BY item_id", "SELECT order_id, status FROM t_order ORDER BY order_id"} {
		if got, want := e.rowsOf(t, e.db, q), e.rowsOf(t, e.oracle, q); got != want {
			t.Errorf("after the undone statement, %s:\n shardgate %s\n MariaDB   %s", q, got, want)
		}
	}
	for _, q := range []string{
		"INSERT INTO t_order_item (item_id, order_id, user_id) SELECT order_id + 300, order_id + 1, user_id FROM t_order",
		"INSERT INTO t_order_item (item_id, order_id, user_id) SELECT MAX(order_id) + 400, order_id, user_id FROM t_order GROUP BY order_id, user_id",
		"INSERT INTO t_config (k, v) SELECT status, status FROM t_order",
	} {
		if _, err := e.db.Exec(q); !errors.As(err, &me) || me.Number != 1235 {
			t.Errorf("%s: %v, want 1235", q, err)
		}
	}
}

// An ALTER TABLE of several clauses reaches every actual table whole.
func TestShardingAlterClauses(t *testing.T) {
	e := startShards(t)
	for _, db := range []*sql.DB{e.db, e.oracle} {
		for _, q := range []string{
			"ALTER TABLE t_order ADD COLUMN a INT, ADD COLUMN b VARCHAR(4) DEFAULT 'x', ADD INDEX i_a (a)",
			"INSERT INTO t_order (order_id, user_id, status, a) VALUES (1, 1, 's', 10), (2, 2, 's', 20), (3, 3, 's', 30), (4, 4, 's', 40)",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	e.r.Sync(t) // the reads go to the slaves
	q := "SELECT order_id, a, b FROM t_order FORCE INDEX (i_a) WHERE a >= 20 ORDER BY a"
	if got, want := e.rowsOf(t, e.db, q), e.rowsOf(t, e.oracle, q); got != want {
		t.Errorf("%s:\n shardgate %s\n MariaDB   %s", q, got, want)
	}
}

// ENUM columns order by their members' positions on MariaDB, which merged
// rows do not show: a merged ORDER BY on one is refused, naming the way
// out; grouping, aggregates and one node's ORDER BY answer as one server.
func TestShardingEnumOrder(t *testing.T) {
	e := startShards(t)
	for _, db := range []*sql.DB{e.db, e.oracle} {
		if _, err := db.Exec("ALTER TABLE t_order ADD COLUMN prio ENUM('zeta', 'alpha', 'mid')"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO t_order (order_id, user_id, status, prio) VALUES (1, 1, 'a', 'mid'), (2, 2, 'b', 'alpha'), (3, 3, 'c', 'zeta'), (4, 4, 'd', 'alpha'), (5, 1, 'e', 'zeta')"); err != nil {
			t.Fatal(err)
		}
	}
	e.r.Sync(t) // the reads go to the slaves
	_, err := e.db.Exec("SELECT order_id FROM t_order ORDER BY prio, order_id")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1235 || !strings.Contains(me.Message, "CAST(prio AS CHAR)") {
		t.Fatalf("merged ORDER BY an ENUM: %v; want 1235 naming the way out", err)
	}
	if _, err := e.db.Exec("SELECT prio, COUNT(*) FROM t_order GROUP BY prio ORDER BY prio"); err == nil {
		t.Fatal("merged GROUP BY … ORDER BY an ENUM: no error")
	}
	for _, q := range []string{
		"SELECT order_id FROM t_order WHERE user_id = 1 AND order_id IN (1, 5) ORDER BY prio",
		"SELECT order_id, CAST(prio AS CHAR) AS p FROM t_order ORDER BY p, order_id",
		"SELECT MIN(prio), MAX(prio), COUNT(DISTINCT prio) FROM t_order",
	} {
		got, want := e.rowsOf(t, e.db, q), e.rowsOf(t, e.oracle, q)
		if got != want {
			t.Errorf("%s:\n shardgate %s\n MariaDB   %s", q, got, want)
		}
	}
	got, want := e.rowsOf(t, e.db, "SELECT prio, COUNT(*) FROM t_order GROUP BY prio"), e.rowsOf(t, e.oracle, "SELECT prio, COUNT(*) FROM t_order GROUP BY prio")
	if sortedLines(got) != sortedLines(want) {
		t.Errorf("GROUP BY prio: shardgate %s, MariaDB %s", got, want)
	}
}

// rowsOf is q's rows as text, one line each.
func (e *shardEnv) rowsOf(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if v.Valid {
				b.WriteString(v.String)
			} else {
				b.WriteString("NULL")
			}
			b.WriteByte(' ')
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// A _bin collation ignores trailing spaces as MariaDB's PAD SPACE
// collations do: 'a' and 'a ' on two nodes are one group, as on one
// server. (A NO PAD _bin column is reported with its character set's
// collation id, so the merge cannot tell it: docs/sharding.md.)
func TestShardingBinCollationPads(t *testing.T) {
	e := startShards(t)
	for _, db := range []*sql.DB{e.db, e.oracle} {
		for _, q := range []string{
			"ALTER TABLE t_order ADD COLUMN tag VARCHAR(8) COLLATE utf8mb4_bin, ADD COLUMN np VARCHAR(8) COLLATE utf8mb4_nopad_bin",
			"INSERT INTO t_order (order_id, user_id, tag, np) VALUES (1, 1, 'a', 'a'), (2, 2, 'a ', 'a '), (3, 3, 'A', 'A'), (4, 4, 'b', 'b'), (5, 5, 'b', 'b ')",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	e.r.Sync(t)
	for _, q := range []string{
		"SELECT tag, COUNT(*) FROM t_order GROUP BY tag",
		"SELECT COUNT(DISTINCT tag) FROM t_order",
		"SELECT tag, COUNT(*) FROM t_order GROUP BY tag ORDER BY tag",
		// NO PAD: 'a' and 'a ' are two values.
		"SELECT np, COUNT(*) FROM t_order GROUP BY np ORDER BY np",
		"SELECT COUNT(DISTINCT np), MIN(np), MAX(np) FROM t_order",
		"SELECT order_id, np FROM t_order ORDER BY np DESC, order_id",
	} {
		got, want := e.rowsOf(t, e.db, q), e.rowsOf(t, e.oracle, q)
		// Trailing spaces of the group shown may differ (either spelling).
		norm := func(s string) string { return sortedLines(strings.ReplaceAll(s, "a  ", "a ")) }
		if strings.Contains(q, "np") {
			norm = func(s string) string { return s }
		}
		if norm(got) != norm(want) {
			t.Errorf("%s:\n shardgate %q\n MariaDB   %q", q, got, want)
		}
	}
}

// A write on every node of both groups (4 actual tables): each group's
// units run at once with the other group's (engine.Batcher), inside the
// atomic write's transaction on each.
//
//	go test ./proxy -run '^$' -bench ShardingScatterWrite -benchtime 2000x
func BenchmarkShardingScatterWrite(b *testing.B) {
	e := startShards(b)
	e.exec(b, "INSERT INTO t_order (order_id, user_id, status) VALUES (1, 1, 'a'), (2, 2, 'a'), (3, 3, 'a'), (4, 4, 'a')")
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.db.Exec("UPDATE t_order SET amount = ? WHERE status = 'a'", i%100); err != nil {
			b.Fatal(err)
		}
	}
}
