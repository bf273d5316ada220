package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/driver"
	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"github.com/shardgate/shardgate/orchestration"
)

// TestUnreachableSlave: a slave nobody listens on is marked down at its
// first failed connect and its reads go elsewhere, without an error
// reaching the application (the proxy's retry rule: reads only, before
// any row).
func TestUnreachableSlave(t *testing.T) {
	r := replication(t)
	env := orchenv.Etcd(t, "deadslave")
	y := fmt.Sprintf(`
users: [{name: app, password: x}]
dataSources:
  ds_master: {url: "%s", username: root, password: %s, database: drv}
  ds_slave_0: {url: "%s", username: root, password: %s, database: drv}
  ds_dead: {url: "127.0.0.1:%d", username: root, password: x, connectTimeout: 500ms, healthCheckInterval: 100ms}
masterSlaveRule: {masterDataSourceName: ds_master, slaveDataSourceNames: [ds_dead, ds_slave_0]}
orchestration: {name: deadslave, overwrite: true, instanceIP: 127.0.0.1, registry: %s}
`, r.Master.Addr(), testenv.RootPassword, r.Slaves[0].Addr(), testenv.RootPassword, testenv.FreePort(t), env.YAML)
	p := filepath.Join(t.TempDir(), "shardgate.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	db := open(t, p)
	if ids := orchenv.ReadIDs(t, db, 20); ids[r.Slaves[0].ServerID] != 20 {
		t.Fatalf("reads with a dead slave: %v", ids)
	}
}

// TestOpenErrors: configuration problems surface at sql.Open, naming the
// key; Driver.Open, which database/sql does not use, says what to do.
func TestOpenErrors(t *testing.T) {
	if _, err := sql.Open("shardgate", filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("orchestration: {registry: {type: consul}}\n"), 0o600)
	if _, err := sql.Open("shardgate", p); err == nil || !strings.Contains(err.Error(), "orchestration.registry.type") {
		t.Fatalf("bad registry type: %v", err)
	}
	if _, err := (&driver.Driver{}).Open(p); err == nil {
		t.Fatal("Driver.Open succeeded")
	}
}

// TestNewConnector builds the config in code and checks that a
// circuit-broken instance still accepts new connections, each statement
// failing with ErrInstanceDisabled.
func TestNewConnector(t *testing.T) {
	r := replication(t)
	env := orchenv.Etcd(t, "programmatic")
	reg := env.Client(t)
	ds := func(m *testenv.MariaDB) *config.DataSource {
		return &config.DataSource{URL: m.Addr(), Username: "root", Password: testenv.RootPassword, Database: "drv"}
	}
	f := &orchestration.File{
		Config: config.Config{
			Users:           []config.User{{Name: "app", Password: "x"}},
			DataSources:     map[string]*config.DataSource{"m": ds(r.Master), "s": ds(r.Slaves[1])},
			MasterSlaveRule: config.MasterSlaveRule{MasterDataSourceName: "m", SlaveDataSourceNames: []string{"s"}},
		},
		Orchestration: orchestration.Config{Name: "programmatic", Overwrite: true, InstanceIP: "127.0.0.1", Registry: env.Config},
	}
	f.Orchestration.Registry.Namespace = ""
	// A loaded CI machine once needed more than the default 3s to revoke
	// the lease at Close.
	f.Orchestration.Registry.OperationTimeout = 10 * time.Second
	c, err := driver.NewConnector(f)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := driver.NewConnector(f); err == nil || !strings.Contains(err.Error(), "one process is one instance") {
		t.Fatalf("second connector on the same orchestration: %v", err)
	}
	if ids := orchenv.ReadIDs(t, db, 5); ids[r.Slaves[1].ServerID] != 5 {
		t.Fatalf("reads: %v", ids)
	}
	ctx := context.Background()
	if _, err := reg.Put(ctx, orchestration.InstancePath(c.ID()), []byte("DISABLED")); err != nil {
		t.Fatal(err)
	}
	orchenv.Eventually(t, "circuit breaker", func() error {
		if err := db.Ping(); !errors.Is(err, driver.ErrInstanceDisabled) {
			return fmt.Errorf("ping: %v", err)
		}
		return nil
	})
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("new connection on a disabled instance: %v", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET @a = 1"); !errors.Is(err, driver.ErrInstanceDisabled) {
		t.Fatalf("statement on a new connection: %v", err)
	}
	conn.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// An instance file with only the registry settings takes the config
	// from the registry; the same process registers again.
	p := filepath.Join(t.TempDir(), "registry-only.yaml")
	y := fmt.Sprintf("orchestration: {name: programmatic, instanceIP: 127.0.0.1, registry: %s}\n", env.YAML)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	db2 := open(t, p)
	if ids := orchenv.ReadIDs(t, db2, 5); ids[r.Slaves[1].ServerID] != 5 {
		t.Fatalf("reads with the registry's config: %v", ids)
	}
	if v, _, err := reg.Get(ctx, orchestration.InstancePath(c.ID())); err != nil || len(v) != 0 {
		t.Fatalf("instance node after registering again: %q %v", v, err)
	}
}
