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
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
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
	// SHARDGATE_E2E_RACE=off builds without the race detector, for the
	// resident-memory figures of a long soak (its shadow memory grows).
	build := []string{"build", "-race", "-o", binPath, "github.com/shardgate/shardgate/cmd/shardgate"}
	if os.Getenv("SHARDGATE_E2E_RACE") == "off" {
		build = append(build[:1], build[2:]...)
	}
	if out, err := exec.Command("go", build...).CombinedOutput(); err != nil {
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

// proxyProc is one `shardgate proxy` process.
type proxyProc struct {
	*testenv.Process
	addr string
	id   string
}

const user, password = "app", "app-secret"

func instanceYAML(r *testenv.Replication, env *orchenv.Registry, name string, port int) string {
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
`, port, user, password, ds(r.Master), ds(r.Slaves[0]), ds(r.Slaves[1]), name, env.YAML)
}

// startProxy starts a proxy process and waits until it is registered.
func startProxy(t *testing.T, env *orchenv.Registry, yaml string, reg registry.Registry) *proxyProc {
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
