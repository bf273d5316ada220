package proxy

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// causalPairs runs n write-then-read pairs on one connection of db and
// (one in ten a transaction) and returns how many reads were stale and
// how many each server answered.
func causalPairs(t *testing.T, p *proxyEnv, params string, n, base int) (stale int, by map[int]int) {
	t.Helper()
	c := conn(t, p.db(t, params))
	by = map[int]int{}
	ctx := context.Background()
	for i := range n {
		v := base + i
		if i%10 == 0 {
			// A transaction's GTID comes with its COMMIT.
			tx, err := c.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "UPDATE causal SET v = ? WHERE id = 1", v); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		} else if _, err := c.ExecContext(ctx, "UPDATE causal SET v = ? WHERE id = 1", v); err != nil {
			t.Fatal(err)
		}
		var got, id int
		if err := c.QueryRowContext(ctx, "SELECT v, @@server_id FROM causal WHERE id = 1").Scan(&got, &id); err != nil {
			t.Fatal(err)
		}
		if got != v {
			stale++
		}
		by[id]++
	}
	return stale, by
}

// pairs is how many write-then-read pairs each causal run makes
// (SHARDGATE_CAUSAL_PAIRS overrides).
func pairs(t *testing.T) int {
	if s := os.Getenv("SHARDGATE_CAUSAL_PAIRS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 10000
}

// readYourWrites: causal — a session's read after its write goes to a
// slave that applied the write (waiting there for its GTID), so it never
// reads stale rows, and most of those reads are served by slaves; a
// slave held behind by MASTER_DELAY gets (almost) none of them, and still
// none is stale. Text and prepared statements alike.
func TestCausalReads(t *testing.T) {
	p := startProxy(t, "readYourWrites: causal, causalReadTimeout: 200ms")
	r := p.r
	r.Master.Exec(t, "CREATE TABLE IF NOT EXISTS pt.causal (id INT PRIMARY KEY, v INT)", "REPLACE INTO pt.causal VALUES (1, 0)")
	r.Sync(t)
	n := pairs(t)
	slaves := func(by map[int]int) int { return by[r.Slaves[0].ServerID] + by[r.Slaves[1].ServerID] }
	for i, params := range []string{"", "interpolateParams=false"} {
		start := time.Now()
		stale, by := causalPairs(t, p, params, n, (i+1)*1_000_000)
		t.Logf("%q: %d pairs in %v, %d stale, reads by server %v", params, n, time.Since(start), stale, by)
		if stale != 0 {
			t.Errorf("%q: %d of %d reads after a write were stale", params, stale, n)
		}
		if s := slaves(by); s < n*8/10 {
			t.Errorf("%q: slaves served %d of %d reads, want at least 80%%", params, s, n)
		}
	}

	// One slave held 2 s behind: its share of the reads falls to about
	// one wait in vain per second; none is stale.
	s1 := r.Slaves[1]
	s1.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 2", "START SLAVE")
	t.Cleanup(func() { s1.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE") })
	m := n / 5
	start := time.Now()
	stale, by := causalPairs(t, p, "", m, 3_000_000)
	took := time.Since(start)
	t.Logf("slave1 delayed: %d pairs in %v, %d stale, reads by server %v", m, took, stale, by)
	if stale != 0 {
		t.Errorf("slave1 delayed: %d of %d reads after a write were stale", stale, m)
	}
	if got := by[s1.ServerID]; got > m/100 {
		t.Errorf("slave1, 2 s behind, served %d of %d causal reads", got, m)
	}
	if by[r.Slaves[0].ServerID] < m*8/10 {
		t.Errorf("slave0 served %d of %d reads, want at least 80%%", by[r.Slaves[0].ServerID], m)
	}
	// Reads without a write before them still go to both slaves.
	l := startReads(t, p)
	until(t, "plain reads on slave1", 5*time.Second, func() bool { return !l.last(s1.ServerID).IsZero() })
	l.end()
}
