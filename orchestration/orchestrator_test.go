package orchestration_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/embedded"
	"github.com/shardgate/shardgate/registry/etcd"
	"github.com/shardgate/shardgate/registry/zookeeper"
)

func TestMain(m *testing.M) {
	// Logs go to the test output only with -v; they say what changed and why.
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	goleak.VerifyTestMain(m)
}

// recorder is a Runtime that remembers what it was given.
type recorder struct {
	mu      sync.Mutex
	cfg     *config.Config
	st      config.State
	applies int
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 100)} }

func (r *recorder) Apply(cfg *config.Config) error {
	r.mu.Lock()
	r.cfg = cfg
	r.applies++
	r.mu.Unlock()
	r.changed <- struct{}{}
	return nil
}

func (r *recorder) SetState(st config.State) error {
	r.mu.Lock()
	r.st = st
	r.mu.Unlock()
	r.changed <- struct{}{}
	return nil
}

func (r *recorder) await(t *testing.T, what string, cond func(cfg *config.Config, st config.State) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r.cfg, r.st)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("runtime never saw: %s (state %+v)", what, r.st)
		}
	}
}

const fileYAML = `
users: [{name: app, password: secret}]
dataSources:
  ds_master: {url: 127.0.0.1:3316, username: root}
  ds_slave_0: {url: 127.0.0.1:3317, username: root}
  ds_slave_1: {url: 127.0.0.1:3318, username: root}
masterSlaveRule:
  masterDataSourceName: ds_master
  slaveDataSourceNames: [ds_slave_0, ds_slave_1]
orchestration:
  name: app
`

// backend opens clients of one registry, rooted at the orchestration root.
type backend struct {
	name string
	open func(t testing.TB, root string) registry.Registry
	// set writes a value the way an operator does with the plain tool.
	set func(t testing.TB, root, path, value string)
}

func backends(t *testing.T) []backend { return benchBackends(t) }

func benchBackends(t testing.TB) []backend {
	var out []backend
	// Embedded etcd: the default registry.
	dir := t.TempDir()
	port := testenv.FreePort(t)
	var srv *embedded.Registry
	out = append(out, backend{
		name: "embedded-etcd",
		open: func(t testing.TB, root string) registry.Registry {
			if srv == nil {
				var err error
				srv, err = embedded.Open(context.Background(), registry.Config{Embedded: registry.EmbeddedConfig{
					DataDir: dir, ClientURL: fmt.Sprintf("http://127.0.0.1:%d", port),
					PeerURL: fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
				}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { srv.Close(); srv = nil })
			}
			// Another client on the host: it logs in with the credential
			// the embedded registry wrote.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := etcd.Open(ctx, registry.Config{Type: registry.TypeEtcd, ServerLists: []string{fmt.Sprintf("127.0.0.1:%d", port)}, Namespace: root,
				CredentialFile: embedded.CredentialPath(dir)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		},
		set: func(t testing.TB, root, path, value string) {
			if testenv.Require(t, "etcdctl") == "" {
				return
			}
			cred, err := os.ReadFile(embedded.CredentialPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			e := &testenv.Etcd{Endpoint: fmt.Sprintf("127.0.0.1:%d", port)}
			if out, err := e.EtcdctlT(t, "--user", strings.TrimSpace(string(cred)), "put", root+path, value); err != nil {
				t.Fatalf("etcdctl put: %v %s", err, out)
			}
		},
	})
	var zk *testenv.ZooKeeper
	out = append(out, backend{
		name: "zookeeper",
		open: func(t testing.TB, root string) registry.Registry {
			if zk == nil {
				zk = testenv.StartZooKeeper(t)
				t.Cleanup(func() { zk = nil })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := zookeeper.Open(ctx, registry.Config{Type: registry.TypeZooKeeper, ServerLists: []string{zk.Addr()}, Namespace: root}.WithDefaults())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		},
		set: func(t testing.TB, root, path, value string) {
			if out, err := zk.ZkCli("set", root+path, value); err != nil {
				t.Fatalf("zkCli set: %v %s", err, out)
			}
		},
	})
	return out
}

func TestOrchestration(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Run("ConfigCenter", func(t *testing.T) { testConfigCenter(t, b) })
			t.Run("StateNodes", func(t *testing.T) { testStateNodes(t, b) })
			t.Run("LiveConfig", func(t *testing.T) { testLiveConfig(t, b) })
		})
	}
}

var rootN int

func freshRoot() string {
	rootN++
	return fmt.Sprintf("/orchtest%d/app%d", os.Getpid()%1000, rootN)
}

func parse(t *testing.T, y string) *orchestration.File {
	t.Helper()
	f, err := orchestration.ParseFile([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func testConfigCenter(t *testing.T, b backend) {
	root := freshRoot()
	reg := b.open(t, root)
	ctx := context.Background()

	// Empty registry: the file's config is written there.
	o, cfg, err := orchestration.New(ctx, reg, parse(t, fileYAML))
	if err != nil {
		t.Fatal(err)
	}
	_ = o
	if cfg.MasterSlaveRule.MasterDataSourceName != "ds_master" {
		t.Fatalf("config: %+v", cfg.MasterSlaveRule)
	}
	rule, _, err := reg.Get(ctx, orchestration.ConfigRule)
	if err != nil || !strings.Contains(string(rule), "ds_master") {
		t.Fatalf("rule node: %q %v", rule, err)
	}
	for _, ds := range []string{"ds_master", "ds_slave_0", "ds_slave_1"} {
		if v, _, err := reg.Get(ctx, orchestration.DataSourcePath(ds)); err != nil || len(v) != 0 {
			t.Fatalf("state node of %s: %q %v", ds, v, err)
		}
	}

	// A file with only the registry settings takes the registry's config.
	_, cfg2, err := orchestration.New(ctx, reg, parse(t, "orchestration: {name: app}\nusers: [{name: other, password: x}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg2.MasterSlaveRule.SlaveDataSourceNames) != 2 || cfg2.Users[0].Name != "app" {
		t.Fatalf("config from registry: %+v users %+v", cfg2.MasterSlaveRule, cfg2.Users)
	}

	// Without overwrite the registry wins over a different file.
	other := strings.Replace(fileYAML, "slaveDataSourceNames: [ds_slave_0, ds_slave_1]", "slaveDataSourceNames: [ds_slave_1]", 1)
	_, cfg3, err := orchestration.New(ctx, reg, parse(t, other))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg3.MasterSlaveRule.SlaveDataSourceNames) != 2 {
		t.Fatalf("file won without overwrite: %v", cfg3.MasterSlaveRule.SlaveDataSourceNames)
	}
	// With overwrite the file wins and is written to the registry.
	_, cfg4, err := orchestration.New(ctx, reg, parse(t, other+"  overwrite: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg4.MasterSlaveRule.SlaveDataSourceNames, ",") != "ds_slave_1" {
		t.Fatalf("overwrite: %v", cfg4.MasterSlaveRule.SlaveDataSourceNames)
	}

	// No config anywhere: a clear error.
	_, _, err = orchestration.New(ctx, b.open(t, freshRoot()), parse(t, "orchestration: {name: app}\n"))
	if err == nil || !strings.Contains(err.Error(), "no configuration") {
		t.Fatalf("no config anywhere: %v", err)
	}
	// Garbage in a config node: the error names the node.
	reg5 := b.open(t, freshRoot())
	if _, err := reg5.Put(ctx, orchestration.ConfigRule, []byte("masterDataSourceName: [oops")); err != nil {
		t.Fatal(err)
	}
	_, _, err = orchestration.New(ctx, reg5, parse(t, "orchestration: {name: app}\n"))
	if err == nil || !strings.Contains(err.Error(), "config/masterslave/rule") {
		t.Fatalf("garbage config node: %v", err)
	}
}

func testStateNodes(t *testing.T, b backend) {
	root := freshRoot()
	reg := b.open(t, root)
	ctx := context.Background()
	f := parse(t, fileYAML)
	f.Orchestration.InstanceIP = "10.0.0.5"
	o, cfg, err := orchestration.New(ctx, reg, f)
	if err != nil {
		t.Fatal(err)
	}
	// Disabled before the instance starts: in force before Start returns.
	b.set(t, root, orchestration.DataSourcePath("ds_slave_0"), "  Disabled \n")
	time.Sleep(100 * time.Millisecond)
	rec := newRecorder()
	rec.cfg = cfg
	if err := o.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rec.mu.Lock()
	if _, off := rec.st.DisabledDataSources["ds_slave_0"]; !off {
		t.Fatalf("ds_slave_0 disabled before start is not disabled after Start: %+v", rec.st)
	}
	rec.mu.Unlock()
	if err := o.Register(ctx, nil); err != nil {
		t.Fatal(err)
	}
	inst := orchestration.InstancePath(o.ID())
	if !strings.HasPrefix(o.ID(), "10.0.0.5@-@") {
		t.Fatalf("instance id %q", o.ID())
	}
	if v, _, err := reg.Get(ctx, inst); err != nil || len(v) != 0 {
		t.Fatalf("instance node: %q %v", v, err)
	}

	b.set(t, root, orchestration.DataSourcePath("ds_slave_0"), "")
	rec.await(t, "ds_slave_0 enabled", func(_ *config.Config, st config.State) bool { return len(st.DisabledDataSources) == 0 })

	b.set(t, root, orchestration.DataSourcePath("ds_master"), "DISABLED")
	rec.await(t, "master disabled", func(_ *config.Config, st config.State) bool {
		return st.DisabledDataSources["ds_master"] == "/app"+orchestration.DataSourcePath("ds_master")
	})
	if err := reg.Delete(ctx, orchestration.DataSourcePath("ds_master"), false); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "master enabled by delete", func(_ *config.Config, st config.State) bool { return len(st.DisabledDataSources) == 0 })

	// A value that is neither empty nor DISABLED counts as enabled and is
	// reported; fixing it clears the report.
	b.set(t, root, orchestration.DataSourcePath("ds_slave_0"), "DISABLE")
	want := "/app" + orchestration.DataSourcePath("ds_slave_0") + "=DISABLE"
	deadline := time.Now().Add(10 * time.Second)
	for s := o.Status(); len(s.UnrecognizedStateNodes) != 1 || s.UnrecognizedStateNodes[0] != want; s = o.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("unrecognized value not reported: %v", s.UnrecognizedStateNodes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec.mu.Lock()
	if len(rec.st.DisabledDataSources) != 0 {
		t.Errorf("DISABLE disabled a data source: %v", rec.st.DisabledDataSources)
	}
	rec.mu.Unlock()
	b.set(t, root, orchestration.DataSourcePath("ds_slave_0"), "")
	for s := o.Status(); len(s.UnrecognizedStateNodes) != 0; s = o.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("report not cleared: %v", s.UnrecognizedStateNodes)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Unknown names are ignored.
	if _, err := reg.Put(ctx, orchestration.DataSourcePath("nosuch"), []byte("DISABLED")); err != nil {
		t.Fatal(err)
	}
	b.set(t, root, inst, "disabled")
	rec.await(t, "instance circuit-broken", func(_ *config.Config, st config.State) bool { return st.InstanceDisabled })
	rec.mu.Lock()
	if _, bad := rec.st.DisabledDataSources["nosuch"]; bad || rec.st.InstancePath != "/app"+inst {
		t.Fatalf("state %+v", rec.st)
	}
	rec.mu.Unlock()
	if s := o.Status(); !s.InstanceDisabled || s.InstancePath != inst {
		t.Fatalf("status %+v", s)
	}
	b.set(t, root, inst, "")
	rec.await(t, "instance enabled", func(_ *config.Config, st config.State) bool { return !st.InstanceDisabled })

	// Close deletes the instance node at once.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Get(ctx, inst); err == nil {
		t.Fatalf("instance node still there after Close")
	}
}

func testLiveConfig(t *testing.T, b backend) {
	root := freshRoot()
	reg := b.open(t, root)
	ctx := context.Background()
	o, cfg, err := orchestration.New(ctx, reg, parse(t, fileYAML))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	rec.cfg = cfg
	if err := o.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// A valid change applies.
	rule := "masterDataSourceName: ds_master\nslaveDataSourceNames: [ds_slave_1]\nloadBalanceAlgorithmType: RANDOM\n"
	if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte(rule)); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "new rule applied", func(cfg *config.Config, _ config.State) bool {
		return cfg.MasterSlaveRule.LoadBalanceAlgorithmType == config.Random
	})
	// An invalid change is rejected, named by key path; the last good stays.
	applies := rec.applies
	bad := "masterDataSourceName: ds_nowhere\nslaveDataSourceNames: [ds_slave_1]\n"
	if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for o.Status().ConfigError == "" {
		if time.Now().After(deadline) {
			t.Fatalf("invalid config not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if msg := o.Status().ConfigError; !strings.Contains(msg, "masterSlaveRule.masterDataSourceName") {
		t.Fatalf("config error does not name the key: %s", msg)
	}
	rec.mu.Lock()
	if rec.applies != applies {
		t.Fatalf("an invalid config was applied")
	}
	rec.mu.Unlock()
	// Garbage YAML too.
	if _, err := reg.Put(ctx, orchestration.ConfigProps, []byte("{{{")); err != nil {
		t.Fatal(err)
	}
	// Fixing both applies again and clears the error.
	if _, err := reg.Put(ctx, orchestration.ConfigProps, []byte("readYourWrites: off\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte(rule)); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "fixed config applied", func(cfg *config.Config, _ config.State) bool {
		return cfg.Props.ReadYourWrites == config.RYWOff
	})
	if msg := o.Status().ConfigError; msg != "" {
		t.Fatalf("error not cleared: %s", msg)
	}
	// A rejected change undone by putting the exact last good values back
	// clears the rejection too (nothing new is applied).
	if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	waitStatus := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(o.Status().ConfigError) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: config error %q", what, o.Status().ConfigError)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStatus("rejected again", func(e string) bool { return e != "" })
	if _, err := reg.Put(ctx, orchestration.ConfigRule, []byte(rule)); err != nil {
		t.Fatal(err)
	}
	waitStatus("last good put back", func(e string) bool { return e == "" })
	// A new data source gets its (empty) state node.
	ds := "ds_master: {url: 127.0.0.1:3316, username: root}\nds_slave_0: {url: 127.0.0.1:3317, username: root}\nds_slave_1: {url: 127.0.0.1:3318, username: root}\nds_slave_2: {url: 127.0.0.1:3319, username: root}\n"
	if _, err := reg.Put(ctx, orchestration.ConfigDataSources, []byte(ds)); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "new data source", func(cfg *config.Config, _ config.State) bool { return cfg.DataSources["ds_slave_2"] != nil })
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, _, err := reg.Get(ctx, orchestration.DataSourcePath("ds_slave_2")); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("state node of a new data source: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
