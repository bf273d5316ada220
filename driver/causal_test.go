package driver_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/shardgate/shardgate/internal/testenv/orchenv"
)

// causalPairs makes n write-then-read pairs: through one *sql.Conn
// (pool false), or through the *sql.DB with writes and reads on whatever
// connections the pool hands out (pool true, two connections kept busy
// so that they differ). It returns the stale reads and each server's share.
func causalPairs(t *testing.T, db *sql.DB, n, base int, pool bool) (stale int, by map[int]int) {
	t.Helper()
	ctx := context.Background()
	type querier interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}
	var w, rd querier = db, db
	if !pool {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		w, rd = c, c
	} else {
		// The writer holds one connection, the reader another.
		cw, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer cw.Close()
		cr, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer cr.Close()
		w, rd = cw, cr
	}
	by = map[int]int{}
	for i := range n {
		v := base + i
		if _, err := w.ExecContext(ctx, "UPDATE causal SET v = ? WHERE id = 1", v); err != nil {
			t.Fatal(err)
		}
		var got, id int
		if err := rd.QueryRowContext(ctx, "SELECT v, @@server_id FROM causal WHERE id = 1").Scan(&got, &id); err != nil {
			t.Fatal(err)
		}
		if got != v {
			stale++
		}
		by[id]++
	}
	return stale, by
}

// readYourWrites: causal in the driver: a read after a commit goes to a
// slave that applied it (the commit's GTID read on its connection, the
// slave waiting for it), per *sql.Conn, and across the connections of one
// *sql.DB with causalScope: instance. 0 stale reads, ≥ 80 % on slaves.
func TestCausalReads(t *testing.T) {
	r := replication(t)
	r.Master.Exec(t, "CREATE TABLE IF NOT EXISTS drv.causal (id INT PRIMARY KEY, v INT)", "REPLACE INTO drv.causal VALUES (1, 0)")
	r.Sync(t)
	slaves := func(by map[int]int) int { return by[r.Slaves[0].ServerID] + by[r.Slaves[1].ServerID] }
	const n = 5000
	for i, tc := range []struct {
		scope string
		pool  bool
	}{{"session", false}, {"instance", true}} {
		env := orchenv.Etcd(t, "causal-"+tc.scope)
		db := open(t, instanceFile(t, r, env.YAML, "causal-"+tc.scope, "readYourWrites: causal, causalScope: "+tc.scope))
		stale, by := causalPairs(t, db, n, (i+1)*1_000_000, tc.pool)
		t.Logf("scope %s: %d pairs, %d stale, reads by server %v", tc.scope, n, stale, by)
		if stale != 0 {
			t.Errorf("scope %s: %d of %d reads after a write were stale", tc.scope, stale, n)
		}
		if s := slaves(by); s < n*8/10 {
			t.Errorf("scope %s: slaves served %d of %d reads, want at least 80%%", tc.scope, s, n)
		}
	}
}
