package driver_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/driver"
	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry/memory"
)

// The driver runs sharded statements like the proxy: with parameters
// (they route like literals), generated keys, scatter reads merged, and
// the same answers as one unsharded database.
func TestDriverSharding(t *testing.T) {
	r := replication(t)
	r.Master.Exec(t,
		"DROP DATABASE IF EXISTS dsh0", "DROP DATABASE IF EXISTS dsh1", "DROP DATABASE IF EXISTS dshoracle",
		"CREATE DATABASE dsh0", "CREATE DATABASE dsh1", "CREATE DATABASE dshoracle",
		"CREATE TABLE dshoracle.t_order (order_id BIGINT PRIMARY KEY, user_id INT NOT NULL, status VARCHAR(16))")
	r.Sync(t)
	srv := memory.NewServer()
	defer srv.Close()
	ds := func(m *testenv.MariaDB, db string) string {
		return fmt.Sprintf(`{url: "%s", username: root, password: %s, database: %s, healthCheckInterval: 100ms, connectTimeout: 1s}`, m.Addr(), testenv.RootPassword, db)
	}
	y := fmt.Sprintf(`
users: [{name: app, password: app-secret}]
dataSources:
  m0: %s
  s0: %s
  m1: %s
  s1: %s
shardingRule:
  tables:
    t_order:
      actualDataNodes: ms_${0..1}.t_order_${0..1}
      databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id %% 2}'}}
      tableStrategy: {inline: {shardingColumn: order_id, algorithmExpression: 't_order_${order_id %% 2}'}}
      keyGenerator: {type: SNOWFLAKE, column: order_id}
  defaultDataSourceName: ms_0
  masterSlaveRules:
    ms_0: {masterDataSourceName: m0, slaveDataSourceNames: [s0]}
    ms_1: {masterDataSourceName: m1, slaveDataSourceNames: [s1]}
props: {readYourWrites: "off"}
orchestration:
  name: drvshard
  overwrite: true
  instanceIP: 127.0.0.1
  registry: {type: memory, serverLists: [%s]}
`, ds(r.Master, "dsh0"), ds(r.Slaves[0], "dsh0"), ds(r.Master, "dsh1"), ds(r.Slaves[1], "dsh1"), srv.Name())
	path := filepath.Join(t.TempDir(), "shardgate.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	db := open(t, path)
	if _, err := db.Exec("CREATE TABLE t_order (order_id BIGINT PRIMARY KEY, user_id INT NOT NULL, status VARCHAR(16))"); err != nil {
		t.Fatal(err)
	}
	oracle := r.Master.DB(t, "dshoracle")
	for i := 1; i <= 40; i++ {
		q := "INSERT INTO t_order (order_id, user_id, status) VALUES (?, ?, ?)"
		args := []any{i, i % 5, fmt.Sprintf("s%d", i%3)}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s %v: %v", q, args, err)
		}
		if _, err := oracle.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// A prepared statement, executed with parameters that route it.
	st, err := db.Prepare("UPDATE t_order SET status = ? WHERE user_id = ? AND order_id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []int{3, 8, 13} {
		if res, err := st.Exec("upd", id%5, id); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("update of %d: %d rows", id, n)
		}
		oracle.Exec("UPDATE t_order SET status = 'upd' WHERE order_id = ?", id)
	}
	res, err := db.Exec("DELETE FROM t_order WHERE status = ?", "s2")
	if err != nil {
		t.Fatal(err)
	}
	ores, _ := oracle.Exec("DELETE FROM t_order WHERE status = 's2'")
	if a, b := rowsAffected(res), rowsAffected(ores); a != b {
		t.Fatalf("delete: %d rows sharded, %d unsharded", a, b)
	}
	r.Sync(t)
	for _, q := range []struct {
		sql     string
		args    []any
		ordered bool
	}{
		{"SELECT * FROM t_order", nil, false},
		{"SELECT * FROM t_order WHERE user_id = ?", []any{2}, false},
		{"SELECT order_id, status FROM t_order WHERE order_id IN (?, ?, ?)", []any{1, 2, 3}, false},
		{"SELECT order_id FROM t_order ORDER BY order_id DESC LIMIT 3, 5", nil, true},
		{"SELECT COUNT(*), MAX(order_id), MIN(status) FROM t_order", nil, true},
		{"SELECT user_id, COUNT(*), AVG(order_id), SUM(order_id) FROM t_order GROUP BY user_id ORDER BY user_id", nil, true},
		{"SELECT DISTINCT user_id FROM t_order WHERE user_id > ?", []any{1}, false},
		{"SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id HAVING COUNT(*) >= ? ORDER BY user_id", []any{2}, true},
		{"SELECT user_id, COUNT(*) AS n FROM t_order WHERE order_id BETWEEN ? AND ? GROUP BY user_id ORDER BY n DESC, user_id LIMIT 2", []any{2, 9}, true},
		{"SELECT COUNT(DISTINCT status), COUNT(*) FROM t_order", nil, true},
		{"SELECT user_id, COUNT(DISTINCT status) FROM t_order GROUP BY user_id ORDER BY user_id", nil, true},
		// Parameters in the expressions a merge adds (weights, AVG's SUM
		// and COUNT) are bound into them.
		{"SELECT CONCAT(status, ?) AS k, COUNT(*) FROM t_order WHERE order_id > ? GROUP BY k ORDER BY k", []any{"-", 3}, true},
		{"SELECT MAX(CONCAT(status, ?)), AVG(order_id * ?) FROM t_order", []any{"!", 2}, true},
	} {
		a := strs(t, db, q.sql, q.args...)
		b := strs(t, oracle, q.sql, q.args...)
		if !q.ordered {
			sort.Strings(a)
			sort.Strings(b)
		}
		if strings.Join(a, ";") != strings.Join(b, ";") {
			t.Errorf("%s %v:\nsharded   %v\nunsharded %v", q.sql, q.args, a, b)
		}
	}
	// Text keys merge by their column's collation, which the driver does
	// not see (go-sql-driver reports none): a _bin column keeps 'a' and 'A'
	// apart, latin1_swedish_ci makes 'e', 'É' one and orders them before
	// 'f' (by the nodes' weights).
	for _, d := range []*sql.DB{db, oracle} {
		for _, q := range []string{
			"ALTER TABLE t_order ADD COLUMN tag VARCHAR(8) COLLATE utf8mb4_bin",
			"UPDATE t_order SET tag = ELT(1 + order_id % 4, 'a', 'A', 'é', 'e'), status = ELT(1 + order_id % 3, 'e', 'É', 'f') WHERE order_id <= 40",
		} {
			if _, err := d.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	r.Sync(t)
	for _, q := range []string{
		"SELECT tag, COUNT(*) FROM t_order WHERE order_id <= 40 GROUP BY tag ORDER BY tag",
		"SELECT COUNT(DISTINCT status), COUNT(DISTINCT tag), MIN(tag), MAX(tag) FROM t_order WHERE order_id <= 40",
		"SELECT order_id, status FROM t_order WHERE order_id <= 40 ORDER BY status DESC, order_id",
		"SELECT DISTINCT tag FROM t_order WHERE order_id <= 40 ORDER BY tag",
	} {
		if a, b := strings.Join(strs(t, db, q), ";"), strings.Join(strs(t, oracle, q), ";"); a != b {
			t.Errorf("%s:\nsharded   %v\nunsharded %v", q, a, b)
		}
	}
	// Generated keys with parameters.
	res, err = db.Exec("INSERT INTO t_order (user_id, status) VALUES (?, ?), (?, ?)", 7, "g1", 8, "g2")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := res.LastInsertId(); id <= 0 || rowsAffected(res) != 2 {
		t.Fatalf("generated: id %d, %d rows", id, rowsAffected(res))
	}
	if got := strs(t, db, "PREVIEW SELECT * FROM t_order WHERE user_id = 3 AND order_id = 4"); strings.Join(got, ";") != "s1true|SELECT * FROM t_order_0 WHERE user_id = 3 AND order_id = 4true" {
		t.Errorf("preview: %v", got)
	}
	_, err = db.Exec("SELECT COUNT(DISTINCT status, user_id) FROM t_order")
	var me *mysql.MySQLError
	if err == nil || errors.As(err, &me) || !strings.Contains(err.Error(), "one expression in DISTINCT") {
		t.Fatalf("count distinct of two: %v", err)
	}

	// A database/sql transaction spans both groups: uncommitted rows are
	// seen by no one else; Commit commits both, Rollback neither.
	count := func(ids string) int {
		t.Helper()
		var n int
		q := "SELECT (SELECT COUNT(*) FROM dsh0.t_order_0 WHERE order_id IN (" + ids + ")) + (SELECT COUNT(*) FROM dsh0.t_order_1 WHERE order_id IN (" + ids + ")) + " +
			"(SELECT COUNT(*) FROM dsh1.t_order_0 WHERE order_id IN (" + ids + ")) + (SELECT COUNT(*) FROM dsh1.t_order_1 WHERE order_id IN (" + ids + "))"
		if err := oracle.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, commit := range []bool{true, false} {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		base := 900
		if !commit {
			base = 910
		}
		for i, user := range []int{2, 1} {
			if _, err := tx.Exec("INSERT INTO t_order (order_id, user_id, status) VALUES (?, ?, 'tx')", base+i, user); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Exec("UPDATE t_order SET status = 'tx2' WHERE status = 'tx'"); err != nil { // both nodes, in the transaction
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow("SELECT COUNT(*) FROM t_order WHERE status = 'tx2' AND order_id >= ?", base).Scan(&n); err != nil || n != 2 {
			t.Fatalf("the transaction's own rows: %d %v", n, err)
		}
		if n := count(fmt.Sprintf("%d, %d", base, base+1)); n != 0 {
			t.Fatalf("%d uncommitted rows seen outside", n)
		}
		want := 0
		if commit {
			err, want = tx.Commit(), 2
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := count(fmt.Sprintf("%d, %d", base, base+1)); n != want {
			t.Fatalf("commit %v: %d rows, want %d", commit, n, want)
		}
	}
	// A write on several nodes outside a transaction is atomic.
	for _, q := range []string{"INSERT INTO t_order (order_id, user_id) VALUES (920, 2), (901, 1)", "INSERT INTO t_order (order_id, user_id) VALUES (921, 1), (900, 2)"} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "Duplicate") {
			t.Fatalf("%s: %v, want the duplicate key error", q, err)
		}
	}
	if n := count("920, 921"); n != 0 {
		t.Fatalf("a failed write on several nodes left %d rows", n)
	}
	// Transactions begun with SQL span the groups as well, savepoints
	// included; an implicit commit ends all of it, as on one server.
	c, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// sqlTx runs stmts on c; the rows ids, want of which are committed at
	// the end, are seen by no one else before it.
	sqlTx := func(ids string, want int, stmts ...string) {
		t.Helper()
		for _, q := range stmts {
			if _, err := c.ExecContext(t.Context(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if n := count(ids); strings.HasPrefix(q, "INSERT") && n != 0 && ids != "954, 955" && ids != "956, 957, 958" { // those two autocommit
				t.Fatalf("after %s: %d uncommitted rows seen outside", q, n)
			}
		}
		if n := count(ids); n != want {
			t.Fatalf("%v: %d of the rows %s committed, want %d", stmts, n, ids, want)
		}
	}
	sqlTx("930, 931, 932", 2, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (930, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (931, 1)",
		"SAVEPOINT sp1", "INSERT INTO t_order (order_id, user_id) VALUES (932, 1)", "ROLLBACK TO SAVEPOINT sp1", "COMMIT")
	sqlTx("933, 934", 0, "START TRANSACTION", "INSERT INTO t_order (order_id, user_id) VALUES (933, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (934, 1)", "ROLLBACK")
	// A group that joins after a savepoint sets it first: ROLLBACK TO
	// undoes its rows too.
	sqlTx("935, 936", 1, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (935, 2)", "SAVEPOINT `a b`",
		"INSERT INTO t_order (order_id, user_id) VALUES (936, 1)", "ROLLBACK TO `a b`", "COMMIT")
	// An unknown savepoint is the first node's own error, and the
	// transaction goes on.
	sqlTx("937, 938", 0, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (937, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (938, 1)")
	if _, err := c.ExecContext(t.Context(), "ROLLBACK TO nosuch"); !errors.As(err, &me) || me.Number != 1305 {
		t.Fatalf("ROLLBACK TO an unknown savepoint: %v, want 1305", err)
	}
	sqlTx("937, 938", 2, "COMMIT")
	// Autocommit off: every statement is in a transaction, on every group.
	sqlTx("940, 941", 2, "SET autocommit = 0", "INSERT INTO t_order (order_id, user_id) VALUES (940, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (941, 1)", "COMMIT")
	sqlTx("942, 943", 0, "INSERT INTO t_order (order_id, user_id) VALUES (942, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (943, 1)", "ROLLBACK")
	// A write on every node, both groups at once, rolls back whole.
	sqlTx("940, 941", 2, "DELETE FROM t_order WHERE order_id IN (940, 941)", "ROLLBACK")
	sqlTx("944, 945", 2, "INSERT INTO t_order (order_id, user_id) VALUES (944, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (945, 1)", "SET autocommit = 1")
	// DDL on the first connection commits the whole transaction.
	sqlTx("946, 947", 2, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (946, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (947, 1)",
		"CREATE TABLE IF NOT EXISTS implicit_commit (a INT)", "ROLLBACK")
	// BEGIN inside a transaction commits it first.
	sqlTx("948, 949", 2, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (948, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (949, 1)", "BEGIN", "ROLLBACK")
	// A transaction that lost a branch commits nothing.
	sqlTx("950, 951", 0, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (950, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (951, 1)")
	var branchID int64
	var de *driver.Error
	if err := c.QueryRowContext(t.Context(), "SELECT CONNECTION_ID() FROM t_order WHERE user_id = 1 AND order_id = 951").Scan(&branchID); err != nil {
		t.Fatal(err)
	}
	if _, err := oracle.Exec(fmt.Sprintf("KILL %d", branchID)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(t.Context(), "INSERT INTO t_order (order_id, user_id) VALUES (952, 1)"); err == nil {
		t.Fatal("a statement on a killed branch succeeded")
	}
	if _, err := c.ExecContext(t.Context(), "INSERT INTO t_order (order_id, user_id) VALUES (953, 2)"); !errors.As(err, &de) || de.Code != 1402 {
		t.Fatalf("a statement after a lost branch: %v, want 1402", err)
	}
	if _, err := c.ExecContext(t.Context(), "COMMIT"); !errors.As(err, &de) || de.Code != 1402 {
		t.Fatalf("COMMIT after a lost branch: %v, want 1402", err)
	}
	sqlTx("950, 951, 952, 953", 0)
	sqlTx("954, 955", 2, "INSERT INTO t_order (order_id, user_id) VALUES (954, 2)", "INSERT INTO t_order (order_id, user_id) VALUES (955, 1)")
	// A write on several nodes that one node refuses (a duplicate key)
	// is undone on the others, with that node's error, and the
	// transaction goes on, as on one server.
	sqlTx("959, 960, 961", 0, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (959, 2)")
	if _, err := c.ExecContext(t.Context(), "INSERT INTO t_order (order_id, user_id) VALUES (960, 2), (955, 1)"); !errors.As(err, &me) || me.Number != 1062 {
		t.Fatalf("a duplicate on one node of two: %v, want its 1062", err)
	}
	sqlTx("959, 960, 961", 2, "INSERT INTO t_order (order_id, user_id) VALUES (961, 1)", "COMMIT")
	// The first connection lost before COMMIT: nothing commits anywhere.
	sqlTx("956, 957", 0, "BEGIN", "INSERT INTO t_order (order_id, user_id) VALUES (956, 1)", "INSERT INTO t_order (order_id, user_id) VALUES (957, 2)")
	var firstID int64
	if err := c.QueryRowContext(t.Context(), "SELECT CONNECTION_ID() FROM t_order WHERE user_id = 2 AND order_id = 957").Scan(&firstID); err != nil {
		t.Fatal(err)
	}
	if firstID == branchID {
		t.Fatal("the first connection is the branch killed before")
	}
	if _, err := oracle.Exec(fmt.Sprintf("KILL %d", firstID)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(t.Context(), "COMMIT"); err == nil {
		t.Fatal("COMMIT on a killed first connection succeeded")
	}
	// The branch was rolled back, not left open: the session's next
	// write on its group commits by itself.
	sqlTx("956, 957, 958", 1, "INSERT INTO t_order (order_id, user_id) VALUES (958, 1)")

	// A scatter ORDER BY streams: 400,000 rows from 4 nodes reach the
	// caller in order, past props.shardingMaxRows (100,000, which bounds
	// only merges that hold rows), while the heap grows by far less than
	// the rows' size.
	const perTable = 100_000
	for d := range 2 {
		for tb := range 2 {
			q := fmt.Sprintf("INSERT INTO dsh%d.t_order_%d (order_id, user_id, status) SELECT 4*seq + %d + 10000, 2*seq + %d, 'streamed-rows' FROM seq_0_to_%d",
				d, tb, 2*d+tb, d, perTable-1)
			if _, err := oracle.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.Sync(t)
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rows, err := db.Query("SELECT order_id, status FROM t_order WHERE status = ? ORDER BY order_id DESC", "streamed-rows")
	if err != nil {
		t.Fatal(err)
	}
	n, prev := 0, int64(1<<62)
	for rows.Next() {
		var id int64
		var status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		if id >= prev || status != "streamed-rows" {
			t.Fatalf("row %d: %d %q after %d", n, id, status, prev)
		}
		prev = id
		n++
		if n == 2*perTable {
			runtime.GC()
			runtime.ReadMemStats(&during)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if n != 4*perTable {
		t.Fatalf("%d rows streamed, want %d", n, 4*perTable)
	}
	grew := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("streamed %d rows; heap grew by %d KiB half way", n, grew/1024)
	if grew > 8<<20 {
		t.Errorf("heap grew by %d MiB while streaming: the merge holds rows", grew>>20)
	}
	// LIMIT with an offset, and rows closed early: the connections stay
	// usable (the next statements run).
	got := strs(t, db, "SELECT order_id FROM t_order WHERE status = ? ORDER BY order_id LIMIT 5, 3", "streamed-rows")
	if strings.Join(got, ",") != "10005true,10006true,10007true" {
		t.Errorf("streamed LIMIT 5, 3: %v", got)
	}
	rows, err = db.Query("SELECT order_id FROM t_order WHERE status = ? ORDER BY order_id", "streamed-rows")
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	rows.Close()
	// GROUP BY a number folds as the nodes' sorted rows stream: 200,000
	// groups from 400,000 rows, past shardingMaxRows, the heap flat.
	runtime.GC()
	runtime.ReadMemStats(&before)
	rows, err = db.Query("SELECT user_id, COUNT(*), SUM(order_id) FROM t_order WHERE status = ? GROUP BY user_id", "streamed-rows")
	if err != nil {
		t.Fatal(err)
	}
	groups := 0
	for rows.Next() {
		var user, count, sum int64
		if err := rows.Scan(&user, &count, &sum); err != nil {
			t.Fatal(err)
		}
		seq, d := user/2, user%2
		if user != int64(groups) || count != 2 || sum != 8*seq+4*d+20001 {
			t.Fatalf("group %d: user %d, count %d, sum %d", groups, user, count, sum)
		}
		if groups++; groups == perTable {
			runtime.GC()
			runtime.ReadMemStats(&during)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if groups != 2*perTable {
		t.Fatalf("%d groups, want %d", groups, 2*perTable)
	}
	grew = int64(during.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("folded %d groups; heap grew by %d KiB half way", groups, grew/1024)
	if grew > 8<<20 {
		t.Errorf("heap grew by %d MiB while folding groups: the merge holds rows", grew>>20)
	}
	for range 20 {
		var m int
		if err := db.QueryRow("SELECT COUNT(*) FROM t_order WHERE status = ?", "streamed-rows").Scan(&m); err != nil || m != 4*perTable {
			t.Fatalf("after an early close: %d %v", m, err)
		}
	}
	// A merged ORDER BY an ENUM (ordered by member position on the
	// server) is refused, as in the proxy.
	if _, err := db.Exec("ALTER TABLE t_order ADD COLUMN prio ENUM('zeta', 'alpha')"); err != nil {
		t.Fatal(err)
	}
	r.Sync(t) // the reads go to the slaves
	if _, err := db.Query("SELECT order_id FROM t_order ORDER BY prio"); err == nil || !strings.Contains(err.Error(), "CAST(prio AS CHAR)") {
		t.Fatalf("merged ORDER BY an ENUM: %v", err)
	}
}

func rowsAffected(r sql.Result) int64 {
	n, _ := r.RowsAffected()
	return n
}

func strs(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			parts = append(parts, fmt.Sprint(v.String, v.Valid))
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
