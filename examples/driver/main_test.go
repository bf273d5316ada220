package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/internal/testenv"
)

// TestExample runs the example against real replication and etcd, with
// the shipped config's addresses replaced by the test servers'.
func TestExample(t *testing.T) {
	r := testenv.StartReplication(t, 2)
	r.Master.Exec(t, "CREATE DATABASE IF NOT EXISTS app")
	r.Sync(t)
	etcd := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	b, err := os.ReadFile("shardgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer(
		"127.0.0.1:3316", r.Master.Addr(),
		"127.0.0.1:3317", r.Slaves[0].Addr(),
		"127.0.0.1:3318", r.Slaves[1].Addr(),
		"password: rootpw", "password: "+testenv.RootPassword,
		"127.0.0.1:2379", etcd.Endpoint,
	).Replace(string(b))
	p := filepath.Join(t.TempDir(), "shardgate.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(p, 0); err != nil {
		t.Fatal(fmt.Errorf("example: %w", err))
	}
}
