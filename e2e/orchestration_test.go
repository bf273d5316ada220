package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/registry"
)

func TestOrchestrationEtcd(t *testing.T) { testOrchestration(t, orchenv.Etcd(t, "app")) }

func TestOrchestrationZooKeeper(t *testing.T) { testOrchestration(t, orchenv.ZooKeeper(t, "app")) }

func testOrchestration(t *testing.T, env *orchenv.Registry) {
	r := replication(t)
	reg := env.Client(t)
	ctx := context.Background()
	a := startProxy(t, env, instanceYAML(r, env, "app", freePort(t)), reg)
	b := startProxy(t, env, instanceYAML(r, env, "app", freePort(t)), reg)
	dbA, dbB := a.db(t), b.db(t)
	master, slave0, slave1 := r.Master.ServerID, r.Slaves[0].ServerID, r.Slaves[1].ServerID

	kids, err := reg.Children(ctx, "/state/instances")
	if err != nil || len(kids) != 2 {
		t.Fatalf("instances registered: %v %v", kids, err)
	}
	for _, ds := range []string{"ds_master", "ds_slave_0", "ds_slave_1"} {
		if v, _, err := reg.Get(ctx, "/state/datasources/"+ds); err != nil || len(v) != 0 {
			t.Fatalf("state node of %s: %q %v", ds, v, err)
		}
	}
	if ids := orchenv.ReadIDs(t, dbA, 20); ids[slave0] == 0 || ids[slave1] == 0 || ids[master] != 0 {
		t.Fatalf("reads before any change: %v", ids)
	}

	t.Run("SlaveDisabled", func(t *testing.T) {
		env.MustSet(t, "/state/datasources/ds_slave_0", "DISABLED")
		for _, db := range []*sql.DB{dbA, dbB} {
			orchenv.Eventually(t, "slave0 out of rotation", func() error {
				if ids := orchenv.ReadIDs(t, db, 10); ids[slave0] != 0 || ids[master] != 0 {
					return fmt.Errorf("reads: %v", ids)
				}
				return nil
			})
		}
		orchenv.Eventually(t, "metrics show slave0 disabled", func() error {
			if _, m := a.adminGet(t, reg, "/metrics"); !strings.Contains(m, `shardgate_datasource_disabled{datasource="ds_slave_0",role="slave"} 1`) {
				return fmt.Errorf("metrics do not show it")
			}
			return nil
		})
		env.MustSet(t, "/state/datasources/ds_slave_1", " disabled ")
		orchenv.Eventually(t, "all slaves disabled: reads on the master", func() error {
			if ids := orchenv.ReadIDs(t, dbA, 10); ids[master] != 10 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
		env.MustSet(t, "/state/datasources/ds_slave_0", "")
		env.MustSet(t, "/state/datasources/ds_slave_1", "")
		orchenv.Eventually(t, "slaves back", func() error {
			if ids := orchenv.ReadIDs(t, dbA, 20); ids[slave0] == 0 || ids[slave1] == 0 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
	})

	t.Run("MasterDisabled", func(t *testing.T) {
		env.MustSet(t, "/state/datasources/ds_master", "DISABLED")
		orchenv.Eventually(t, "writes fail fast", func() error {
			_, err := dbA.Exec("INSERT INTO t VALUES (1, 'x') ON DUPLICATE KEY UPDATE v = 'x'")
			if err == nil || !strings.Contains(err.Error(), "state/datasources/ds_master") {
				return fmt.Errorf("write with master disabled: %v", err)
			}
			return nil
		})
		if ids := orchenv.ReadIDs(t, dbA, 10); ids[master] != 0 {
			t.Fatalf("reads with master disabled: %v", ids)
		}
		env.MustSet(t, "/state/datasources/ds_master", "")
		orchenv.Eventually(t, "writes work again", func() error {
			_, err := dbA.Exec("INSERT INTO t VALUES (1, 'x') ON DUPLICATE KEY UPDATE v = 'x'")
			return err
		})
	})

	t.Run("CircuitBreaker", func(t *testing.T) {
		// A transaction is open on A when its instance is disabled.
		conn, err := dbA.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		mustExec(t, conn, "BEGIN")
		mustExec(t, conn, "INSERT INTO t VALUES (100, 'uncommitted')")
		env.MustSet(t, "/state/instances/"+a.id, "DISABLED")
		orchenv.Eventually(t, "A rejects statements", func() error {
			_, err := dbA.Exec("SELECT 1")
			return wantBreakerError(err, a.id)
		})
		// Statement metrics moved: reads on the slaves, breaker errors.
		_, m := a.adminGet(t, reg, "/metrics")
		for _, want := range []string{`shardgate_statements_total{datasource="ds_slave_1",kind="read"}`, `shardgate_statement_errors_total{code="1105"}`, `shardgate_statement_duration_seconds_bucket{kind="read"`} {
			if !strings.Contains(m, want) {
				t.Fatalf("metrics of A lack %s", want)
			}
		}
		// The admin endpoint tells load balancers to drain A.
		if code, body := a.adminGet(t, reg, "/readyz"); code != 503 || !strings.Contains(body, "circuit-broken") {
			t.Fatalf("/readyz of a circuit-broken instance: %d %s", code, body)
		}
		if code, _ := b.adminGet(t, reg, "/readyz"); code != 200 {
			t.Fatalf("/readyz of B: %d", code)
		}
		if _, m := a.adminGet(t, reg, "/metrics"); !strings.Contains(m, "shardgate_instance_circuit_broken 1") {
			t.Fatalf("metrics of A do not show the circuit breaker")
		}
		if _, st := a.adminGet(t, reg, "/api/v1/state"); !strings.Contains(st, `"disabled": true`) || !strings.Contains(st, a.id) {
			t.Fatalf("/api/v1/state of A: %s", st)
		}
		// COMMIT fails, and the backend transaction is rolled back at once.
		_, err = conn.ExecContext(ctx, "COMMIT")
		if wantBreakerError(err, a.id) != nil || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("COMMIT on a circuit-broken instance: %v", err)
		}
		// New connections are accepted; each statement gets the error, but
		// ROLLBACK still works.
		fresh := a.db(t)
		if _, err := fresh.Exec("SELECT 1"); wantBreakerError(err, a.id) != nil {
			t.Fatalf("new connection: %v", err)
		}
		if _, err := fresh.Exec("ROLLBACK"); err != nil {
			t.Fatalf("ROLLBACK on a circuit-broken instance: %v", err)
		}
		// B is untouched.
		if _, err := dbB.Exec("SELECT 1"); err != nil {
			t.Fatalf("instance B while A is disabled: %v", err)
		}
		var n int
		if err := dbB.QueryRow("SELECT COUNT(*) FROM t WHERE id = 100 /* shardgate:master */").Scan(&n); err != nil || n != 0 {
			t.Fatalf("the transaction of a circuit-broken COMMIT was committed: %d rows, %v", n, err)
		}
		env.MustSet(t, "/state/instances/"+a.id, "")
		orchenv.Eventually(t, "A serves again", func() error {
			_, err := dbA.Exec("SELECT 1")
			return err
		})
		if code, body := a.adminGet(t, reg, "/readyz"); code != 200 {
			t.Fatalf("/readyz after enabling: %d %s", code, body)
		}
		// The failed COMMIT ended the transaction: the same connection, which
		// would see its own uncommitted row in an open one, sees none.
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE id = 100 /* shardgate:master */").Scan(&n); err != nil || n != 0 {
			t.Fatalf("after a failed COMMIT: %d rows with id 100, %v", n, err)
		}
	})

	t.Run("LiveConfig", func(t *testing.T) {
		// Statements in flight on a data source that leaves the rule, and on
		// one whose pool is replaced, finish normally.
		inflight := make(chan error, 4)
		for range 4 {
			go func() {
				var s, id int
				inflight <- dbA.QueryRow("SELECT SLEEP(1), @@server_id").Scan(&s, &id)
			}()
		}
		time.Sleep(200 * time.Millisecond)
		rule := "masterDataSourceName: ds_master\nslaveDataSourceNames: [ds_slave_1]\n"
		if _, err := reg.Put(ctx, "/config/masterslave/rule", []byte(rule)); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if err := <-inflight; err != nil {
				t.Fatalf("statement in flight during a config change: %v", err)
			}
		}
		for _, db := range []*sql.DB{dbA, dbB} {
			orchenv.Eventually(t, "rule without slave0 applied", func() error {
				if ids := orchenv.ReadIDs(t, db, 10); ids[slave0] != 0 || ids[slave1] != 10 {
					return fmt.Errorf("reads: %v", ids)
				}
				return nil
			})
		}
		// An invalid rule is rejected; the last good one stays.
		if _, err := reg.Put(ctx, "/config/masterslave/rule", []byte("masterDataSourceName: nowhere\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if ids := orchenv.ReadIDs(t, dbA, 10); ids[slave1] != 10 {
			t.Fatalf("reads after an invalid rule: %v", ids)
		}
		rule = "masterDataSourceName: ds_master\nslaveDataSourceNames: [ds_slave_0, ds_slave_1]\n"
		if _, err := reg.Put(ctx, "/config/masterslave/rule", []byte(rule)); err != nil {
			t.Fatal(err)
		}
		orchenv.Eventually(t, "rule with both slaves applied", func() error {
			if ids := orchenv.ReadIDs(t, dbA, 20); ids[slave0] == 0 || ids[slave1] == 0 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
	})

	t.Run("RegistryOutage", func(t *testing.T) {
		env.Stop()
		// Instances keep serving with the last known state.
		for range 3 {
			if _, err := dbA.Exec("INSERT INTO t VALUES (2, 'outage') ON DUPLICATE KEY UPDATE v = 'outage'"); err != nil {
				t.Fatalf("write while the registry is down: %v", err)
			}
			if ids := orchenv.ReadIDs(t, dbB, 10); ids[master] != 0 {
				t.Fatalf("reads while the registry is down: %v", ids)
			}
			time.Sleep(time.Second)
		}
		env.Start()
		// A change made as soon as the registry is back is honoured.
		env.Eventually(t, "operator write after the outage", func() error {
			return env.Set("/state/datasources/ds_slave_1", "DISABLED")
		})
		for _, db := range []*sql.DB{dbA, dbB} {
			env.Eventually(t, "slave1 disabled after the outage", func() error {
				if ids := orchenv.ReadIDs(t, db, 10); ids[slave1] != 0 {
					return fmt.Errorf("reads: %v", ids)
				}
				return nil
			})
		}
		env.MustSet(t, "/state/datasources/ds_slave_1", "")
		// Both instances are still registered (etcd leases may have been
		// replaced, ZooKeeper sessions kept or renewed).
		env.Eventually(t, "instances registered after the outage", func() error {
			kids, err := reg.Children(ctx, "/state/instances")
			if err != nil || len(kids) != 2 {
				return fmt.Errorf("instances %v, %v", kids, err)
			}
			return nil
		})
	})

	t.Run("InstanceNodes", func(t *testing.T) {
		// kill -9: the node goes within the TTL; graceful stop: at once.
		a.Kill()
		orchenv.Eventually(t, "killed instance's node gone", func() error {
			if _, _, err := reg.Get(ctx, "/state/instances/"+a.id); !errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("still there (%v)", err)
			}
			return nil
		})
		start := time.Now()
		b.Stop()
		for _, p := range []string{"/state/instances/" + b.id, "/meta/instances/" + b.id} {
			if _, _, err := reg.Get(ctx, p); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("stopped instance's node %s still there %s after stop: %v", p, time.Since(start), err)
			}
		}
	})
}

func mustExec(t *testing.T, c *sql.Conn, q string) {
	t.Helper()
	if _, err := c.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// wantBreakerError checks the circuit breaker's error: a MySQL error that
// names the instance node.
func wantBreakerError(err error, id string) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return fmt.Errorf("want a MySQL error naming the instance node, got %v", err)
	}
	if !strings.Contains(me.Message, "state/instances/"+id) {
		return fmt.Errorf("error does not name the node: %v", me)
	}
	return nil
}
