package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
)

// comCount is a slave's count of statements run for clients (text and
// prepared SELECTs); replication and status queries do not add to it.
func comCount(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	rows, err := db.Query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Com_stmt_execute')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		total += v
	}
	return total
}

// Toggling a slave DISABLED/enabled 1,000 times while sysbench reads
// through the proxy: sysbench sees no error, and while the slave is
// disabled (after the change was applied and running reads finished) it
// gets no read.
func TestToggleUnderSysbench(t *testing.T) {
	sb := testenv.Require(t, "sysbench")
	r := replication(t)
	env := orchenv.Etcd(t, "toggle")
	reg := env.Client(t)
	r.Master.Exec(t, "CREATE DATABASE IF NOT EXISTS sbtest")
	sbArgs := func(host string, port int, user, pw string) []string {
		return []string{"oltp_read_only", "--db-driver=mysql", "--mysql-host=" + host, fmt.Sprintf("--mysql-port=%d", port),
			"--mysql-user=" + user, "--mysql-password=" + pw, "--mysql-db=sbtest", "--tables=1", "--table-size=1000"}
	}
	if out, err := exec.Command(sb, append(sbArgs("127.0.0.1", r.Master.Port, "root", testenv.RootPassword), "prepare")...).CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "already exists") {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	r.Sync(t)
	port := freePort(t)
	y := strings.Replace(instanceYAML(r, env, "toggle", port), "database: e2e", "database: sbtest", -1)
	startProxy(t, env, y, reg)
	slave0 := r.Slaves[0].DB(t, "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := exec.CommandContext(ctx, sb, append(sbArgs("127.0.0.1", port, user, password),
		"--skip_trx=on", "--threads=4", "--time=30", "--report-interval=0", "run")...)
	var out strings.Builder
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	time.Sleep(time.Second) // sysbench connects and starts reading

	const toggles = 1000
	node := "/state/datasources/ds_slave_0"
	checked := 0
	for i := range toggles {
		select {
		case err := <-done:
			t.Fatalf("sysbench ended early after %d toggles: %v\n%s", i, err, out.String())
		default:
		}
		disable := i%2 == 0
		val := ""
		if disable {
			val = "DISABLED"
		}
		if _, err := reg.Put(ctx, node, []byte(val)); err != nil {
			t.Fatalf("toggle %d: %v", i, err)
		}
		if disable && i%100 == 0 {
			// Applied within milliseconds (see BenchmarkPropagation); give
			// running reads time to finish, then watch the slave.
			time.Sleep(150 * time.Millisecond)
			before := comCount(t, slave0)
			time.Sleep(300 * time.Millisecond)
			if d := comCount(t, slave0) - before; d != 0 {
				t.Fatalf("toggle %d: slave0 ran %d reads while disabled", i, d)
			}
			checked++
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if _, err := reg.Put(ctx, node, nil); err != nil {
		t.Fatal(err)
	}
	// Reads reach slave0 again once enabled.
	time.Sleep(300 * time.Millisecond)
	before := comCount(t, slave0)
	time.Sleep(300 * time.Millisecond)
	if comCount(t, slave0) == before {
		t.Fatalf("slave0 got no reads after it was enabled again")
	}
	// sysbench prints its summary only when it ends by itself.
	err := <-done
	res := out.String()
	if err != nil || !strings.Contains(res, "queries:") {
		t.Fatalf("sysbench (%v) printed no summary:\n%s", err, res)
	}
	for _, key := range []string{"ignored errors:", "reconnects:"} {
		_, rest, ok := strings.Cut(res, key)
		if f := strings.Fields(rest); !ok || len(f) == 0 || f[0] != "0" {
			t.Fatalf("sysbench %s %v\n%s", key, f[:min(1, len(f))], res)
		}
	}
	if strings.Contains(res, "FATAL") {
		t.Fatalf("sysbench failed:\n%s", res)
	}
	t.Logf("%d toggles, %d disabled windows checked; sysbench: %s", toggles, checked, summaryLine(res))
}

func summaryLine(res string) string {
	for _, l := range strings.Split(res, "\n") {
		if strings.Contains(l, "queries:") || strings.Contains(l, "transactions:") {
			return strings.TrimSpace(l)
		}
	}
	return "(no summary)"
}
