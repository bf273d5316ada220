package proxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"encoding/binary"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/internal/testenv"
)

var shared = &testenv.Shared{Slaves: 2}

func TestMain(m *testing.M) {
	code := m.Run()
	if live.close != nil {
		live.close()
	}
	shared.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	user     = "app"
	password = "app-secret"
)

var setupOnce sync.Once

// harness returns the replication harness with database pt and table t.
func harness(t testing.TB) *testenv.Replication {
	r := shared.Get(t)
	setupOnce.Do(func() {
		r.Master.Exec(t,
			"CREATE DATABASE IF NOT EXISTS pt",
			"CREATE DATABASE IF NOT EXISTS pt2",
			"CREATE TABLE IF NOT EXISTS pt.t (id INT PRIMARY KEY, v VARCHAR(64))",
		)
		r.Sync(t)
	})
	return r
}

type proxyEnv struct {
	rt   *engine.Runtime
	srv  *Server
	addr string
	r    *testenv.Replication
}

// startProxy starts a proxy over the harness; props is YAML for props,
// extra more top-level YAML.
func startProxy(t *testing.T, props string, extra ...string) *proxyEnv {
	t.Helper()
	r := harness(t)
	y := fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}, {name: nopw, allowEmptyPassword: true}]
dataSources:
  master: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 100ms, connectTimeout: 1s}
  slave0: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 100ms, connectTimeout: 1s}
  slave1: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 100ms, connectTimeout: 1s}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave0, slave1]}
props: {%s}
%s
`, user, password, r.Master.Addr(), testenv.RootPassword, r.Slaves[0].Addr(), testenv.RootPassword, r.Slaves[1].Addr(), testenv.RootPassword, props, strings.Join(extra, "\n"))
	return startProxyYAML(t, r, y)
}

// startProxyYAML starts a proxy from a whole config.
func startProxyYAML(t testing.TB, r *testenv.Replication, y string) *proxyEnv {
	t.Helper()
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.NewRuntime(cfg, OpenPool)
	if err != nil {
		t.Fatal(err)
	}
	// No registry here to claim a SNOWFLAKE worker id from: the test owns id 1.
	rt.Keys().Grant(1, time.Time{}, time.Now().Add(24*time.Hour))
	srv, err := New(rt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		rt.Close()
	})
	return &proxyEnv{rt: rt, srv: srv, addr: ln.Addr().String(), r: r}
}

func (p *proxyEnv) dsn(params string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/pt?%s", user, password, p.addr, params)
}

func (p *proxyEnv) db(t *testing.T, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", p.dsn(params))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func serverID(t *testing.T, q querier, query string, args ...any) int {
	t.Helper()
	var id int
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&id); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return id
}

func TestRouting(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	db := p.db(t, "")
	seen := map[int]int{}
	for i := 0; i < 10; i++ {
		seen[serverID(t, db, "SELECT @@server_id")]++
	}
	if seen[1] != 0 || seen[2] != 5 || seen[3] != 5 {
		t.Errorf("reads by server id: %v, want 5 on each slave (2, 3)", seen)
	}
	// Writes, locking reads, side effects and the hint go to the master.
	for _, q := range []string{
		"SELECT @@server_id FOR UPDATE",
		"SELECT @@server_id FROM DUAL WHERE LAST_INSERT_ID() >= 0",
		"/* shardgate:master */ SELECT @@server_id",
		"SELECT /* shardgate:master */ @@server_id",
	} {
		if id := serverID(t, db, q); id != 1 {
			t.Errorf("%s: ran on server %d, want the master", q, id)
		}
	}
	// A write through the proxy lands on the master and replicates.
	if _, err := db.Exec("REPLACE INTO t VALUES (1, 'one')"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "one" {
		t.Fatalf("master: %q %v", v, err)
	}
	// A write is never sent to a slave: slaves are read_only for non-SUPER
	// users only, so check the binary log of each slave stays free of it.
	p.r.Sync(t)
	for _, s := range p.r.Slaves {
		var n int
		if err := s.DB(t, "pt").QueryRow("SELECT COUNT(*) FROM t WHERE id = 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: %d %v", s.Name, n, err)
		}
	}
}

func TestTransactionPinning(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	db := p.db(t, "")
	ctx := context.Background()
	for _, begin := range []string{"BEGIN", "START TRANSACTION", "SET autocommit=0"} {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, begin); err != nil {
			t.Fatal(err)
		}
		var first int64
		for i := 0; i < 4; i++ {
			var id int
			var cid int64
			if err := conn.QueryRowContext(ctx, "SELECT @@server_id, CONNECTION_ID() + 0 * ?", i).Scan(&id, &cid); err != nil {
				t.Fatal(err)
			}
			if id != 1 {
				t.Errorf("%s: read %d in transaction ran on server %d", begin, i, id)
			}
			if i == 0 {
				first = cid
			} else if cid != first {
				t.Errorf("%s: backend connection changed inside the transaction: %d then %d", begin, first, cid)
			}
		}
		end := "COMMIT"
		if begin == "SET autocommit=0" {
			end = "SET autocommit=1"
		}
		if _, err := conn.ExecContext(ctx, end); err != nil {
			t.Fatal(err)
		}
		if id := serverID(t, conn, "SELECT @@server_id"); id == 1 {
			t.Errorf("%s: read after %s still on the master", begin, end)
		}
		conn.Close()
	}
	// database/sql transactions.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if id := serverID(t, tx, "SELECT @@server_id"); id != 1 {
		t.Errorf("sql.Tx read ran on %d", id)
	}
	tx.Rollback()
}

func TestReadYourWrites(t *testing.T) {
	for _, tc := range []struct {
		props       string
		right, late bool // read on the master right after the write; 300ms later
	}{
		{"readYourWrites: off", false, false},
		{"readYourWrites: window, readYourWritesWindow: 200ms", true, false},
		{"readYourWrites: session", true, true},
	} {
		t.Run(tc.props, func(t *testing.T) {
			p := startProxy(t, tc.props)
			ctx := context.Background()
			conn, err := p.db(t, "").Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if id := serverID(t, conn, "SELECT @@server_id"); id == 1 {
				t.Fatal("read before any write went to the master")
			}
			if _, err := conn.ExecContext(ctx, "REPLACE INTO t VALUES (2, 'two')"); err != nil {
				t.Fatal(err)
			}
			if id := serverID(t, conn, "SELECT @@server_id"); (id == 1) != tc.right {
				t.Errorf("read right after the write ran on %d", id)
			}
			time.Sleep(300 * time.Millisecond)
			if id := serverID(t, conn, "SELECT @@server_id"); (id == 1) != tc.late {
				t.Errorf("read 300ms after the write ran on %d", id)
			}
		})
	}
}

func TestPreparedStatements(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	db := p.db(t, "")
	st, err := db.Prepare("SELECT @@server_id, ? + 1, CONCAT(?, 'x')")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[int]bool{}
	for i := 0; i < 6; i++ {
		var id, n int
		var s string
		if err := st.QueryRow(i, "v").Scan(&id, &n, &s); err != nil {
			t.Fatal(err)
		}
		if n != i+1 || s != "vx" {
			t.Fatalf("got %d %q", n, s)
		}
		seen[id] = true
	}
	if seen[1] || !seen[2] || !seen[3] {
		t.Errorf("prepared reads ran on %v, want both slaves only", seen)
	}
	// Parameters of other types on later executions, NULLs, and a write.
	ins, err := db.Prepare("REPLACE INTO t VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	for i, v := range []any{"a", nil, []byte("c"), 42} {
		if _, err := ins.Exec(10+i, v); err != nil {
			t.Fatalf("insert %v: %v", v, err)
		}
	}
	var v sql.NullString
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT v FROM t WHERE id = 11").Scan(&v); err != nil || v.Valid {
		t.Fatalf("NULL parameter: %v %v", v, err)
	}
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT v FROM t WHERE id = 13").Scan(&v); err != nil || v.String != "42" {
		t.Fatalf("int parameter: %v %v", v, err)
	}
	// A prepare error comes back as the server's error.
	_, err = db.Prepare("SELECT * FROM no_such_table WHERE id = ?")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Errorf("prepare error: %v", err)
	}
	// Many rows through the binary protocol.
	var n int
	rows, err := db.Query("SELECT seq FROM seq_1_to_5000 WHERE seq > ?", 0)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n != 5000 {
		t.Errorf("rows %d %v", n, rows.Err())
	}
}

func TestErrorPassThrough(t *testing.T) {
	p := startProxy(t, "")
	db := p.db(t, "")
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("REPLACE INTO t VALUES (3, 'three')"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q     string
		code  uint16
		state string
		msg   string
	}{
		{"SELECT * FROM no_such_table", 1146, "42S02", "Table 'pt.no_such_table' doesn't exist"},
		{"INSERT INTO t VALUES (3, 'dup')", 1062, "23000", "Duplicate entry '3' for key 'PRIMARY'"},
		{"SELEC 1", 1064, "42000", "You have an error in your SQL syntax"},
	} {
		_, err := db.Exec(tc.q)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != tc.code || string(me.SQLState[:]) != tc.state || !strings.Contains(me.Message, tc.msg) {
			t.Errorf("%s: %#v", tc.q, err)
		}
		// The connection stays usable.
		if serverID(t, db, "SELECT @@server_id") == 0 {
			t.Error("unusable after error")
		}
	}
}

// Temporary tables and user locks live on one master connection: the
// session stays there.
func TestSessionPinning(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	ctx := context.Background()
	conn, err := p.db(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE TEMPORARY TABLE tmp (a INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO tmp VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		var n, id int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*), @@server_id FROM tmp").Scan(&n, &id); err != nil || n != 1 || id != 1 {
			t.Fatalf("temporary table read %d: n=%d server %d %v", i, n, id, err)
		}
	}
	other, err := p.db(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var got int
	if err := other.QueryRowContext(ctx, "SELECT GET_LOCK('shardgate-test', 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %d %v", got, err)
	}
	for i := 0; i < 3; i++ {
		var owner sql.NullInt64
		var mine int64
		if err := other.QueryRowContext(ctx, "SELECT IS_USED_LOCK('shardgate-test'), CONNECTION_ID()").Scan(&owner, &mine); err != nil || owner.Int64 != mine {
			t.Fatalf("lock owner %v, session's backend connection %d: %v", owner, mine, err)
		}
	}
}

// SHOW WARNINGS and SHOW ERRORS read the connection that ran the previous
// statement, even when that was a slave.
func TestShowWarnings(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	ctx := context.Background()
	conn, err := p.db(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 4; i++ {
		var v int
		if err := conn.QueryRowContext(ctx, "SELECT CAST('12x' AS UNSIGNED)").Scan(&v); err != nil {
			t.Fatal(err)
		}
		var level, msg string
		var code int
		if err := conn.QueryRowContext(ctx, "SHOW WARNINGS").Scan(&level, &code, &msg); err != nil || code != 1292 {
			t.Errorf("SHOW WARNINGS after a read with a warning: %d %q %v", code, msg, err)
		}
		conn.ExecContext(ctx, "SELECT * FROM no_such_table")
		if err := conn.QueryRowContext(ctx, "SHOW ERRORS").Scan(&level, &code, &msg); err != nil || code != 1146 {
			t.Errorf("SHOW ERRORS after an error: %d %q %v", code, msg, err)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	p := startProxy(t, "")
	for _, dsn := range []string{
		fmt.Sprintf("%s:wrong@tcp(%s)/pt", user, p.addr),
		fmt.Sprintf("nobody:x@tcp(%s)/pt", p.addr),
	} {
		db, _ := sql.Open("mysql", dsn)
		err := db.Ping()
		db.Close()
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1045 {
			t.Errorf("%s: %v", dsn, err)
		}
	}
	// An empty password, and an unknown database.
	db, _ := sql.Open("mysql", fmt.Sprintf("nopw@tcp(%s)/pt", p.addr))
	if err := db.Ping(); err != nil {
		t.Errorf("empty password: %v", err)
	}
	db.Close()
	db, _ = sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/nodb", user, password, p.addr))
	var me *mysql.MySQLError
	if err := db.Ping(); !errors.As(err, &me) || me.Number != 1049 {
		t.Errorf("unknown database: %v", err)
	}
	db.Close()
}

// A client whose default plugin is caching_sha2_password (MySQL 8 clients)
// answers the greeting with a SHA-256 scramble: fast authentication.
func TestCachingSHA2Client(t *testing.T) {
	p := startProxy(t, "")
	for _, tc := range []struct {
		pw   string
		want byte
	}{{password, 0x00}, {"wrong", 0xff}} {
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := wire.NewConn(nc, 4096)
		g, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		// Salt: 8 bytes after version and thread id, 12 more after the fixed part.
		v := indexNUL(g[1:]) + 2
		salt := append(append([]byte(nil), g[v+4:v+12]...), g[v+31:v+43]...)
		auth := wire.ScrambleSHA2(salt, tc.pw)
		b := binary.LittleEndian.AppendUint32(nil, wire.Capabilities)
		b = binary.LittleEndian.AppendUint32(b, 1<<24)
		b = append(b, 45)
		b = append(b, make([]byte, 23)...)
		b = append(append(b, user...), 0)
		b = append(wire.AppendLenenc(b, uint64(len(auth))), auth...)
		b = append(append(b, "pt"...), 0)
		b = append(append(b, "caching_sha2_password"...), 0)
		c.WritePacket(b)
		c.Flush()
		r, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == 0 {
			if len(r) != 2 || r[0] != 1 || r[1] != 3 {
				t.Fatalf("want fast-auth OK, got % x", r)
			}
			r, _ = c.ReadPacket()
		}
		if len(r) == 0 || r[0] != tc.want {
			t.Errorf("password %q: got % x", tc.pw, r)
		}
		if tc.want == 0xff && wire.ParseError(r).Code != 1045 {
			t.Errorf("wrong password: %v", wire.ParseError(r))
		}
		nc.Close()
	}
}

func TestSessionReplay(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	ctx := context.Background()
	conn, err := p.db(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET @x = 42", "SET SESSION sql_mode = 'ANSI_QUOTES'", "USE pt2"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]bool{}
	for i := 0; i < 6; i++ {
		var id, x int
		var mode, db string
		if err := conn.QueryRowContext(ctx, "SELECT @@server_id, @x, @@sql_mode, DATABASE()").Scan(&id, &x, &mode, &db); err != nil {
			t.Fatal(err)
		}
		seen[id] = true
		if x != 42 || mode != "ANSI_QUOTES" || db != "pt2" {
			t.Errorf("server %d: @x=%d sql_mode=%q db=%q", id, x, mode, db)
		}
	}
	if !seen[2] || !seen[3] {
		t.Errorf("reads ran on %v, want both slaves", seen)
	}
	// Another session does not inherit that state.
	other, err := p.db(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := 0; i < 4; i++ {
		var x sql.NullInt64
		var mode, db string
		if err := other.QueryRowContext(ctx, "SELECT @x, @@sql_mode, DATABASE()").Scan(&x, &mode, &db); err != nil {
			t.Fatal(err)
		}
		if x.Valid || mode == "ANSI_QUOTES" || db != "pt" {
			t.Errorf("other session inherited state: @x=%v sql_mode=%q db=%q", x, mode, db)
		}
	}
}

func TestMultiStatements(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	db := p.db(t, "multiStatements=true")
	rows, err := db.Query("SELECT @@server_id; SELECT 2")
	if err != nil {
		t.Fatal(err)
	}
	var sets []int
	for {
		for rows.Next() {
			var v int
			rows.Scan(&v)
			sets = append(sets, v)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	rows.Close()
	// Several statements in one text run on the master (slave
	// connections accept one statement per command).
	if len(sets) != 2 || sets[0] != 1 || sets[1] != 2 {
		t.Errorf("results %v, want [1 2]", sets)
	}
	if _, err := db.Exec("REPLACE INTO t VALUES (20, 'a'); REPLACE INTO t VALUES (21, 'b')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT COUNT(*) FROM t WHERE id IN (20, 21)").Scan(&n); err != nil || n != 2 {
		t.Errorf("multi write: %d %v", n, err)
	}
	// Without the capability, multi-statements are refused.
	var me *mysql.MySQLError
	if _, err := p.db(t, "").Exec("SELECT 1; SELECT 2"); !errors.As(err, &me) || me.Number != 1064 {
		t.Errorf("multi without capability: %v", err)
	}
}

func TestDisconnectMidTransaction(t *testing.T) {
	p := startProxy(t, "")
	ctx := context.Background()
	db := p.db(t, "")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "REPLACE INTO t VALUES (30, 'uncommitted')"); err != nil {
		t.Fatal(err)
	}
	// Drop the client connection without COMMIT.
	conn.Raw(func(c any) error { return errors.New("discard") })
	conn.Close()
	db.Close()
	time.Sleep(200 * time.Millisecond)
	var n int
	if err := p.r.Master.DB(t, "pt").QueryRow("SELECT COUNT(*) FROM t WHERE id = 30").Scan(&n); err != nil || n != 0 {
		t.Fatalf("uncommitted row visible after disconnect: %d %v", n, err)
	}
	// The pooled master connection comes back clean.
	db2 := p.db(t, "")
	for i := 0; i < 3; i++ {
		var inTx int
		if err := db2.QueryRow("/* shardgate:master */ SELECT @@in_transaction").Scan(&inTx); err != nil || inTx != 0 {
			t.Fatalf("dirty pooled connection: in_transaction=%d %v", inTx, err)
		}
	}
}

func TestInstanceDisabled(t *testing.T) {
	p := startProxy(t, "")
	db := p.db(t, "")
	db.SetMaxOpenConns(1)
	serverID(t, db, "SELECT @@server_id")
	path := "/app/state/instances/127.0.0.1@-@1"
	if err := p.rt.SetState(config.State{InstanceDisabled: true, InstancePath: path}); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec("SELECT 1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || !strings.Contains(me.Message, path) {
		t.Errorf("disabled instance: %v", err)
	}
	if _, err := db.Exec("ROLLBACK"); err != nil {
		t.Errorf("ROLLBACK on a disabled instance: %v", err)
	}
	p.rt.SetState(config.State{})
	serverID(t, db, "SELECT @@server_id")
	// A disabled slave gets no reads.
	p.rt.SetState(config.State{DisabledDataSources: map[string]string{"slave0": ""}})
	for i := 0; i < 4; i++ {
		if id := serverID(t, db, "SELECT @@server_id"); id != 3 {
			t.Errorf("slave0 disabled: read ran on %d", id)
		}
	}
	p.rt.SetState(config.State{})
}

func TestMariaDBClient(t *testing.T) {
	cli := testenv.Require(t, "mariadb", "mysql")
	p := startProxy(t, "readYourWrites: off")
	host, port, _ := net.SplitHostPort(p.addr)
	run := func(args ...string) (string, error) {
		base := []string{"--no-defaults", "-h", host, "-P", port, "-u", user, "-p" + password, "--batch", "--skip-column-names"}
		out, err := exec.Command(cli, append(base, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := run("pt", "-e", "SELECT @@server_id; BEGIN; SELECT @@server_id; COMMIT; REPLACE INTO t VALUES (40, 'cli'); SELECT v FROM t WHERE id = 40 FOR UPDATE")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Fields(out)
	if len(lines) != 3 || lines[0] == "1" || lines[1] != "1" || lines[2] != "cli" {
		t.Errorf("mariadb CLI output %q", lines)
	}
	out, err = run("pt", "-e", "SELECT * FROM no_such_table")
	if err == nil || !strings.Contains(out, "ERROR 1146 (42S02)") {
		t.Errorf("CLI error: %v %s", err, out)
	}
	out, err = run("-e", "SELECT 1", "--password=wrong")
	if err == nil || !strings.Contains(out, "ERROR 1045 (28000)") {
		t.Errorf("CLI wrong password: %v %s", err, out)
	}
}

// A master restart leaves the pool's idle connections dead; the next write
// must get a live one, not an error.
func TestMasterRestart(t *testing.T) {
	p := startProxy(t, "")
	db := p.db(t, "")
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("REPLACE INTO t VALUES (70, 'before')"); err != nil {
		t.Fatal(err)
	}
	p.r.Master.Stop()
	p.r.Master.Start()
	if _, err := db.Exec("REPLACE INTO t VALUES (70, 'after')"); err != nil {
		t.Fatalf("write after master restart: %v", err)
	}
	p.r.Sync(t)
}

// Kept last in the file: it kills a slave and restarts it.
func TestSlaveKilled(t *testing.T) {
	p := startProxy(t, "readYourWrites: off")
	db := p.db(t, "")
	db.SetMaxIdleConns(8)
	// Warm both slave pools.
	for i := 0; i < 8; i++ {
		serverID(t, db, "SELECT @@server_id")
	}
	victim := p.r.Slaves[0]
	victim.Kill()
	defer func() {
		victim.Start()
		p.r.Sync(t)
	}()
	for i := 0; i < 20; i++ {
		if id := serverID(t, db, "SELECT @@server_id"); id != 3 {
			t.Errorf("read %d with slave0 dead ran on %d", i, id)
		}
	}
	// Prepared reads move too.
	for i := 0; i < 4; i++ {
		if id := serverID(t, db, "SELECT @@server_id + 0 * ?", i); id != 3 {
			t.Errorf("prepared read with slave0 dead ran on %d", id)
		}
	}
	// Both slaves dead: reads go to the master.
	p.r.Slaves[1].Kill()
	defer p.r.Slaves[1].Start()
	for i := 0; i < 4; i++ {
		if id := serverID(t, db, "SELECT @@server_id"); id != 1 {
			t.Errorf("read with both slaves dead ran on %d", id)
		}
	}
}

// A master that cannot be reached answers a write with 2003 (can't
// connect), not 2013 (connection lost), and names the data source.
func TestMasterUnreachableCode(t *testing.T) {
	r := harness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := startProxyYAML(t, r, fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}]
dataSources:
  master: {url: "%s", username: root, password: %s, database: pt, connectTimeout: 1s}
  slave0: {url: "%s", username: root, password: %s, database: pt, connectTimeout: 1s}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave0]}
`, user, password, dead, testenv.RootPassword, r.Slaves[0].Addr(), testenv.RootPassword))
	db := p.db(t, "")
	_, err = db.Exec("REPLACE INTO t VALUES (71, 'x')")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 2003 || !strings.Contains(me.Message, "master") {
		t.Fatalf("write with the master unreachable: %v; want error 2003 naming master", err)
	}
	if id := serverID(t, db, "SELECT @@server_id"); id == 0 {
		t.Fatal("reads stopped with the master")
	}
}
