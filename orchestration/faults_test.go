package orchestration_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/engine/enginetest"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/memory"
)

// eventually retries cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The orchestrator's fault paths on the in-process registry, in
// milliseconds: the registry stopped (the last state stays in force, the
// status says so, changes apply once it is back), the session expired (the
// instance node comes back), writes failing and answers too slow (clear
// errors, nothing half done).
func TestFaultPaths(t *testing.T) {
	srv := memory.NewServer()
	defer srv.Close()
	ctx := context.Background()
	cfg := registry.Config{Type: "memory", ServerLists: []string{srv.Name()}, Namespace: "/app", OperationTimeout: 200 * time.Millisecond}
	open := func() registry.Registry {
		r, err := memory.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	reg, operator := open(), open()
	f, err := orchestration.ParseFile([]byte(fileYAML))
	if err != nil {
		t.Fatal(err)
	}
	o, c, err := orchestration.New(ctx, reg, f)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.NewRuntime(c, enginetest.Open)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if err := o.Start(ctx, rt); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Register(ctx, nil); err != nil {
		t.Fatal(err)
	}
	node := orchestration.InstancePath(o.ID())
	disabled := func(name string, want bool) func() error {
		return func() error {
			if got := rt.Snapshot().ByName[name].Disabled; got != want {
				return fmt.Errorf("%s disabled %v, want %v", name, got, want)
			}
			return nil
		}
	}
	put := func(p, v string) {
		t.Helper()
		if _, err := operator.Put(ctx, p, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	put(orchestration.DataSourcePath("ds_slave_0"), "DISABLED")
	eventually(t, "slave 0 disabled", disabled("ds_slave_0", true))

	// Registry stopped: the state stays, the status says disconnected.
	srv.Stop()
	eventually(t, "status disconnected", func() error {
		if o.Status().RegistryConnected {
			return errors.New("still connected")
		}
		return nil
	})
	if !rt.Snapshot().ByName["ds_slave_0"].Disabled {
		t.Fatal("the outage undid a disabled data source")
	}
	if _, err := operator.Put(ctx, orchestration.DataSourcePath("ds_slave_1"), []byte("DISABLED")); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("put while stopped: %v", err)
	}
	srv.Start()
	eventually(t, "status connected", func() error {
		if !o.Status().RegistryConnected {
			return errors.New("not connected")
		}
		return nil
	})
	put(orchestration.DataSourcePath("ds_slave_1"), "DISABLED")
	eventually(t, "slave 1 disabled after the outage", disabled("ds_slave_1", true))

	// Session expired: the node goes, and comes back in the new session
	// with the operator's value.
	put(node, "DISABLED")
	eventually(t, "instance circuit-broken", func() error {
		if !rt.Snapshot().State.InstanceDisabled {
			return errors.New("not disabled")
		}
		return nil
	})
	srv.ExpireSession(reg)
	eventually(t, "instance node re-created", func() error {
		v, _, err := operator.Get(ctx, node)
		if err != nil || string(v) != "DISABLED" {
			return fmt.Errorf("%q %v", v, err)
		}
		return nil
	})
	// The expiry deletes the node before the new session re-creates it, so
	// the breaker may lift for that instant (as with etcd and ZooKeeper:
	// docs/reliability.md); it must be back once the node is.
	eventually(t, "circuit breaker in force again", func() error {
		if !rt.Snapshot().State.InstanceDisabled {
			return errors.New("session expiry lifted the circuit breaker")
		}
		return nil
	})
	if err := operator.Delete(ctx, node, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "circuit breaker lifted", func() error {
		if rt.Snapshot().State.InstanceDisabled {
			return errors.New("still disabled")
		}
		return nil
	})

	// Writes failing: publishing a config fails naming why; the applied
	// config stays.
	srv.FailWrites(errors.New("disk full"))
	next := *c
	next.Props.SQLShow = true
	err = o.Publish(ctx, &next)
	if !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("publish with failing writes: %v", err)
	}
	srv.FailWrites(nil)
	if rt.Snapshot().Config.Props.SQLShow {
		t.Fatal("a failed publish changed the config")
	}

	// Too slow: an operation past the operation timeout fails with
	// ErrTimeout, in about that time.
	srv.SetDelay(time.Second)
	start := time.Now()
	err = o.Publish(ctx, &next)
	if !errors.Is(err, registry.ErrTimeout) || time.Since(start) > time.Second {
		t.Fatalf("publish to a slow registry: %v after %v", err, time.Since(start))
	}
	srv.SetDelay(0)
	if err := o.Publish(ctx, &next); err != nil {
		t.Fatal(err)
	}
	eventually(t, "published config applied", func() error {
		if !rt.Snapshot().Config.Props.SQLShow {
			return errors.New("not applied")
		}
		return nil
	})
}

// A sharding rule goes to the registry as config/sharding/rule and comes
// back the same; an instance applying it routes over its data nodes.
func TestShardingRuleInRegistry(t *testing.T) {
	f, err := orchestration.ParseFile([]byte(`
users: [{name: app, password: secret}]
dataSources:
  m0: {url: 127.0.0.1:3316, username: root}
  m1: {url: 127.0.0.1:3317, username: root}
shardingRule:
  tables:
    t_order:
      actualDataNodes: m${0..1}.t_order_${0..1}
      databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'm${user_id % 2}'}}
      tableStrategy: {inline: {shardingColumn: order_id, algorithmExpression: 't_order_${order_id % 2}'}}
  defaultTableStrategy:
    none:
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.Config
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	enc, err := orchestration.EncodeShared(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc[orchestration.ConfigShardingRule]) == 0 {
		t.Fatal("no sharding rule node")
	}
	back, err := orchestration.DecodeShared(&config.Config{}, enc)
	if err != nil {
		t.Fatal(err)
	}
	again, err := orchestration.EncodeShared(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again[orchestration.ConfigShardingRule]) != string(enc[orchestration.ConfigShardingRule]) {
		t.Fatalf("round trip:\n%s\nbecame\n%s", enc[orchestration.ConfigShardingRule], again[orchestration.ConfigShardingRule])
	}
	if n := len(back.ShardingRule.Tables["t_order"].Nodes); n != 4 {
		t.Fatalf("%d data nodes after the round trip", n)
	}
	rt, err := engine.NewRuntime(back, enginetest.Open)
	if err != nil {
		t.Fatalf("runtime with a sharding rule: %v", err)
	}
	defer rt.Close()
	if snap := rt.Snapshot(); snap.Router == nil || len(snap.Groups) != 2 {
		t.Fatalf("router %v, %d groups", snap.Router, len(snap.Groups))
	}
}

// The orchestration section of a ShardingSphere file, as its users paste
// it, is accepted (namespace without "/", serverLists as one string, the
// *Seconds/*Milliseconds keys, digest), and props.sql.show too.
func TestShardingSphereOrchestrationSection(t *testing.T) {
	f, err := orchestration.ParseFile([]byte(`
dataSources:
  m: {url: 127.0.0.1:3316, username: root}
masterSlaveRule: {masterDataSourceName: m}
users: [{name: app, password: secret}]
props:
  sql.show: true
orchestration:
  name: orchestration_ds
  overwrite: true
  registry:
    type: zookeeper
    serverLists: localhost:2181
    namespace: orchestration
    timeToLiveSeconds: 60
    digest: app:secret
`))
	if err != nil {
		t.Fatal(err)
	}
	rc := f.Orchestration.Registry.WithDefaults()
	if err := rc.Validate("orchestration.registry"); err != nil {
		t.Fatal(err)
	}
	if rc.Namespace != "/orchestration" || len(rc.ServerLists) != 1 || rc.TimeToLive != time.Minute || rc.Username != "app" {
		t.Fatalf("registry: %+v", rc)
	}
	cfg := f.Config
	if err := cfg.Validate(); err != nil || !cfg.Props.SQLShow {
		t.Fatalf("sql.show: %v %v", cfg.Props.SQLShow, err)
	}
}
