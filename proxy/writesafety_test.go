package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shardgate/shardgate/internal/sqlgen"
	"github.com/shardgate/shardgate/internal/testenv"
)

// binlogPos is a slave's own binary log position: it moves only when a
// statement is run on the slave itself (replicated events are not logged
// there, the harness has no log_slave_updates).
func binlogPos(t *testing.T, m *testenv.MariaDB) string {
	t.Helper()
	var file, pos, doDB, ignoreDB string
	if err := m.DB(t, "").QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
		t.Fatal(err)
	}
	return file + ":" + pos
}

func comSelect(t *testing.T, m *testenv.MariaDB) int {
	t.Helper()
	var name string
	var n int
	if err := m.DB(t, "").QueryRow("SHOW GLOBAL STATUS LIKE 'Com_select'").Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoWriteReachesSlave sends thousands of generated texts that try to
// hide an INSERT from the classifier (quotes, escapes, comments, executable
// comments, multi-byte characters) through the proxy, from a client with
// multi-statements on, under every sql_mode and character set that changes
// how the server reads them: no slave may run a single write.
func TestNoWriteReachesSlave(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	p.r.Master.Exec(t, "CREATE TABLE IF NOT EXISTS pt.ws (id INT AUTO_INCREMENT PRIMARY KEY)")
	p.r.Sync(t)
	before := make([]string, len(p.r.Slaves))
	selects := make([]int, len(p.r.Slaves))
	for i, s := range p.r.Slaves {
		before[i], selects[i] = binlogPos(t, s), comSelect(t, s)
	}
	db := p.db(t, "multiStatements=true")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	for i := 0; i < n; i++ {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mode := sqlgen.Modes[rng.IntN(len(sqlgen.Modes))]
		cs := sqlgen.Charsets[rng.IntN(len(sqlgen.Charsets))]
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION sql_mode = '%s', NAMES %s", mode, cs)); err != nil {
			t.Fatal(err)
		}
		text := sqlgen.Hiding(rng, "INSERT INTO ws VALUES ()")
		conn.ExecContext(ctx, text) // most fail to parse; what ran, ran
		conn.Raw(func(any) error { return nil })
		conn.Close()
	}
	var wrote int
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT COUNT(*) FROM ws").Scan(&wrote); err != nil {
		t.Fatal(err)
	}
	read := 0
	for i, s := range p.r.Slaves {
		if after := binlogPos(t, s); after != before[i] {
			t.Errorf("%s ran a write: its binary log moved from %s to %s", s.Name, before[i], after)
		}
		read += comSelect(t, s) - selects[i]
	}
	t.Logf("%d texts: %d inserts ran on the master, %d statements on the slaves, none wrote there", n, wrote, read)
	if wrote < n/10 || read < n/20 {
		t.Errorf("test too weak: %d inserts on the master, %d statements on the slaves", wrote, read)
	}
}

// A SELECT that calls a function that modifies data is classified as a
// read, fails on the slave's read-only session, and runs on the master
// without the client noticing; the text then goes to the master at once.
func TestWritingReadRunsOnMaster(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	for _, s := range p.r.Slaves {
		// The slave's SQL thread creates the function too.
		s.Exec(t, "SET GLOBAL log_bin_trust_function_creators = 1")
	}
	p.r.Master.Exec(t,
		"SET GLOBAL log_bin_trust_function_creators = 1",
		"CREATE TABLE IF NOT EXISTS pt.wlog (id INT AUTO_INCREMENT PRIMARY KEY, at INT)",
		"CREATE FUNCTION IF NOT EXISTS pt.wf() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO pt.wlog (at) VALUES (@@server_id); RETURN @@server_id; END",
	)
	p.r.Sync(t)
	before := make([]string, len(p.r.Slaves))
	for i, s := range p.r.Slaves {
		before[i] = binlogPos(t, s)
	}
	for _, params := range []string{"", "interpolateParams=false"} {
		db := p.db(t, params)
		for i := 0; i < 4; i++ {
			var id int
			var err error
			if params == "" {
				err = db.QueryRow("SELECT wf()").Scan(&id)
			} else {
				err = db.QueryRow("SELECT wf() + ?", 0).Scan(&id)
			}
			if err != nil || id != 1 {
				t.Fatalf("%s: SELECT wf() = %d, %v; want 1 (the master)", params, id, err)
			}
		}
	}
	var onMaster int
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT COUNT(*) FROM wlog WHERE at = 1").Scan(&onMaster); err != nil || onMaster != 8 {
		t.Errorf("rows written by wf() on the master: %d %v, want 8", onMaster, err)
	}
	for i, s := range p.r.Slaves {
		if after := binlogPos(t, s); after != before[i] {
			t.Errorf("%s ran a write: its binary log moved from %s to %s", s.Name, before[i], after)
		}
	}
}

// Setting the same variables again and again keeps one statement to
// replay; a session with more distinct state than maxReplay keeps its
// master connection (reads included) instead of replaying it all.
func TestReplayBounded(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	db := p.db(t, "")
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 500; i++ {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET sql_mode = '', @x = %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var x, id int
	if err := conn.QueryRowContext(ctx, "SELECT @x, @@server_id").Scan(&x, &id); err != nil || x != 499 || id == 1 {
		t.Fatalf("@x = %d on server %d (%v), want 499 on a slave", x, id, err)
	}
	for i := 0; i <= maxReplay; i++ {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET @v%d = %d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	var v0, v int
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT @v0, @v%d, @@server_id", maxReplay)).Scan(&v0, &v, &id); err != nil || v0 != 0 || v != maxReplay || id != 1 {
		t.Fatalf("@v0 = %d, @v%d = %d on server %d (%v), want the values on the master", v0, maxReplay, v, id, err)
	}
}
