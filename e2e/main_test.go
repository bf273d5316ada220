package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/connect"
)

var (
	shared  = &testenv.Shared{Slaves: 2}
	binPath string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shardgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "shardgate")
	if out, err := exec.Command("go", "build", "-race", "-o", binPath, "github.com/shardgate/shardgate/cmd/shardgate").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shardgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	shared.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

var setupOnce sync.Once

func replication(t *testing.T) *testenv.Replication {
	r := shared.Get(t)
	setupOnce.Do(func() {
		r.Master.Exec(t,
			"CREATE DATABASE IF NOT EXISTS e2e",
			"CREATE TABLE IF NOT EXISTS e2e.t (id INT PRIMARY KEY, v VARCHAR(64))",
		)
		r.Sync(t)
	})
	return r
}

// registryEnv is one real registry server plus the operator's tool for it.
type registryEnv struct {
	kind string
	// yaml is the orchestration.registry section for instances.
	yaml string
	// root is the orchestration root the tool addresses.
	root string
	cfg  registry.Config
	// set is the operator's command: etcdctl put / zkCli.sh set.
	set func(path, value string) error
	// stop and start the registry server (keeping its data).
	stop, start func()
}

func startEtcd(t *testing.T, name string) *registryEnv {
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	return &registryEnv{
		kind:  "etcd",
		yaml:  fmt.Sprintf("{type: etcd, serverLists: [%s], timeToLive: 2s}", srv.Endpoint),
		root:  "/" + name,
		cfg:   registry.Config{Type: registry.TypeEtcd, ServerLists: []string{srv.Endpoint}, Namespace: "/" + name},
		stop:  srv.Stop,
		start: srv.Start,
		set: func(path, value string) error {
			if out, err := srv.Etcdctl("put", "/"+name+path, value); err != nil {
				return fmt.Errorf("etcdctl put %s %s: %v: %s", path, value, err, out)
			}
			return nil
		},
	}
}

func startZooKeeper(t *testing.T, name string) *registryEnv {
	zk := testenv.StartZooKeeper(t)
	return &registryEnv{
		kind:  "zookeeper",
		yaml:  fmt.Sprintf("{type: zookeeper, serverLists: [%s], namespace: /shardgate, timeToLive: 4s}", zk.Addr()),
		root:  "/shardgate/" + name,
		cfg:   registry.Config{Type: registry.TypeZooKeeper, ServerLists: []string{zk.Addr()}, Namespace: "/shardgate/" + name},
		stop:  func() { zk.Stop(t) },
		start: func() { zk.Start(t) },
		set: func(path, value string) error {
			if out, err := zk.ZkCli("set", "/shardgate/"+name+path, value); err != nil {
				return fmt.Errorf("zkCli.sh set %s %s: %v: %s", path, value, err, out)
			}
			return nil
		},
	}
}

// mustSet runs the operator's command.
func mustSet(t *testing.T, env *registryEnv, path, value string) {
	t.Helper()
	if err := env.set(path, value); err != nil {
		t.Fatal(err)
	}
}

// client opens a registry client on the env, as an operator's tool would.
func (e *registryEnv) client(t *testing.T) registry.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := connect.Open(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// proxyProc is one `shardgate proxy` process.
type proxyProc struct {
	*testenv.Process
	addr string
	id   string
}

const user, password = "app", "app-secret"

func instanceYAML(r *testenv.Replication, env *registryEnv, name string, port int) string {
	ds := func(m *testenv.MariaDB) string {
		return fmt.Sprintf(`{url: "%s", username: root, password: %s, database: e2e, healthCheckInterval: 100ms, connectTimeout: 1s}`, m.Addr(), testenv.RootPassword)
	}
	return fmt.Sprintf(`
listen: 127.0.0.1:%d
users: [{name: %s, password: %s}]
dataSources:
  ds_master: %s
  ds_slave_0: %s
  ds_slave_1: %s
masterSlaveRule: {masterDataSourceName: ds_master, slaveDataSourceNames: [ds_slave_0, ds_slave_1]}
props: {readYourWrites: "off"}
orchestration:
  name: %s
  instanceIP: 127.0.0.1
  registry: %s
`, port, user, password, ds(r.Master), ds(r.Slaves[0]), ds(r.Slaves[1]), name, env.yaml)
}

// startProxy starts a proxy process and waits until it is registered.
func startProxy(t *testing.T, env *registryEnv, yaml string, reg registry.Registry) *proxyProc {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "shardgate.yaml")
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var port string
	for _, l := range strings.Split(yaml, "\n") {
		if p, ok := strings.CutPrefix(l, "listen: 127.0.0.1:"); ok {
			port = p
		}
	}
	p := &proxyProc{
		Process: testenv.NewProcess(t, filepath.Join(dir, "shardgate.log"), nil, binPath, "proxy", "--config", cfgFile),
		addr:    "127.0.0.1:" + port,
	}
	p.Start()
	p.id = fmt.Sprintf("127.0.0.1@-@%d", p.Pid())
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := reg.Get(context.Background(), "/state/instances/"+p.id); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy %s not registered:\n%s", p.id, p.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// adminGet fetches path from the instance's admin endpoint, whose address
// the instance publishes in its metadata node.
func (p *proxyProc) adminGet(t *testing.T, reg registry.Registry, path string) (int, string) {
	t.Helper()
	b, _, err := reg.Get(context.Background(), orchestration.MetaPath(p.id))
	if err != nil {
		t.Fatalf("metadata of %s: %v", p.id, err)
	}
	var meta orchestration.InstanceMeta
	if err := json.Unmarshal(b, &meta); err != nil || meta.Admin == "" || meta.Address != p.addr {
		t.Fatalf("metadata of %s: %s (%v)", p.id, b, err)
	}
	resp, err := http.Get("http://" + meta.Admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (p *proxyProc) db(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/e2e?timeout=5s", user, password, p.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func freePort(t *testing.T) int { return testenv.FreePort(t) }
