package driver_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/driver"
	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/orchestration"
)

var shared = &testenv.Shared{Slaves: 2}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var setupOnce sync.Once

// replication is the shared master and two slaves, with database drv.
func replication(t testing.TB) *testenv.Replication {
	r := shared.Get(t)
	setupOnce.Do(func() {
		r.Master.Exec(t,
			"CREATE DATABASE IF NOT EXISTS drv",
			"CREATE DATABASE IF NOT EXISTS drv2",
			"CREATE TABLE IF NOT EXISTS drv.t (id INT PRIMARY KEY, v VARCHAR(64))",
			"CREATE TABLE IF NOT EXISTS drv.sbtest (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)",
			"INSERT IGNORE INTO drv.t VALUES (1, 'one')",
		)
		r.Sync(t)
	})
	return r
}

// instanceFile writes an instance file for the replication r and returns
// its path.
func instanceFile(t testing.TB, r *testenv.Replication, regYAML, name, props string) string {
	ds := func(m *testenv.MariaDB) string {
		return fmt.Sprintf(`{url: "%s", username: root, password: %s, database: drv, healthCheckInterval: 100ms, connectTimeout: 1s}`, m.Addr(), testenv.RootPassword)
	}
	y := fmt.Sprintf(`
users: [{name: app, password: app-secret}]
dataSources:
  ds_master: %s
  ds_slave_0: %s
  ds_slave_1: %s
masterSlaveRule: {masterDataSourceName: ds_master, slaveDataSourceNames: [ds_slave_0, ds_slave_1]}
props: {%s}
orchestration:
  name: %s
  overwrite: true
  instanceIP: 127.0.0.1
  registry: %s
`, ds(r.Master), ds(r.Slaves[0]), ds(r.Slaves[1]), props, name, regYAML)
	p := filepath.Join(t.TempDir(), "shardgate.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// open opens a shardgate sql.DB the way applications do: sql.Open with
// the file's path.
func open(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("shardgate", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openConnector opens one through NewConnector, keeping the connector.
func openConnector(t testing.TB, path string) (*sql.DB, *driver.Connector) {
	t.Helper()
	f, err := orchestration.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(f)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db, c
}

// direct runs f on a plain go-sql-driver handle to m, closed afterwards
// (so that goroutine-leak checks see none of its goroutines).
func direct(t testing.TB, m *testenv.MariaDB, f func(*sql.DB)) {
	t.Helper()
	db, err := sql.Open("mysql", m.DSN("drv"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f(db)
}
