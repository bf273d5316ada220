package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"testing"
	"time"
)

// TestRouting proves the proxy's routing through database/sql: reads on
// the slaves, writes, locking reads, hinted and session-bound reads on the
// master, transactions pinned, read-only transactions on a slave,
// read-your-writes in a session, prepared statements, SET/USE replay on
// every backend connection of a sql.Conn, and context deadlines.
func TestRouting(t *testing.T) {
	r := replication(t)
	env := orchenv.Etcd(t, "routing")
	db := open(t, instanceFile(t, r, env.YAML, "routing", "readYourWrites: session, readOnlyTransactionsOnSlave: true"))
	ctx := context.Background()
	master, slave0, slave1 := r.Master.ServerID, r.Slaves[0].ServerID, r.Slaves[1].ServerID
	one := func(t *testing.T, q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, query string, args ...any) int {
		t.Helper()
		var id int
		if err := q.QueryRowContext(ctx, query, args...).Scan(&id); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return id
	}

	t.Run("ReadsOnSlaves", func(t *testing.T) {
		if err := db.Ping(); err != nil {
			t.Fatal(err)
		}
		if ids := orchenv.ReadIDs(t, db, 20); ids[slave0] == 0 || ids[slave1] == 0 || ids[master] != 0 {
			t.Fatalf("reads: %v", ids)
		}
	})

	t.Run("MasterStatements", func(t *testing.T) {
		for _, q := range []string{
			"SELECT @@server_id FROM drv.t WHERE id = 1 FOR UPDATE",
			"SELECT @@server_id FROM drv.t WHERE id = 1 LOCK IN SHARE MODE",
			"/* shardgate:master */ SELECT @@server_id",
			"SELECT @@server_id + 0 * LAST_INSERT_ID()",
		} {
			if id := one(t, db, q); id != master {
				t.Errorf("%s ran on %d, want the master %d", q, id, master)
			}
		}
		if _, err := db.Exec("REPLACE INTO drv.t VALUES (2, @@server_id)"); err != nil {
			t.Fatal(err)
		}
		direct(t, r.Master, func(m *sql.DB) {
			var v string
			if err := m.QueryRow("SELECT v FROM drv.t WHERE id = 2").Scan(&v); err != nil || v != fmt.Sprint(master) {
				t.Fatalf("write ran on %q (%v), want the master %d", v, err, master)
			}
		})
		// Separate checkouts of the pool are separate sessions.
		if ids := orchenv.ReadIDs(t, db, 10); ids[master] != 0 {
			t.Fatalf("reads after a write on another checkout: %v", ids)
		}
	})

	t.Run("TransactionPinned", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ids := orchenv.ReadIDs(t, tx, 5); ids[master] != 5 {
			t.Fatalf("reads in a transaction: %v", ids)
		}
		var connID1, connID2 int
		tx.QueryRow("SELECT CONNECTION_ID()").Scan(&connID1)
		if _, err := tx.Exec("REPLACE INTO drv.t VALUES (3, 'tx')"); err != nil {
			t.Fatal(err)
		}
		tx.QueryRow("SELECT CONNECTION_ID()").Scan(&connID2)
		if connID1 != connID2 || connID1 == 0 {
			t.Fatalf("transaction moved between connections: %d, %d", connID1, connID2)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow("/* shardgate:master */ SELECT COUNT(*) FROM drv.t WHERE id = 3").Scan(&n); err != nil || n != 0 {
			t.Fatalf("rolled back row visible: %d %v", n, err)
		}
		if ids := orchenv.ReadIDs(t, db, 10); ids[master] != 0 {
			t.Fatalf("reads after the transaction: %v", ids)
		}
		// Text BEGIN/COMMIT on a sql.Conn pin it the same way.
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if ids := orchenv.ReadIDs(t, conn, 3); ids[master] != 3 {
			t.Fatalf("reads after BEGIN: %v", ids)
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		if ids := orchenv.ReadIDs(t, conn, 6); ids[master] != 0 {
			t.Fatalf("reads after COMMIT: %v", ids)
		}
	})

	t.Run("ReadOnlyTransactionOnSlave", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		ids := orchenv.ReadIDs(t, tx, 5)
		if len(ids) != 1 || ids[master] != 0 {
			t.Fatalf("reads in a read-only transaction: %v (want one slave)", ids)
		}
		if _, err := tx.Exec("INSERT INTO drv.t VALUES (4, 'ro')"); err == nil {
			t.Fatal("write in a read-only transaction succeeded")
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	})

	// A SELECT calling a function that writes is classified as a read,
	// refused by the slave's read-only session, and runs on the master;
	// a replayed SET cannot make the slave session writable.
	t.Run("WritingReadOnMaster", func(t *testing.T) {
		for _, s := range r.Slaves {
			s.Exec(t, "SET GLOBAL log_bin_trust_function_creators = 1")
		}
		r.Master.Exec(t,
			"SET GLOBAL log_bin_trust_function_creators = 1",
			"CREATE TABLE IF NOT EXISTS drv.wlog (id INT AUTO_INCREMENT PRIMARY KEY, at INT)",
			"CREATE FUNCTION IF NOT EXISTS drv.wf() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO drv.wlog (at) VALUES (@@server_id); RETURN @@server_id; END",
		)
		r.Sync(t)
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET SESSION TRANSACTION READ WRITE"); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"SELECT drv.wf()", "SELECT drv.wf() + 0"} {
			if id := one(t, conn, q); id != master {
				t.Errorf("%s ran on %d, want the master %d", q, id, master)
			}
		}
		r.Sync(t)
		for _, s := range r.Slaves {
			direct(t, s, func(m *sql.DB) {
				var n int
				if err := m.QueryRow("SELECT COUNT(*) FROM drv.wlog WHERE at <> ?", master).Scan(&n); err != nil || n != 0 {
					t.Errorf("%s: %d rows written on a slave (%v)", s.Name, n, err)
				}
			})
		}
	})

	// Two sessions interleaved over the master's pool: each
	// LAST_INSERT_ID() is its own, whichever backend connection runs it.
	t.Run("LastInsertIDIsTheSessions", func(t *testing.T) {
		r.Master.Exec(t, "CREATE TABLE IF NOT EXISTS drv.ai (id INT AUTO_INCREMENT PRIMARY KEY, who CHAR(1))")
		a, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ra, err := a.ExecContext(ctx, "INSERT INTO drv.ai (who) VALUES ('a')")
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.ExecContext(ctx, "INSERT INTO drv.ai (who) VALUES ('b')")
		if err != nil {
			t.Fatal(err)
		}
		idA, _ := ra.LastInsertId()
		idB, _ := rb.LastInsertId()
		var got int64
		if err := a.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&got); err != nil || got != idA {
			t.Errorf("a's LAST_INSERT_ID() = %d (%v), want %d (b's is %d)", got, err, idA, idB)
		}
		if err := b.QueryRowContext(ctx, "SELECT LAST_INSERT_ID() + ?", 0).Scan(&got); err != nil || got != idB {
			t.Errorf("b's LAST_INSERT_ID() = %d (%v), want %d", got, err, idB)
		}
	})

	t.Run("ReadYourWrites", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if id := one(t, conn, "SELECT @@server_id"); id == master {
			t.Fatalf("read before a write went to the master")
		}
		if _, err := conn.ExecContext(ctx, "REPLACE INTO drv.t VALUES (5, 'ryw')"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := conn.QueryRowContext(ctx, "SELECT v FROM drv.t WHERE id = 5").Scan(&v); err != nil || v != "ryw" {
			t.Fatalf("own write not read: %q %v", v, err)
		}
		if ids := orchenv.ReadIDs(t, conn, 5); ids[master] != 5 {
			t.Fatalf("reads after a write in the session: %v", ids)
		}
	})

	t.Run("Prepared", func(t *testing.T) {
		st, err := db.Prepare("SELECT @@server_id + 0 * ?")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ids := map[int]int{}
		for i := range 20 {
			var id int
			if err := st.QueryRowContext(ctx, i).Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids[id]++
		}
		if ids[slave0] == 0 || ids[slave1] == 0 || ids[master] != 0 {
			t.Fatalf("prepared reads: %v", ids)
		}
		ins, err := db.Prepare("REPLACE INTO drv.t VALUES (?, @@server_id)")
		if err != nil {
			t.Fatal(err)
		}
		defer ins.Close()
		if _, err := ins.Exec(6); err != nil {
			t.Fatal(err)
		}
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		var id int
		if err := tx.Stmt(st).QueryRow(1).Scan(&id); err != nil || id != master {
			t.Fatalf("prepared read in a transaction ran on %d (%v)", id, err)
		}
		tx.Rollback()
		if _, err := db.Prepare("SELEKT nonsense"); err != nil {
			t.Fatalf("prepare is routed at execution: %v", err)
		}
		if _, err := db.Exec("SELEKT nonsense"); err == nil {
			t.Fatal("syntax error not reported")
		}
	})

	t.Run("SessionStateReplayed", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "SET @who = 'app', SESSION sql_mode = 'ANSI_QUOTES'"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "USE drv2"); err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for range 10 {
			var who, mode, dbName string
			var id int
			if err := conn.QueryRowContext(ctx, "SELECT @who, @@sql_mode, DATABASE(), @@server_id").Scan(&who, &mode, &dbName, &id); err != nil {
				t.Fatal(err)
			}
			if who != "app" || mode != "ANSI_QUOTES" || dbName != "drv2" {
				t.Fatalf("session state on server %d: @who=%q sql_mode=%q db=%q", id, who, mode, dbName)
			}
			seen[id] = true
		}
		if !seen[slave0] || !seen[slave1] || seen[master] {
			t.Fatalf("reads with session state: %v", seen)
		}
		// A SET with a bound value cannot be replayed: the session stays
		// on its master connection.
		if _, err := conn.ExecContext(ctx, "SET @bound = ?", 7); err != nil {
			t.Fatal(err)
		}
		var bound, id int
		if err := conn.QueryRowContext(ctx, "SELECT @bound, @@server_id").Scan(&bound, &id); err != nil || bound != 7 || id != master {
			t.Fatalf("after SET with a bound value: @bound=%d on %d (%v)", bound, id, err)
		}
		conn.Close()
		// The next user of the pool starts clean.
		for range 5 {
			var who, bound sql.NullString
			var dbName string
			if err := db.QueryRow("/* shardgate:master */ SELECT @who, @bound, DATABASE()").Scan(&who, &bound, &dbName); err != nil || who.Valid || bound.Valid || dbName != "drv" {
				t.Fatalf("state leaked to another session: %v %v %q %v", who, bound, dbName, err)
			}
			if err := db.QueryRow("SELECT @who, DATABASE()").Scan(&who, &dbName); err != nil || who.Valid || dbName != "drv" {
				t.Fatalf("state leaked to another session: %v %q %v", who, dbName, err)
			}
		}
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := db.QueryContext(cctx, "SELECT SLEEP(5)")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("deadline: %v after %v", err, time.Since(start))
		}
		cctx, cancel = context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		if _, err := db.ExecContext(cctx, "/* shardgate:master */ DO SLEEP(5)"); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel: %v", err)
		}
		cctx, cancel = context.WithCancel(ctx)
		tx, err := db.BeginTx(cctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("REPLACE INTO drv.t VALUES (7, 'cancelled')"); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := tx.Commit(); err == nil {
			t.Fatal("commit after cancel succeeded")
		}
		var n int
		if err := db.QueryRow("/* shardgate:master */ SELECT COUNT(*) FROM drv.t WHERE id = 7").Scan(&n); err != nil || n != 0 {
			t.Fatalf("cancelled transaction committed: %d %v", n, err)
		}
		if ids := orchenv.ReadIDs(t, db, 6); ids[master] != 0 {
			t.Fatalf("reads after cancellations: %v", ids)
		}
	})

	t.Run("Values", func(t *testing.T) {
		var u uint64
		if err := db.QueryRow("SELECT CAST(? AS UNSIGNED)", uint64(1<<63+5)).Scan(&u); err != nil || u != 1<<63+5 {
			t.Fatalf("uint64: %d %v", u, err)
		}
		var s string
		var n sql.NullInt64
		if err := db.QueryRow("SELECT ?, ?", "x'y", nil).Scan(&s, &n); err != nil || s != "x'y" || n.Valid {
			t.Fatalf("values: %q %v %v", s, n, err)
		}
		rows, err := db.Query("SELECT id, v FROM drv.t ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.ColumnTypes()
		if len(cols) != 2 || cols[0].DatabaseTypeName() != "INT" {
			t.Fatalf("column types: %v", cols)
		}
		count := 0
		for rows.Next() {
			count++
		}
		if rows.Close(); rows.Err() != nil || count == 0 {
			t.Fatalf("rows: %d %v", count, rows.Err())
		}
	})
}
