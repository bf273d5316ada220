// Package orchenv gives end-to-end tests a real registry server together
// with the operator's plain tool for it (etcdctl, zkCli.sh), and helpers
// to watch routing through @@server_id. It is separate from testenv so
// that the registry backends' own tests can use testenv without a cycle.
package orchenv

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/connect"
)

// Registry is a running registry server for one orchestration.
type Registry struct {
	Kind string
	// YAML is the orchestration.registry section for instances.
	YAML string
	// Config reaches the orchestration root, as a tool's client.
	Config registry.Config
	// set is the operator's command on root+path: etcdctl put / zkCli.sh set.
	set func(path, value string) error
	// Stop and Start the server, keeping its data.
	Stop, Start func()
	// LogTail is the end of the server's log, for failure messages.
	LogTail func() string
}

// Etcd starts a real etcd (Debian's) for orchestration name.
func Etcd(t testing.TB, name string) *Registry {
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	return &Registry{
		Kind:   "etcd",
		YAML:   fmt.Sprintf("{type: etcd, serverLists: [%s], timeToLive: 2s}", srv.Endpoint),
		Config: registry.Config{Type: registry.TypeEtcd, ServerLists: []string{srv.Endpoint}, Namespace: "/" + name},
		Stop:   srv.Stop, Start: srv.Start, LogTail: srv.LogTail,
		set: func(path, value string) error {
			if out, err := srv.Etcdctl("put", "/"+name+path, value); err != nil {
				return fmt.Errorf("etcdctl put %s %s: %v: %s", path, value, err, out)
			}
			return nil
		},
	}
}

// ZooKeeper starts a real ZooKeeper for orchestration name, under the
// namespace /shardgate.
func ZooKeeper(t testing.TB, name string) *Registry {
	zk := testenv.StartZooKeeper(t)
	return &Registry{
		Kind:   "zookeeper",
		YAML:   fmt.Sprintf("{type: zookeeper, serverLists: [%s], namespace: /shardgate, timeToLive: 4s}", zk.Addr()),
		Config: registry.Config{Type: registry.TypeZooKeeper, ServerLists: []string{zk.Addr()}, Namespace: "/shardgate/" + name},
		Stop:   func() { zk.Stop(t) }, Start: func() { zk.Start(t) }, LogTail: zk.LogTail,
		set: func(path, value string) error {
			if out, err := zk.ZkCli("set", "/shardgate/"+name+path, value); err != nil {
				return fmt.Errorf("zkCli.sh set %s %s: %v: %s", path, value, err, out)
			}
			return nil
		},
	}
}

// Set runs the operator's command (path is relative to the root).
func (r *Registry) Set(path, value string) error { return r.set(path, value) }

// MustSet is Set that fails the test.
func (r *Registry) MustSet(t testing.TB, path, value string) {
	t.Helper()
	if err := r.set(path, value); err != nil {
		t.Fatal(err)
	}
}

// Client opens a registry client on the orchestration root, closed when the
// test ends.
func (r *Registry) Client(t testing.TB) registry.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := connect.Open(ctx, r.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Querier is a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// ReadIDs runs n plain reads and counts the server ids that answered.
func ReadIDs(t testing.TB, q Querier, n int) map[int]int {
	t.Helper()
	ids := map[int]int{}
	for range n {
		var id int
		if err := q.QueryRowContext(context.Background(), "SELECT @@server_id").Scan(&id); err != nil {
			t.Fatalf("read: %v", err)
		}
		ids[id]++
	}
	return ids
}

// Eventually retries cond for up to 10s: a registry write reaches every
// instance in milliseconds, but not at once.
func Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	eventually(t, what, cond, func() string { return "" })
}

// Eventually is Eventually that shows the end of the server's log when cond
// never holds: a registry that does not take its clients back says why there.
func (r *Registry) Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	eventually(t, what, cond, func() string { return "\n" + r.Kind + " log tail:\n" + r.LogTail() })
}

func eventually(t testing.TB, what string, cond func() error, explain func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v%s", what, err, explain())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
