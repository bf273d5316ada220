package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/ctl"
	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/connect"
	"github.com/shardgate/shardgate/registry/memory"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	goleak.VerifyTestMain(m)
}

const fileYAML = `
users: [{name: app, password: secret}]
dataSources:
  ds_master: {url: 127.0.0.1:3316, username: root}
  ds_slave_0: {url: 127.0.0.1:3317, username: root}
masterSlaveRule: {masterDataSourceName: ds_master, slaveDataSourceNames: [ds_slave_0]}
orchestration: {name: app}
`

func open(t *testing.T, cfg registry.Config) registry.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := connect.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestCtl(t *testing.T) {
	etcd := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	zk := testenv.StartZooKeeper(t)
	for _, cfg := range []registry.Config{
		{Type: registry.TypeEtcd, ServerLists: []string{etcd.Endpoint}, Namespace: "/app"},
		{Type: registry.TypeZooKeeper, ServerLists: []string{zk.Addr()}, Namespace: "/shardgate/app"},
	} {
		t.Run(cfg.Type, func(t *testing.T) { testCtl(t, cfg) })
	}
}

func testCtl(t *testing.T, rc registry.Config) {
	ctx := context.Background()
	reg := open(t, rc)
	f, err := orchestration.ParseFile([]byte(fileYAML))
	if err != nil {
		t.Fatal(err)
	}
	// An instance, registered as shardgate proxy does.
	o, _, err := orchestration.New(ctx, reg, f)
	if err != nil {
		t.Fatal(err)
	}
	meta := &orchestration.InstanceMeta{Address: "127.0.0.1:3307", Admin: "127.0.0.1:9307", Version: "test", StartedAt: time.Now().UTC()}
	if err := o.Register(ctx, meta); err != nil {
		t.Fatal(err)
	}
	defer o.Close()

	var out bytes.Buffer
	c := &ctl.Ctl{Reg: open(t, rc), Root: rc.Namespace, Out: &out, JSON: true}
	if err := c.PrintInstances(ctx); err != nil {
		t.Fatal(err)
	}
	var ins []ctl.Instance
	if err := json.Unmarshal(out.Bytes(), &ins); err != nil || len(ins) != 1 || ins[0].ID != o.ID() || ins[0].Address != meta.Address || ins[0].State != "enabled" {
		t.Fatalf("instances: %s (%v)", out.String(), err)
	}

	// Disable/enable an instance: the plain value operators write.
	if err := c.SetInstance(ctx, o.ID(), true); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := reg.Get(ctx, orchestration.InstancePath(o.ID())); string(v) != "DISABLED" {
		t.Fatalf("instance node = %q", v)
	}
	if err := c.SetInstance(ctx, o.ID(), false); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := reg.Get(ctx, orchestration.InstancePath(o.ID())); len(v) != 0 {
		t.Fatalf("instance node after enable = %q", v)
	}
	err = c.SetInstance(ctx, "10.9.9.9@-@1", true)
	if !errors.Is(err, ctl.ErrUnknown) || !strings.Contains(err.Error(), o.ID()) {
		t.Fatalf("unknown instance: %v", err)
	}
	if _, _, err := reg.Get(ctx, orchestration.InstancePath("10.9.9.9@-@1")); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("ctl created a node for an unknown instance: %v", err)
	}

	// Data sources.
	if err := c.SetDataSource(ctx, "ds_slave_0", true); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	c.JSON = false
	if err := c.PrintDataSources(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ds_slave_0  slave   disabled") || !strings.Contains(out.String(), "ds_master   master  enabled") {
		t.Fatalf("datasources table:\n%s", out.String())
	}
	if err := c.SetDataSource(ctx, "nope", true); !errors.Is(err, ctl.ErrUnknown) || !strings.Contains(err.Error(), "ds_master, ds_slave_0") {
		t.Fatalf("unknown data source: %v", err)
	}

	// Config apply: diff, confirmation, validation.
	dir := t.TempDir()
	next := filepath.Join(dir, "next.yaml")
	os.WriteFile(next, []byte(strings.Replace(fileYAML, "slaveDataSourceNames: [ds_slave_0]", "slaveDataSourceNames: [ds_slave_0], loadBalanceAlgorithmType: RANDOM", 1)), 0o600)
	out.Reset()
	c.In = strings.NewReader("n\n")
	if err := c.ConfigApply(ctx, next, false); err == nil || !strings.Contains(err.Error(), "not applied") {
		t.Fatalf("apply answered no: %v", err)
	}
	if !strings.Contains(out.String(), "-loadBalanceAlgorithmType: ROUND_ROBIN") || !strings.Contains(out.String(), "+loadBalanceAlgorithmType: RANDOM") {
		t.Fatalf("diff:\n%s", out.String())
	}
	if v, _, _ := reg.Get(ctx, orchestration.ConfigRule); strings.Contains(string(v), "RANDOM") {
		t.Fatalf("written although not confirmed")
	}
	if err := c.ConfigApply(ctx, next, true); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := reg.Get(ctx, orchestration.ConfigRule); !strings.Contains(string(v), "RANDOM") {
		t.Fatalf("rule after apply: %s", v)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(fileYAML, "masterDataSourceName: ds_master", "masterDataSourceName: ds_gone", 1)), 0o600)
	err = c.ConfigApply(ctx, bad, true)
	if err == nil || !strings.Contains(err.Error(), "masterSlaveRule.masterDataSourceName") || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("invalid config: %v", err)
	}
	if v, _, _ := reg.Get(ctx, orchestration.ConfigRule); strings.Contains(string(v), "ds_gone") {
		t.Fatalf("an invalid config was written")
	}
	out.Reset()
	if err := c.ConfigShow(ctx); err != nil || !strings.Contains(out.String(), rc.Namespace+"/config/masterslave/rule") {
		t.Fatalf("config show: %v\n%s", err, out.String())
	}
	// Secrets never show: not in config show, not in the apply diff, which
	// still says that they changed.
	if strings.Contains(out.String(), ": secret") || !strings.Contains(out.String(), "******") {
		t.Fatalf("config show prints a password:\n%s", out.String())
	}
	pw := filepath.Join(dir, "pw.yaml")
	os.WriteFile(pw, []byte(strings.Replace(strings.Replace(fileYAML, "slaveDataSourceNames: [ds_slave_0]", "slaveDataSourceNames: [ds_slave_0], loadBalanceAlgorithmType: RANDOM", 1), "password: secret", "password: n3w-secret", 1)), 0o600)
	out.Reset()
	c.In = strings.NewReader("n\n")
	c.ConfigApply(ctx, pw, false)
	if strings.Contains(out.String(), "n3w-secret") || strings.Contains(out.String(), ": secret") || !strings.Contains(out.String(), "only secret values differ") {
		t.Fatalf("apply diff of a password change:\n%s", out.String())
	}
}

// Preview plans with the registry's sharding rule; unsharded statements
// name the default data source; refusals are errors.
func TestPreview(t *testing.T) {
	srv := memory.NewServer()
	defer srv.Close()
	ctx := context.Background()
	reg, err := memory.Open(ctx, registry.Config{Type: "memory", ServerLists: []string{srv.Name()}, Namespace: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	f, err := orchestration.ParseFile([]byte(`
users: [{name: app, password: secret}]
dataSources:
  m0: {url: 127.0.0.1:3316, username: root}
  m1: {url: 127.0.0.1:3317, username: root}
shardingRule:
  tables:
    t_order:
      actualDataNodes: m${0..1}.t_order
      databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'm${user_id % 2}'}}
  defaultDataSourceName: m0
orchestration: {name: app}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := orchestration.New(ctx, reg, f); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := &ctl.Ctl{Reg: reg, Root: "/app", Out: &out}
	if err := c.PrintPreview(ctx, "SELECT * FROM t_order WHERE user_id IN (1, 3)"); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "m1      SELECT * FROM t_order WHERE user_id IN (1, 3)") || strings.Contains(got, "m0 ") {
		t.Fatalf("preview:\n%s", got)
	}
	rows, err := c.Preview(ctx, "SELECT 1")
	if err != nil || len(rows) != 1 || rows[0].Target != "m0" {
		t.Fatalf("unsharded: %v %v", rows, err)
	}
	if _, err := c.Preview(ctx, "SELECT COUNT(DISTINCT user_id, status) FROM t_order"); err == nil {
		t.Fatal("a refused statement previewed")
	}
}
