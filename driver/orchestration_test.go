package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/driver"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
)

func TestOrchestrationEtcd(t *testing.T) { testOrchestration(t, orchenv.Etcd(t, "orch")) }

func TestOrchestrationZooKeeper(t *testing.T) { testOrchestration(t, orchenv.ZooKeeper(t, "orch")) }

// testOrchestration drives the driver with the operators' own commands
// (etcdctl put / zkCli.sh set), as the proxy's e2e tests do: state read at
// start, disabled slaves, master disabled, circuit breaker, live config,
// and Close deregistering the instance and stopping every goroutine.
func testOrchestration(t *testing.T, env *orchenv.Registry) {
	r := replication(t)
	reg := env.Client(t)
	ctx := context.Background()
	master, slave0, slave1 := r.Master.ServerID, r.Slaves[0].ServerID, r.Slaves[1].ServerID
	// A data source disabled before the instance starts stays disabled.
	if _, err := reg.Put(ctx, "/state/datasources/ds_slave_1", []byte("disabled \n")); err != nil {
		t.Fatal(err)
	}
	leaks := goleak.IgnoreCurrent()
	db, c := openConnector(t, instanceFile(t, r, env.YAML, "orch", `readYourWrites: "off"`))
	inst := orchestration.InstancePath(c.ID())
	if v, _, err := reg.Get(ctx, inst); err != nil || len(v) != 0 {
		t.Fatalf("instance node %s: %q %v", inst, v, err)
	}
	if ids := orchenv.ReadIDs(t, db, 10); ids[slave0] != 10 {
		t.Fatalf("reads with slave1 disabled before start: %v", ids)
	}
	env.MustSet(t, "/state/datasources/ds_slave_1", "")
	orchenv.Eventually(t, "slave1 enabled", func() error {
		if ids := orchenv.ReadIDs(t, db, 20); ids[slave0] == 0 || ids[slave1] == 0 || ids[master] != 0 {
			return fmt.Errorf("reads: %v", ids)
		}
		return nil
	})

	// Without props.readOnlyTransactionsOnSlave a read-only transaction
	// runs on the master.
	ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ids := orchenv.ReadIDs(t, ro, 3); ids[master] != 3 {
		t.Fatalf("read-only transaction: %v", ids)
	}
	ro.Rollback()

	t.Run("SlaveDisabled", func(t *testing.T) {
		// A read running on slave0 when it is disabled finishes.
		inflight := make(chan error, 2)
		for range 2 {
			go func() {
				var s, id int
				inflight <- db.QueryRow("SELECT SLEEP(0.5), @@server_id").Scan(&s, &id)
			}()
		}
		time.Sleep(100 * time.Millisecond)
		env.MustSet(t, "/state/datasources/ds_slave_0", "DISABLED")
		orchenv.Eventually(t, "slave0 out of rotation", func() error {
			if ids := orchenv.ReadIDs(t, db, 10); ids[slave1] != 10 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
		for range 2 {
			if err := <-inflight; err != nil {
				t.Fatalf("read in flight when its slave was disabled: %v", err)
			}
		}
		env.MustSet(t, "/state/datasources/ds_slave_1", "Disabled")
		orchenv.Eventually(t, "all slaves disabled: reads on the master", func() error {
			if ids := orchenv.ReadIDs(t, db, 10); ids[master] != 10 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
		env.MustSet(t, "/state/datasources/ds_slave_0", "")
		env.MustSet(t, "/state/datasources/ds_slave_1", "")
		orchenv.Eventually(t, "slaves back", func() error {
			if ids := orchenv.ReadIDs(t, db, 20); ids[slave0] == 0 || ids[slave1] == 0 || ids[master] != 0 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
	})

	t.Run("MasterDisabled", func(t *testing.T) {
		env.MustSet(t, "/state/datasources/ds_master", "DISABLED")
		orchenv.Eventually(t, "writes fail", func() error {
			_, err := db.Exec("REPLACE INTO drv.t VALUES (10, 'x')")
			if !errors.Is(err, driver.ErrMasterDisabled) {
				return fmt.Errorf("write: %v", err)
			}
			if !strings.Contains(err.Error(), "/state/datasources/ds_master") {
				return fmt.Errorf("error does not name the node: %v", err)
			}
			return nil
		})
		if _, err := db.Begin(); !errors.Is(err, driver.ErrMasterDisabled) {
			t.Fatalf("begin with the master disabled: %v", err)
		}
		if ids := orchenv.ReadIDs(t, db, 10); ids[master] != 0 {
			t.Fatalf("reads with the master disabled: %v", ids)
		}
		env.MustSet(t, "/state/datasources/ds_master", "")
		orchenv.Eventually(t, "writes work", func() error {
			_, err := db.Exec("REPLACE INTO drv.t VALUES (10, 'x')")
			return err
		})
	})

	t.Run("CircuitBreaker", func(t *testing.T) {
		open, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := open.Exec("REPLACE INTO drv.t VALUES (11, 'never')"); err != nil {
			t.Fatal(err)
		}
		rolled, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		// A transaction begun with text BEGIN on a sql.Conn.
		textTx, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer textTx.Close()
		for _, q := range []string{"BEGIN", "REPLACE INTO drv.t VALUES (14, 'never')"} {
			if _, err := textTx.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		st, err := db.Prepare("SELECT id FROM drv.t WHERE id = ?")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		env.MustSet(t, inst, " DISABLED")
		orchenv.Eventually(t, "circuit breaker", func() error {
			var id int
			err := db.QueryRow("SELECT id FROM drv.t WHERE id = 1").Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				t.Fatal("circuit breaker returned an empty result")
			}
			if !errors.Is(err, driver.ErrInstanceDisabled) {
				return fmt.Errorf("read: %v", err)
			}
			return nil
		})
		var id int
		for _, err := range []error{
			db.Ping(),
			st.QueryRow(1).Scan(&id),
			func() error { _, err := db.Exec("REPLACE INTO drv.t VALUES (12, 'x')"); return err }(),
			func() error { _, err := db.Begin(); return err }(),
			func() error { _, err := open.Exec("SELECT 1"); return err }(),
		} {
			if !errors.Is(err, driver.ErrInstanceDisabled) {
				t.Fatalf("statement on a disabled instance: %v", err)
			}
			var de *driver.Error
			if !errors.As(err, &de) || de.Code != 1105 || !strings.Contains(de.Message, inst) {
				t.Fatalf("error does not name the node %s: %v", inst, err)
			}
		}
		if err := rolled.Rollback(); err != nil {
			t.Fatalf("rollback on a disabled instance: %v", err)
		}
		err = open.Commit()
		if !errors.Is(err, driver.ErrInstanceDisabled) || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("commit on a disabled instance: %v", err)
		}
		if _, err := textTx.ExecContext(ctx, "COMMIT"); !errors.Is(err, driver.ErrInstanceDisabled) || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("text COMMIT on a disabled instance: %v", err)
		}
		if s := c.Status(); !s.InstanceDisabled {
			t.Fatalf("status: %+v", s)
		}
		env.MustSet(t, inst, "")
		orchenv.Eventually(t, "instance enabled", func() error {
			_, err := db.Exec("SELECT 1")
			return err
		})
		var n int
		if err := db.QueryRow("/* shardgate:master */ SELECT COUNT(*) FROM drv.t WHERE id IN (11, 14)").Scan(&n); err != nil || n != 0 {
			t.Fatalf("transaction whose commit failed was committed: %d %v", n, err)
		}
	})

	t.Run("LiveConfig", func(t *testing.T) {
		inflight := make(chan error, 4)
		for range 4 {
			go func() {
				var s, id int
				inflight <- db.QueryRow("SELECT SLEEP(0.5), @@server_id").Scan(&s, &id)
			}()
		}
		time.Sleep(100 * time.Millisecond)
		rule := "masterDataSourceName: ds_master\nslaveDataSourceNames: [ds_slave_1]\n"
		if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte(rule)); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if err := <-inflight; err != nil {
				t.Fatalf("statement in flight during a config change: %v", err)
			}
		}
		orchenv.Eventually(t, "rule without slave0", func() error {
			if ids := orchenv.ReadIDs(t, db, 10); ids[slave1] != 10 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
		// A changed data source gets a new pool; the old one is closed.
		ds, _, err := reg.Get(ctx, orchestration.ConfigDataSources)
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(ds), "maxPoolSize: 64", "maxPoolSize: 8", -1)
		if changed == string(ds) {
			t.Fatalf("data sources node: %s", ds)
		}
		if _, err := reg.Put(ctx, orchestration.ConfigDataSources, []byte(changed)); err != nil {
			t.Fatal(err)
		}
		orchenv.Eventually(t, "pool size applied", func() error {
			if n := c.Snapshot().Config.DataSources["ds_slave_1"].MaxPoolSize; n != 8 {
				return fmt.Errorf("maxPoolSize %d", n)
			}
			return nil
		})
		if ids := orchenv.ReadIDs(t, db, 10); ids[slave1] != 10 {
			t.Fatalf("reads on the new pools: %v", ids)
		}
		// An invalid rule is rejected; the last good one stays.
		if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte("masterDataSourceName: nowhere\n")); err != nil {
			t.Fatal(err)
		}
		orchenv.Eventually(t, "invalid config reported", func() error {
			if s := c.Status(); !strings.Contains(s.ConfigError, "nowhere") {
				return fmt.Errorf("status: %+v", s)
			}
			return nil
		})
		if ids := orchenv.ReadIDs(t, db, 10); ids[slave1] != 10 {
			t.Fatalf("reads after an invalid rule: %v", ids)
		}
		rule = "masterDataSourceName: ds_master\nslaveDataSourceNames: [ds_slave_0, ds_slave_1]\n"
		if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte(rule)); err != nil {
			t.Fatal(err)
		}
		orchenv.Eventually(t, "rule with both slaves", func() error {
			if ids := orchenv.ReadIDs(t, db, 20); ids[slave0] == 0 || ids[slave1] == 0 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
	})

	t.Run("RegistryOutage", func(t *testing.T) {
		env.Stop()
		// The instance keeps serving with the last known state.
		for range 5 {
			if ids := orchenv.ReadIDs(t, db, 4); ids[master] != 0 {
				t.Fatalf("reads during the outage: %v", ids)
			}
			if _, err := db.Exec("REPLACE INTO drv.t VALUES (13, 'outage')"); err != nil {
				t.Fatalf("write during the outage: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		env.Start()
		// Back in touch: the instance node is there and operator commands
		// apply again.
		env.Eventually(t, "instance node after the outage", func() error {
			_, _, err := reg.Get(ctx, inst)
			return err
		})
		env.MustSet(t, "/state/datasources/ds_slave_0", "DISABLED")
		env.Eventually(t, "slave0 disabled after the outage", func() error {
			if ids := orchenv.ReadIDs(t, db, 10); ids[slave1] != 10 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
		env.MustSet(t, "/state/datasources/ds_slave_0", "")
		env.Eventually(t, "slave0 back", func() error {
			if ids := orchenv.ReadIDs(t, db, 20); ids[slave0] == 0 {
				return fmt.Errorf("reads: %v", ids)
			}
			return nil
		})
	})

	t.Run("CloseDeregisters", func(t *testing.T) {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := reg.Get(ctx, inst); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("instance node after Close: %v", err)
		}
		if _, err := db.Exec("SELECT 1"); err == nil {
			t.Fatal("statement after Close succeeded")
		}
		// Only the harness's own goroutines may remain: the operator's
		// registry client is closed, and the registry server restarted by
		// the outage test has a new process waiter.
		reg.Close()
		goleak.VerifyNone(t, leaks, goleak.IgnoreAnyFunction("github.com/shardgate/shardgate/internal/testenv.(*Process).Start.func1"))
	})
}
