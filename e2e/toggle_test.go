package e2e

import (
	"context"
	"database/sql"
	"testing"
	"time"

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
	r := replication(t)
	sb := sysbenchReady(t, r)
	env := orchenv.Etcd(t, "toggle")
	reg := env.Client(t)
	port := freePort(t)
	startProxy(t, env, sbYAML(r, env, "toggle", port), reg)
	slave0 := r.Slaves[0].DB(t, "")

	ctx := context.Background()
	run := startSysbench(t, sb, port, "oltp_read_only", 30, "--skip_trx=on", "--threads=4")
	time.Sleep(time.Second) // sysbench connects and starts reading

	const toggles = 1000
	node := "/state/datasources/ds_slave_0"
	checked := 0
	for i := range toggles {
		if run.ended() {
			out, _ := run.wait()
			t.Fatalf("sysbench ended early after %d toggles:\n%s", i, out)
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
	t.Logf("%d toggles, %d disabled windows checked; sysbench: %s", toggles, checked, run.clean(t))
}
