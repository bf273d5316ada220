package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
)

// startProxyPool starts a proxy whose data sources each have maxPoolSize
// connections, so that sessions share backend connections.
func startProxyPool(t *testing.T, size int) *proxyEnv {
	t.Helper()
	r := harness(t)
	ds := func(m *testenv.MariaDB) string {
		return fmt.Sprintf(`{url: "%s", username: root, password: %s, database: pt, maxPoolSize: %d, connectTimeout: 2s}`, m.Addr(), testenv.RootPassword, size)
	}
	return startProxyYAML(t, r, fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}]
dataSources: {master: %s, slave0: %s, slave1: %s}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave0, slave1]}
props: {readYourWrites: off}
`, user, password, ds(r.Master), ds(r.Slaves[0]), ds(r.Slaves[1])))
}

func conn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustExec(t *testing.T, c *sql.Conn, q string, args ...any) sql.Result {
	t.Helper()
	res, err := c.ExecContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

func one[T any](t *testing.T, c *sql.Conn, q string, args ...any) T {
	t.Helper()
	var v T
	if err := c.QueryRowContext(context.Background(), q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// Two clients interleaved over one backend connection per data source:
// neither sees the other's insert id, user variables or database.
func TestSessionsDoNotLeak(t *testing.T) {
	p := startProxyPool(t, 1)
	p.r.Master.Exec(t,
		"CREATE TABLE IF NOT EXISTS pt.ai (id INT AUTO_INCREMENT PRIMARY KEY, who CHAR(1))",
		"CREATE TABLE IF NOT EXISTS pt.child (parent INT, who CHAR(1))",
		"CREATE TABLE IF NOT EXISTS pt.s (v VARCHAR(8))", "DELETE FROM pt.s", "INSERT INTO pt.s VALUES ('pt')",
		"CREATE TABLE IF NOT EXISTS pt2.s (v VARCHAR(8))", "DELETE FROM pt2.s", "INSERT INTO pt2.s VALUES ('pt2')",
	)
	p.r.Sync(t)
	for _, params := range []string{"", "interpolateParams=false"} {
		db := p.db(t, params)
		a, b := conn(t, db), conn(t, db)
		idA, _ := mustExec(t, a, "INSERT INTO ai (who) VALUES ('a')").LastInsertId()
		idB, _ := mustExec(t, b, "INSERT INTO ai (who) VALUES ('b')").LastInsertId()
		if got := one[int64](t, a, "SELECT LAST_INSERT_ID()"); got != idA {
			t.Errorf("%s: a's LAST_INSERT_ID() = %d, want %d (b's is %d)", params, got, idA, idB)
		}
		mustExec(t, a, "INSERT INTO child VALUES (LAST_INSERT_ID(), 'a')")
		if got := one[int64](t, b, "SELECT LAST_INSERT_ID() + ?", 0); got != idB {
			t.Errorf("%s: b's LAST_INSERT_ID() = %d, want %d", params, got, idB)
		}
		var parent int64
		if err := p.r.Master.DB(t, "pt").QueryRow("SELECT parent FROM child WHERE who = 'a' ORDER BY parent DESC LIMIT 1").Scan(&parent); err != nil || parent != idA {
			t.Errorf("%s: child row of a points at %d (%v), want %d", params, parent, err, idA)
		}

		// The same statement prepared in two databases reads each its own.
		c, d := conn(t, db), conn(t, db)
		mustExec(t, d, "USE pt2")
		for i := 0; i < 3; i++ {
			if v := one[string](t, c, "SELECT v FROM s WHERE ? = ?", 1, 1); v != "pt" {
				t.Errorf("%s: in pt: %q", params, v)
			}
			if v := one[string](t, d, "SELECT v FROM s WHERE ? = ?", 1, 1); v != "pt2" {
				t.Errorf("%s: in pt2: %q", params, v)
			}
		}
	}
}

// A user variable set outside SET pins its session to the master
// connection that holds it (with four connections, the other client goes on).
func TestUserVariablesStay(t *testing.T) {
	p := startProxyPool(t, 4)
	for _, params := range []string{"", "interpolateParams=false"} {
		db := p.db(t, params)
		db.SetMaxIdleConns(0)
		a, b := conn(t, db), conn(t, db)
		// User variables set outside SET stay with their session.
		if v := one[int](t, a, "SELECT @leak := 42"); v != 42 {
			t.Fatal(v)
		}
		if v := one[sql.NullInt64](t, b, "/* shardgate:master */ SELECT @leak"); v.Valid {
			t.Errorf("%s: b sees a's @leak = %d", params, v.Int64)
		}
		if v := one[int](t, a, "SELECT @leak"); v != 42 {
			t.Errorf("%s: a lost its @leak: %d", params, v)
		}
		mustExec(t, b, "SELECT 7 INTO @mine")
		if v := one[sql.NullInt64](t, a, "SELECT @mine"); v.Valid {
			t.Errorf("%s: a sees b's @mine", params)
		}
		if v := one[int](t, b, "SELECT @mine"); v != 7 {
			t.Errorf("%s: b lost @mine: %d", params, v)
		}
		// Both sessions are pinned: ending them gives the connections back.
		a.Close()
		b.Close()
	}
}

// FOUND_ROWS() and ROW_COUNT() answer the session's previous statement.
func TestFoundRowsAndRowCount(t *testing.T) {
	p := startProxyPool(t, 4)
	p.r.Master.Exec(t, "CREATE TABLE IF NOT EXISTS pt.fr (id INT PRIMARY KEY)", "DELETE FROM pt.fr", "INSERT INTO pt.fr VALUES (1), (2), (3)")
	p.r.Sync(t)
	db := p.db(t, "")
	a := conn(t, db)
	rows, err := a.QueryContext(context.Background(), "SELECT SQL_CALC_FOUND_ROWS id FROM fr LIMIT 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	if n := one[int](t, a, "SELECT FOUND_ROWS()"); n != 3 {
		t.Errorf("FOUND_ROWS() = %d, want 3", n)
	}
	mustExec(t, a, "UPDATE fr SET id = id + 10 WHERE id > 1")
	if n := one[int](t, a, "SELECT ROW_COUNT()"); n != 2 {
		t.Errorf("ROW_COUNT() = %d, want 2", n)
	}
}

// A connection held for SHOW WARNINGS / ROW_COUNT() goes back to the pool
// when its client stays quiet, so idle sessions do not starve the others.
func TestHeldConnectionReleasedWhenIdle(t *testing.T) {
	p := startProxyPool(t, 2)
	p.r.Master.Exec(t, "CREATE TABLE IF NOT EXISTS pt.held (id INT PRIMARY KEY)", "DELETE FROM pt.held")
	db := p.db(t, "")
	a, b, c := conn(t, db), conn(t, db), conn(t, db)
	mustExec(t, a, "INSERT INTO held VALUES (1)") // a holds its connection, then idles
	mustExec(t, b, "BEGIN")
	mustExec(t, b, "INSERT INTO held VALUES (2)") // b pins the other one
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	mustExec(t, c, "INSERT INTO held VALUES (3)")
	if d := time.Since(start); d > time.Second {
		t.Errorf("a write waited %v for a connection an idle session held", d)
	}
	mustExec(t, b, "COMMIT")
	// Asked at once, ROW_COUNT() still reads the session's own statement.
	mustExec(t, a, "UPDATE held SET id = id + 10")
	if n := one[int](t, a, "SELECT ROW_COUNT()"); n != 3 {
		t.Errorf("ROW_COUNT() = %d, want 3", n)
	}
}

// Sessions that keep a connection for good may take at most three
// quarters of a pool: past that, the statement that would pin another one
// is refused with a clear error, and everybody else goes on.
func TestPinnedShareBounded(t *testing.T) {
	p := startProxyPool(t, 4) // 3 may be pinned
	db := p.db(t, "")
	db.SetMaxIdleConns(0)
	var pinned []*sql.Conn
	for i := range 3 {
		c := conn(t, db)
		if v := one[int](t, c, fmt.Sprintf("SELECT @p := %d", i)); v != i {
			t.Fatal(v)
		}
		pinned = append(pinned, c)
	}
	c := conn(t, db)
	_, err := c.ExecContext(context.Background(), "SELECT @p := 9")
	if err == nil || !strings.Contains(err.Error(), "are kept by sessions") {
		t.Fatalf("a 4th pinning statement: %v, want the pinned-share error", err)
	}
	mustExec(t, c, "REPLACE INTO t VALUES (31, 'unpinned')") // others go on
	if v := one[int](t, pinned[0], "SELECT @p"); v != 0 {
		t.Errorf("a pinned session lost its variable: %d", v)
	}
	pinned[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.ExecContext(context.Background(), "SELECT @p := 9"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after a pinned session left: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
