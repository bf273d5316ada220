package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the harness talks to MariaDB through database/sql
)

// RootPassword is the password of root on every MariaDB the harness starts.
const RootPassword = "rootpw"

// MariaDB is one mariadbd process with its data under the test's temp dir.
type MariaDB struct {
	Name     string
	ServerID int
	Port     int
	Dir      string
	t        testing.TB
	proc     *Process
	tls      TLSFiles
}

// Replication is one master and its slaves, replicating for real.
type Replication struct {
	Master *MariaDB
	Slaves []*MariaDB
	// TLS: every server offers TLS with this CA's certificate (for
	// 127.0.0.1); clients choose.
	TLS TLSFiles
}

// Addr is the server's host:port.
func (m *MariaDB) Addr() string { return "127.0.0.1:" + Itoa(m.Port) }

// DSN is a go-sql-driver/mysql DSN for root on this server.
func (m *MariaDB) DSN(db string) string {
	return fmt.Sprintf("root:%s@tcp(%s)/%s?multiStatements=true", RootPassword, m.Addr(), db)
}

// Pid is the process id, 0 when stopped.
func (m *MariaDB) Pid() int { return m.proc.Pid() }

// Kill kills the server (SIGKILL), like a crash.
func (m *MariaDB) Kill() { m.proc.Kill() }

// Stop stops the server cleanly.
func (m *MariaDB) Stop() { m.proc.Stop() }

// Start (re)starts the server and waits until it accepts logins. A slave
// resumes replication by itself.
func (m *MariaDB) Start() {
	m.t.Helper()
	m.proc.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := WaitTCP(ctx, m.Addr()); err != nil {
		m.t.Fatalf("%s: %v\n%s", m.Name, err, m.LogTail())
	}
}

// LogTail is the end of the error log, for failure messages.
func (m *MariaDB) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(m.Dir, "error.log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return m.proc.LogTail() + string(b)
}

// DB opens a database/sql handle as root; closed when the test ends.
func (m *MariaDB) DB(t testing.TB, db string) *sql.DB {
	t.Helper()
	h, err := sql.Open("mysql", m.DSN(db))
	if err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// Exec runs statements as root, failing the test on error.
func (m *MariaDB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	h, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	defer h.Close()
	for _, s := range stmts {
		if _, err := h.Exec(s); err != nil {
			t.Fatalf("%s: %s: %v", m.Name, s, err)
		}
	}
}

// StartReplication starts a master and n slaves replicating from it (binlog
// file/position replication, ROW format) and returns when the slaves run.
// Server ids are 1 for the master and 2, 3, … for the slaves.
func StartReplication(t testing.TB, n int) *Replication {
	t.Helper()
	installDB := Require(t, "mariadb-install-db", "mysql_install_db")
	mariadbd := Require(t, "mariadbd", "mysqld")
	root := t.TempDir()
	r := &Replication{}
	var err error
	if r.TLS, err = WriteTLS(root); err != nil {
		t.Fatal(err)
	}
	all := make([]*MariaDB, n+1)
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	for i := range all {
		name := "master"
		if i > 0 {
			name = fmt.Sprintf("slave%d", i-1)
		}
		m := &MariaDB{Name: name, ServerID: i + 1, Port: FreePort(t), Dir: filepath.Join(root, name), t: t, tls: r.TLS}
		all[i] = m
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.install(installDB) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", all[i].Name, err)
		}
	}
	for _, m := range all {
		m.proc = NewProcess(t, filepath.Join(m.Dir, "stdout.log"), nil, mariadbd, "--defaults-file="+filepath.Join(m.Dir, "my.cnf"))
		m.proc.Start()
	}
	r.Master, r.Slaves = all[0], all[1:]
	for _, m := range all {
		m.waitReady()
	}

	// Every server sets its own root password (not replicated: the slaves
	// start from the master's position after this).
	for _, m := range all {
		m.execNoPassword(t,
			"ALTER USER 'root'@'localhost' IDENTIFIED BY '"+RootPassword+"'",
			"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '"+RootPassword+"'",
		)
	}
	r.Master.Exec(t,
		"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'replpw'",
		"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
	)
	file, pos := r.Master.masterStatus(t)
	for _, s := range r.Slaves {
		s.Exec(t,
			fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='replpw', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d, MASTER_CONNECT_RETRY=1", r.Master.Port, file, pos),
			"START SLAVE",
			"SET GLOBAL read_only=1",
		)
	}
	r.Sync(t)
	return r
}

func (m *MariaDB) install(installDB string) error {
	// A private tmpdir: bootstraps running at once (test packages run in
	// parallel) otherwise collide on temporary table files in /tmp.
	if err := os.MkdirAll(filepath.Join(m.Dir, "tmp"), 0o755); err != nil {
		return err
	}
	cnf := fmt.Sprintf(`[mariadbd]
datadir=%[1]s/data
port=%[2]d
bind-address=127.0.0.1
socket=%[1]s/mysqld.sock
pid-file=%[1]s/mysqld.pid
log-error=%[1]s/error.log
tmpdir=%[1]s/tmp
user=root
server-id=%[3]d
log-bin=%[1]s/data/mysql-bin
relay-log=%[1]s/data/relay-bin
binlog-format=ROW
skip-name-resolve
innodb-buffer-pool-size=32M
innodb-log-file-size=16M
innodb-flush-log-at-trx-commit=2
sync-binlog=0
max-connections=500
ssl-ca=%[4]s
ssl-cert=%[5]s
ssl-key=%[6]s
`, m.Dir, m.Port, m.ServerID, m.tls.CA, m.tls.Cert, m.tls.Key)
	if err := os.WriteFile(filepath.Join(m.Dir, "my.cnf"), []byte(cnf), 0o644); err != nil {
		return err
	}
	// Rarely, a bootstrap fails on a loaded machine; one retry on a clean
	// directory, then report the server's own log.
	var out []byte
	var err error
	for try := 0; try < 2; try++ {
		os.RemoveAll(filepath.Join(m.Dir, "data"))
		out, err = exec.Command(installDB, "--defaults-file="+filepath.Join(m.Dir, "my.cnf"),
			"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
		if err == nil {
			return nil
		}
	}
	log, _ := os.ReadFile(filepath.Join(m.Dir, "error.log"))
	if len(out) > 1500 {
		out = out[:1500]
	}
	return fmt.Errorf("mariadb-install-db: %v\n%s\nerror.log:\n%s", err, out, log)
}

func (m *MariaDB) waitReady() {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := WaitTCP(ctx, m.Addr()); err != nil {
		m.t.Fatalf("%s: %v\n%s", m.Name, err, m.LogTail())
	}
}

func (m *MariaDB) execNoPassword(t testing.TB, stmts ...string) {
	t.Helper()
	h, err := sql.Open("mysql", "root@tcp("+m.Addr()+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range stmts {
		if _, err := h.Exec(s); err != nil {
			t.Fatalf("%s: %s: %v\n%s", m.Name, s, err, m.LogTail())
		}
	}
}

func (m *MariaDB) masterStatus(t testing.TB) (string, int64) {
	t.Helper()
	h, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rows, err := h.Query("SHOW MASTER STATUS")
	if err != nil {
		t.Fatalf("%s: SHOW MASTER STATUS: %v", m.Name, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("%s: SHOW MASTER STATUS: no row (binary log off?)", m.Name)
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var pos int64
	fmt.Sscan(string(vals[1]), &pos)
	return string(vals[0]), pos
}

// Sync waits until every running slave has applied everything the master
// has written so far.
func (r *Replication) Sync(t testing.TB) {
	t.Helper()
	file, pos := r.Master.masterStatus(t)
	for _, s := range r.Slaves {
		if s.Pid() == 0 {
			continue
		}
		h, err := sql.Open("mysql", s.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		var res sql.NullInt64
		err = h.QueryRow("SELECT MASTER_POS_WAIT(?, ?, 30)", file, pos).Scan(&res)
		h.Close()
		if err != nil || !res.Valid || res.Int64 < 0 {
			t.Fatalf("%s: not in sync with master at %s:%d (result %v, err %v)\n%s", s.Name, file, pos, res, err, s.LogTail())
		}
	}
}

// MainTB is a testing.TB for TestMain, so that one harness can serve all
// tests of a package. Fatalf and Skipf panic with a value Shared recovers.
type MainTB struct {
	testing.TB
	mu       sync.Mutex
	dir      string
	cleanups []func()
}

type tbStop struct {
	skip bool
	msg  string
}

// Helper does nothing.
func (m *MainTB) Helper() {}

// Cleanup registers f to run at Close.
func (m *MainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}

// Fatalf stops the harness start with an error.
func (m *MainTB) Fatalf(format string, a ...any) {
	panic(tbStop{msg: fmt.Sprintf(format, a...)})
}

// Fatal stops the harness start with an error.
func (m *MainTB) Fatal(a ...any) { panic(tbStop{msg: fmt.Sprint(a...)}) }

// Skipf stops the harness start, skipping the tests that need it.
func (m *MainTB) Skipf(format string, a ...any) {
	panic(tbStop{skip: true, msg: fmt.Sprintf(format, a...)})
}

// Logf writes to stderr.
func (m *MainTB) Logf(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }

// TempDir returns a directory removed at Close.
func (m *MainTB) TempDir() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dir == "" {
		d, err := os.MkdirTemp("", "shardgate-test-")
		if err != nil {
			panic(tbStop{msg: err.Error()})
		}
		m.dir = d
	}
	d, err := os.MkdirTemp(m.dir, "")
	if err != nil {
		panic(tbStop{msg: err.Error()})
	}
	return d
}

// Close runs the cleanups, last first, and removes the temp dirs.
func (m *MainTB) Close() {
	m.mu.Lock()
	cs := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	if m.dir != "" {
		os.RemoveAll(m.dir)
	}
}

// Shared starts one replication harness on first use and hands it to every
// test of a package; TestMain calls Close after m.Run. A harness that could
// not start skips (or, under CI, fails) each test that asks for it.
type Shared struct {
	Slaves int
	once   sync.Once
	tb     MainTB
	r      *Replication
	stop   *tbStop
}

// Get returns the shared harness, starting it if needed.
func (s *Shared) Get(t testing.TB) *Replication {
	t.Helper()
	s.once.Do(func() {
		defer func() {
			if v := recover(); v != nil {
				st, ok := v.(tbStop)
				if !ok {
					buf := make([]byte, 4096)
					st = tbStop{msg: fmt.Sprintf("panic: %v\n%s", v, buf[:runtime.Stack(buf, false)])}
				}
				s.stop = &st
				s.tb.Close()
			}
		}()
		n := s.Slaves
		if n == 0 {
			n = 2
		}
		s.r = StartReplication(&s.tb, n)
	})
	if s.stop != nil {
		if s.stop.skip {
			t.Skip(s.stop.msg)
		}
		t.Fatal("replication harness: " + strings.TrimSpace(s.stop.msg))
	}
	return s.r
}

// Close stops the servers.
func (s *Shared) Close() { s.tb.Close() }
