package e2e

// Faults under load: a registry, an instance or a backend dies while
// sysbench runs through the proxy. What each run measured is logged (go
// test -v) and recorded in docs/reliability.md.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"github.com/shardgate/shardgate/registry"
)

// envDuration is the duration in environment variable name (a Go
// duration), or def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration such as 60s", name, v)
	}
	return d
}

// disabledWindow disables slave0 through the registry and checks that it
// gets no read while disabled, then enables it again: the proof that the
// instance still follows its registry.
func disabledWindow(t *testing.T, reg registry.Registry, slave0 *sql.DB) {
	t.Helper()
	ctx := context.Background()
	node := "/state/datasources/ds_slave_0"
	if _, err := reg.Put(ctx, node, []byte("DISABLED")); err != nil {
		t.Fatalf("disable slave0: %v", err)
	}
	orchenv.Eventually(t, "slave0 out of rotation", func() error {
		before := comCount(t, slave0)
		time.Sleep(300 * time.Millisecond)
		if d := comCount(t, slave0) - before; d != 0 {
			return fmt.Errorf("slave0 ran %d reads in 300ms while disabled", d)
		}
		return nil
	})
	if _, err := reg.Put(ctx, node, nil); err != nil {
		t.Fatalf("enable slave0: %v", err)
	}
	orchenv.Eventually(t, "slave0 back in rotation", func() error {
		before := comCount(t, slave0)
		time.Sleep(300 * time.Millisecond)
		if comCount(t, slave0) == before {
			return fmt.Errorf("slave0 got no read in 300ms")
		}
		return nil
	})
}

// registered waits until the instance's node exists.
func registered(t *testing.T, reg registry.Registry, p *proxyProc) {
	t.Helper()
	orchenv.Eventually(t, "instance node "+p.id, func() error {
		_, _, err := reg.Get(context.Background(), "/state/instances/"+p.id)
		return err
	})
}

// The registry stopped for SHARDGATE_OUTAGE (60 s) under sysbench: not one
// statement fails, and once it is back the instance is registered and
// follows it again.
func TestRegistryOutageUnderSysbench(t *testing.T) {
	outage := envDuration(t, "SHARDGATE_OUTAGE", 60*time.Second)
	r := replication(t)
	sb := sysbenchReady(t, r)
	env := orchenv.Etcd(t, "outage")
	reg := env.Client(t)
	port := freePort(t)
	p := startProxy(t, env, sbYAML(r, env, "outage", port), reg)

	secs := int((outage + 15*time.Second).Seconds())
	run := startLoad(t, sb, port, secs)
	time.Sleep(3 * time.Second)
	env.Stop()
	stopped := time.Now()
	time.Sleep(outage)
	if run.ended() {
		out, _ := run.wait()
		t.Fatalf("sysbench ended during the outage:\n%s\n%s", out, p.LogTail())
	}
	env.Start()
	back := time.Now()
	registered(t, reg, p)
	t.Logf("registry down %v; instance node present %v after restart", back.Sub(stopped).Round(time.Second), time.Since(back).Round(10*time.Millisecond))
	disabledWindow(t, reg, r.Slaves[0].DB(t, ""))
	t.Logf("sysbench: %s", run.clean(t))
}

// A 3-member etcd loses its leader under sysbench: not one statement fails,
// the instance keeps its node, and a toggle written through a surviving
// member applies.
func TestEtcdLeaderLossUnderSysbench(t *testing.T) {
	r := replication(t)
	sb := sysbenchReady(t, r)
	members := testenv.StartEtcdCluster(t, testenv.Require(t, "etcd"), 3)
	var eps []string
	for _, m := range members {
		eps = append(eps, m.Endpoint)
	}
	env := &orchenv.Registry{
		Kind:   "etcd",
		YAML:   fmt.Sprintf("{type: etcd, serverLists: [%s], timeToLive: 3s}", strings.Join(eps, ", ")),
		Config: registry.Config{Type: registry.TypeEtcd, ServerLists: eps, Namespace: "/leader"},
	}
	reg := env.Client(t)
	port := freePort(t)
	p := startProxy(t, env, sbYAML(r, env, "leader", port), reg)

	run := startLoad(t, sb, port, 25)
	time.Sleep(3 * time.Second)
	leader := -1
	for i, m := range members {
		out, err := m.Etcdctl("endpoint", "status", "-w", "fields")
		if err != nil {
			t.Fatalf("etcdctl endpoint status: %v\n%s", err, out)
		}
		id, lead := fieldOf(out, "MemberID"), fieldOf(out, "Leader")
		if id != "" && id == lead {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no etcd member says it is the leader")
	}
	members[leader].Kill()
	killed := time.Now()
	// Survivors elect a new leader; the instance's lease must outlive it.
	time.Sleep(8 * time.Second)
	registered(t, reg, p)
	t.Logf("leader m%d killed; node still present %v later", leader, time.Since(killed).Round(time.Second))
	disabledWindow(t, reg, r.Slaves[0].DB(t, ""))
	t.Logf("sysbench: %s", run.clean(t))
}

// load is a write run (transactions, on the master) beside a read run
// (autocommit reads, on the slaves) through one proxy. One writer: two
// would deadlock now and then, which sysbench counts as ignored errors
// that are MariaDB's, not the proxy's.
type load struct{ writes, reads *sbRun }

// startLoad starts a load of secs seconds. Two separate runs, because
// sysbench's read-write run without transactions fails itself: its
// DELETE+INSERT of one id in two threads collides on the primary key.
func startLoad(t *testing.T, sb string, port, secs int) load {
	return load{
		writes: startSysbench(t, sb, port, "oltp_read_write", secs, "--threads=1"),
		reads:  startSysbench(t, sb, port, "oltp_read_only", secs, "--skip_trx=on", "--threads=3"),
	}
}

func (l load) ended() bool { return l.writes.ended() || l.reads.ended() }

func (l load) wait() (string, error) {
	w, werr := l.writes.wait()
	r, rerr := l.reads.wait()
	return w + "\n" + r, errors.Join(werr, rerr)
}

func (l load) clean(t *testing.T) string {
	t.Helper()
	return "writes " + l.writes.clean(t) + " / reads " + l.reads.clean(t)
}

// The network between an instance and ZooKeeper cut for longer than its
// session timeout under sysbench: the session expires, not one statement
// fails, and once the network is back the instance registers in a new
// session and follows the registry again.
func TestZooKeeperSessionExpiryUnderSysbench(t *testing.T) {
	r := replication(t)
	sb := sysbenchReady(t, r)
	env := orchenv.ZooKeeper(t, "expiry") // timeToLive: 4s
	zkAddr := env.Config.ServerLists[0]
	relay := testenv.StartRelay(t, zkAddr)
	proxied := *env
	proxied.YAML = strings.Replace(env.YAML, zkAddr, relay.Addr, 1)
	reg := env.Client(t) // the operator's view, not through the relay
	port := freePort(t)
	p := startProxy(t, &proxied, sbYAML(r, &proxied, "expiry", port), reg)

	run := startLoad(t, sb, port, 30)
	time.Sleep(3 * time.Second)
	relay.Cut(true)
	cut := time.Now()
	var expired time.Duration
	orchenv.Eventually(t, "session expired: ephemeral node removed", func() error {
		if _, _, err := reg.Get(context.Background(), "/state/instances/"+p.id); err == nil {
			return fmt.Errorf("%s still registered", p.id)
		}
		expired = time.Since(cut)
		return nil
	})
	time.Sleep(12*time.Second - expired)
	relay.Cut(false)
	joined := time.Now()
	registered(t, reg, p)
	t.Logf("network cut 12s: node removed %v after the cut; registered again %v after it was joined",
		expired.Round(10*time.Millisecond), time.Since(joined).Round(10*time.Millisecond))
	disabledWindow(t, reg, r.Slaves[0].DB(t, ""))
	t.Logf("sysbench: %s", run.clean(t))
}

// fieldOf reads `"Name" : value` from etcdctl -w fields output.
func fieldOf(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.Trim(strings.TrimSpace(k), `"`) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// kill -9 of one of two instances under sysbench: the other serves on
// without an error, and the killed one's node goes within its lease.
func TestInstanceKilledUnderSysbench(t *testing.T) {
	r := replication(t)
	sb := sysbenchReady(t, r)
	env := orchenv.Etcd(t, "killed") // timeToLive: 2s
	reg := env.Client(t)
	portA, portB := freePort(t), freePort(t)
	a := startProxy(t, env, sbYAML(r, env, "killed", portA), reg)
	startProxy(t, env, sbYAML(r, env, "killed", portB), reg)

	runA := startSysbench(t, sb, portA, "oltp_read_only", 20, "--skip_trx=on", "--threads=2")
	runB := startLoad(t, sb, portB, 20)
	time.Sleep(3 * time.Second)
	id := a.id
	a.Kill()
	killed := time.Now()
	var gone time.Duration
	orchenv.Eventually(t, "killed instance's node removed", func() error {
		if _, _, err := reg.Get(context.Background(), "/state/instances/"+id); err == nil {
			return fmt.Errorf("%s still registered", id)
		}
		gone = time.Since(killed)
		return nil
	})
	if gone > 2*time.Second+2*time.Second {
		t.Errorf("node of the killed instance lived %v after kill -9 (lease 2s)", gone)
	}
	runA.wait() // its connections died with the instance
	t.Logf("kill -9: node gone after %v; other instance's sysbench: %s", gone.Round(10*time.Millisecond), runB.clean(t))
}

// A slave killed under a read-only sysbench: reads go on (on the other
// slave and the master) without a client error, and reach it again once it
// is back.
func TestSlaveKilledUnderSysbench(t *testing.T) {
	r := replication(t)
	sb := sysbenchReady(t, r)
	env := orchenv.Etcd(t, "slavekill")
	reg := env.Client(t)
	port := freePort(t)
	p := startProxy(t, env, sbYAML(r, env, "slavekill", port), reg)

	run := startSysbench(t, sb, port, "oltp_read_only", 25, "--skip_trx=on", "--threads=4", "--mysql-ignore-errors=all")
	time.Sleep(3 * time.Second)
	r.Slaves[0].Kill()
	time.Sleep(8 * time.Second)
	r.Slaves[0].Start()
	started := time.Now()
	slave0 := r.Slaves[0].DB(t, "")
	var back time.Duration
	orchenv.Eventually(t, "reads reach the restarted slave", func() error {
		before := comCount(t, slave0)
		time.Sleep(200 * time.Millisecond)
		if comCount(t, slave0) == before {
			return fmt.Errorf("slave0 got no read")
		}
		back = time.Since(started)
		return nil
	})
	res, err := run.wait()
	if err != nil || !strings.Contains(res, "queries:") {
		t.Fatalf("sysbench (%v):\n%s\n%s", err, res, p.LogTail())
	}
	if n := sbCount(res, "ignored errors:"); n != 0 {
		t.Errorf("sysbench saw %d errors while a slave died:\n%s\n%s", n, res, p.LogTail())
	}
	r.Sync(t)
	t.Logf("slave killed 8s: reads back on it %v after restart; sysbench: %s", back.Round(10*time.Millisecond), summaryLine(res))
}

// The master killed under load: reads go on from the slaves without an
// error; writes fail fast with an error naming the master, and succeed
// again soon after it is back.
func TestMasterKilledUnderSysbench(t *testing.T) {
	r := replication(t)
	sb := sysbenchReady(t, r)
	env := orchenv.Etcd(t, "masterkill")
	reg := env.Client(t)
	port := freePort(t)
	p := startProxy(t, env, sbYAML(r, env, "masterkill", port), reg)
	w := p.db(t)
	w.SetMaxOpenConns(1)

	run := startSysbench(t, sb, port, "oltp_read_only", 25, "--skip_trx=on", "--threads=2")
	time.Sleep(3 * time.Second)
	write := func(i int) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := w.ExecContext(ctx, "REPLACE INTO e2e.t VALUES (?, 'masterkill')", 900000+i)
		return time.Since(start), err
	}
	if _, err := write(0); err != nil {
		t.Fatalf("write before the kill: %v", err)
	}
	r.Master.Kill()
	killed := time.Now()
	var worst time.Duration
	var lastErr error
	for i := 1; time.Since(killed) < 8*time.Second; i++ {
		d, err := write(i)
		if err == nil {
			t.Fatalf("write %d succeeded with the master dead", i)
		}
		worst, lastErr = max(worst, d), err
		time.Sleep(100 * time.Millisecond)
	}
	if worst > 3*time.Second {
		t.Errorf("a write took %v to fail with the master dead", worst)
	}
	if !strings.Contains(lastErr.Error(), "ds_master") {
		t.Errorf("write error does not name the master: %v", lastErr)
	}
	r.Master.Start()
	started := time.Now()
	var back time.Duration
	for i := 1000; ; i++ {
		if _, err := write(i); err == nil {
			back = time.Since(started)
			break
		}
		if time.Since(started) > 30*time.Second {
			t.Fatalf("writes still fail 30s after the master came back:\n%s", p.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("master dead 8s: slowest failed write %v (%v); writes back %v after restart; reads: %s",
		worst.Round(time.Millisecond), lastErr, back.Round(10*time.Millisecond), run.clean(t))
	r.Sync(t)
}

// metric reads one gauge from the instance's /metrics.
func (p *proxyProc) metric(t *testing.T, reg registry.Registry, name string) float64 {
	t.Helper()
	_, body := p.adminGet(t, reg, "/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// Connection churn for SHARDGATE_SOAK (30 s; 10 min for the figures in
// docs/reliability.md): clients connect, run a few statements, some in a
// transaction, and hang up. Goroutines return to where they were and
// resident memory stays flat once warm.
func TestChurnSoak(t *testing.T) {
	soak := envDuration(t, "SHARDGATE_SOAK", 30*time.Second)
	r := replication(t)
	env := orchenv.Etcd(t, "soak")
	reg := env.Client(t)
	port := freePort(t)
	p := startProxy(t, env, instanceYAML(r, env, "soak", port), reg)
	idle := p.metric(t, reg, "go_goroutines")

	dsn := fmt.Sprintf("%s:%s@tcp(%s)/e2e?timeout=5s", user, password, p.addr)
	ctx, cancel := context.WithTimeout(context.Background(), soak)
	defer cancel()
	var conns, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if err := churnOnce(dsn, g*1_000_000+i); err != nil && ctx.Err() == nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				conns.Add(1)
			}
		}()
	}
	type sample struct {
		at         time.Duration
		rss, gorou float64
	}
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(max(soak/10, time.Second))
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			samples = append(samples, sample{time.Since(start), p.metric(t, reg, "process_resident_memory_bytes"), p.metric(t, reg, "go_goroutines")})
		}
	}
	tick.Stop()
	wg.Wait()
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d of %d churned connections failed; first: %v", n, conns.Load(), firstErr.Load())
	}
	var idleAfter float64
	orchenv.Eventually(t, "goroutines back to idle", func() error {
		idleAfter = p.metric(t, reg, "go_goroutines")
		if idleAfter > idle+5 {
			return fmt.Errorf("%v goroutines after churn, %v before", idleAfter, idle)
		}
		return nil
	})
	var b strings.Builder
	for _, s := range samples {
		fmt.Fprintf(&b, " %v:%.0fMiB/%.0fg", s.at.Round(time.Second), s.rss/(1<<20), s.gorou)
	}
	t.Logf("%d connections in %v; goroutines idle %v → %v; rss/goroutines:%s", conns.Load(), soak, idle, idleAfter, b.String())
	if len(samples) >= 4 {
		// Warm after the first third; the race detector's shadow memory
		// makes small growth normal, a leak grows with every connection.
		warm, last := samples[len(samples)/3].rss, samples[len(samples)-1].rss
		if last > warm*1.5+32<<20 {
			t.Errorf("resident memory grew from %.0f MiB (warm) to %.0f MiB", warm/(1<<20), last/(1<<20))
		}
	}
}

// churnOnce is one client: connect, read, write in a transaction, hang up.
func churnOnce(dsn string, id int) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var n int
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM e2e.t WHERE id < ?", 10).Scan(&n); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if id%4 == 0 {
		if _, err := c.ExecContext(ctx, "SET @churn = ?", id); err != nil {
			return fmt.Errorf("set: %w", err)
		}
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "REPLACE INTO e2e.t VALUES (?, 'churn')", 800000+id%1000); err != nil {
			tx.Rollback()
			return fmt.Errorf("write: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	return nil
}
