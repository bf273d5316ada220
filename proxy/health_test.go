package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/internal/testenv"
)

// readLoad runs SELECT @@server_id through db on 4 connections until stop,
// counting errors and the reads each server answered since the last reset.
type readLoad struct {
	mu     sync.Mutex
	seen   map[int]int
	errs   atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
	lastAt map[int]time.Time
}

func startReads(t *testing.T, p *proxyEnv) *readLoad {
	db := p.db(t, "")
	l := &readLoad{seen: map[int]int{}, stop: make(chan struct{}), lastAt: map[int]time.Time{}}
	for range 4 {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				var id int
				if err := db.QueryRowContext(context.Background(), "SELECT @@server_id").Scan(&id); err != nil {
					l.errs.Add(1)
					t.Logf("read failed: %v", err)
					continue
				}
				l.mu.Lock()
				l.seen[id]++
				l.lastAt[id] = time.Now()
				l.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	t.Cleanup(l.end)
	return l
}

func (l *readLoad) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// last is when server id last answered a read.
func (l *readLoad) last(id int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastAt[id]
}

// until waits (up to limit) for cond, returning how long it took.
func until(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// A slave whose SQL thread stops leaves the read set within
// 2 × healthCheckInterval + healthCheckTimeout, and comes back after
// props.healthSuccesses good checks once it runs again; a concurrent read
// load sees no error meanwhile.
func TestHealthReplicationStopped(t *testing.T) {
	p := startProxy(t, "readYourWrites: off, healthFailures: 2, healthSuccesses: 2")
	r := p.r
	s0 := r.Slaves[0]
	l := startReads(t, p)
	until(t, "reads on slave0", 5*time.Second, func() bool { return !l.last(s0.ServerID).IsZero() })
	stopped := time.Now()
	s0.Exec(t, "STOP SLAVE SQL_THREAD")
	t.Cleanup(func() { s0.Exec(t, "START SLAVE SQL_THREAD") })
	h := p.rt.Snapshot().ByName["slave0"].Health
	took := until(t, "slave0 out of the read set", 5*time.Second, func() bool { return !h.Healthy() })
	// 2 × 100 ms + 1 s is the bound; the check's own round trips come on top.
	if took > 2*100*time.Millisecond+time.Second+500*time.Millisecond {
		t.Errorf("slave0 left the read set %v after its SQL thread stopped", took)
	}
	t.Logf("out %v after STOP SLAVE SQL_THREAD: %v", took, h.LastError())
	time.Sleep(100 * time.Millisecond) // reads in flight when it went out
	if at := l.last(s0.ServerID); at.After(stopped.Add(took).Add(100 * time.Millisecond)) {
		t.Errorf("a read went to slave0 at %v, after it left the read set", at.Sub(stopped))
	}
	s0.Exec(t, "START SLAVE SQL_THREAD")
	back := time.Now()
	until(t, "reads on slave0 again", 5*time.Second, func() bool { return l.last(s0.ServerID).After(back) })
	l.end()
	if n := l.errs.Load(); n != 0 {
		t.Errorf("%d reads failed", n)
	}
	if st := h.Status(); st.Transitions != 2 || !st.Last.Replica || !st.Last.SQLRunning || st.Last.GTID == "" {
		t.Errorf("status after the round trip: %+v", st)
	}
}

// A slave delayed (MASTER_DELAY) past props.maxReplicationLag leaves the
// read set, and comes back once it is below half of the bound.
func TestHealthReplicationLag(t *testing.T) {
	p := startProxy(t, "readYourWrites: off, maxReplicationLag: 2s")
	r := p.r
	s1 := r.Slaves[1]
	h := p.rt.Snapshot().ByName["slave1"].Health
	until(t, "slave1 healthy", 5*time.Second, h.Healthy)
	s1.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 5", "START SLAVE")
	t.Cleanup(func() { s1.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE") })
	// Writes keep the slave behind.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		db := r.Master.DB(t, "pt")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			db.Exec("REPLACE INTO t VALUES (900, ?)", testenv.Itoa(i))
		}
	})
	defer func() { close(stop); wg.Wait() }()
	// START SLAVE passes through Slave_IO_Running=Preparing, which a check
	// may see and count as stopped replication: wait for the lag itself.
	took := until(t, "slave1 out for lag", 15*time.Second, func() bool { return !h.Healthy() && h.Status().Lagging })
	st := h.Status()
	t.Logf("out %v after MASTER_DELAY = 5: lag %v, lagging %v", took, st.Last.Lag, st.Lagging)
	if !st.Lagging || st.Last.Lag <= 2*time.Second {
		t.Errorf("status when out: %+v", st)
	}
	s1.Exec(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE")
	until(t, "slave1 back once caught up", 15*time.Second, h.Healthy)
	if st := h.Status(); st.Last.Lag >= time.Second {
		t.Errorf("back at lag %v, want below half of 2s", st.Last.Lag)
	}
}

// A slave stopped with SIGSTOP under a read load: the monitor's check
// times out and takes it out within 2 × healthCheckInterval +
// healthCheckTimeout; reads go on on the other slave; the reads that were
// in flight on the stopped server wait for it and finish after SIGCONT
// (none fails); it rejoins after good checks.
func TestHealthSlaveStopped(t *testing.T) {
	p := startProxy(t, "readYourWrites: off, healthFailures: 2, healthSuccesses: 2")
	s0, s1 := p.r.Slaves[0], p.r.Slaves[1]
	l := startReads(t, p)
	until(t, "reads on slave0", 5*time.Second, func() bool { return !l.last(s0.ServerID).IsZero() })
	pid := s0.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	h := p.rt.Snapshot().ByName["slave0"].Health
	took := until(t, "slave0 out of the read set", 10*time.Second, func() bool { return !h.Healthy() })
	t.Logf("out %v after SIGSTOP: %v", took, h.LastError())
	if took > 2*100*time.Millisecond+time.Second+500*time.Millisecond {
		t.Errorf("slave0 left the read set %v after SIGSTOP", took)
	}
	// Reads go on: slave1 answers after slave0 went out.
	out := time.Now()
	until(t, "reads on slave1", 5*time.Second, func() bool { return l.last(s1.ServerID).After(out.Add(200 * time.Millisecond)) })
	time.Sleep(500 * time.Millisecond)
	resume()
	back := time.Now()
	until(t, "reads on slave0 again", 10*time.Second, func() bool { return l.last(s0.ServerID).After(back) })
	l.end()
	t.Logf("slave0 stopped %v; reads per server %v", back.Sub(stopped).Round(time.Millisecond), l.seen)
	if n := l.errs.Load(); n != 0 {
		t.Errorf("%d reads failed", n)
	}
}

// Failed logins are counted per address: past props.maxLoginFailures in
// the window the address is refused before any password is checked (the
// right password too), and let in again once the window passed.
func TestLoginThrottle(t *testing.T) {
	p := startProxy(t, "readYourWrites: off, maxLoginFailures: 3, loginFailureWindow: 2s")
	try := func(pw string) error {
		db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/pt", user, pw, p.addr))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Ping()
	}
	for i := range 3 {
		if err := try("wrong"); err == nil || !strings.Contains(err.Error(), "1045") {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	err := try(password)
	if err == nil || !strings.Contains(err.Error(), "1129") || !strings.Contains(err.Error(), "is blocked because of 3 failed logins") {
		t.Fatalf("after 3 failures: %v", err)
	}
	time.Sleep(2100 * time.Millisecond)
	if err := try(password); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// A slave whose network fails before any check noticed: logins with a
// default database (checked on a slave) and reads skip it to another data
// source; no client sees its error.
func TestDeadSlaveSkipped(t *testing.T) {
	r := harness(t)
	cut := testenv.StartRelay(t, r.Slaves[0].Addr())
	y := fmt.Sprintf(`
listen: 127.0.0.1:0
users: [{name: %s, password: %s}]
dataSources:
  master: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 1h, connectTimeout: 1s}
  slave0: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 1h, connectTimeout: 1s}
  slave1: {url: "%s", username: root, password: %s, database: pt, healthCheckInterval: 1h, connectTimeout: 1s}
masterSlaveRule: {masterDataSourceName: master, slaveDataSourceNames: [slave0, slave1], loadBalanceAlgorithmType: ROUND_ROBIN}
props: {readYourWrites: off}
`, user, password, r.Master.Addr(), testenv.RootPassword, cut.Addr, testenv.RootPassword, r.Slaves[1].Addr(), testenv.RootPassword)
	p := startProxyYAML(t, r, y)
	login := func(i int) {
		db := p.db(t, "")
		defer db.Close()
		var id int
		if err := db.QueryRowContext(context.Background(), "SELECT @@server_id").Scan(&id); err != nil {
			t.Errorf("login and read %d: %v", i, err)
		}
	}
	for i := range 4 {
		login(i) // warm: both slaves have pooled connections
	}
	cut.Cut(true)
	for i := range 4 {
		// Logins alone first (round robin: one of the first two checks the
		// database on slave0), then reads.
		db := p.db(t, "")
		if err := db.Ping(); err != nil {
			t.Errorf("login %d: %v", i, err)
		}
		db.Close()
	}
	for i := range 4 {
		login(i)
	}
}

// A slave killed (SIGKILL) and restarted every second for 20 s under a
// read load: with props.healthFlapLimit 3 per minute it leaves the read
// set at most three times (at most 5 transitions), is then held out
// although it answers between kills, and no read answered by it comes
// after the hold began; the clients see no error (reads it could not take
// ran on the other slave).
func TestHealthFlappingSlave(t *testing.T) {
	p := startProxy(t, "readYourWrites: off, healthFailures: 1, healthSuccesses: 1, healthFlapLimit: 3, healthFlapWindow: 1m")
	s1 := p.r.Slaves[1]
	h := p.rt.Snapshot().ByName["slave1"].Health
	l := startReads(t, p)
	until(t, "reads on slave1", 5*time.Second, func() bool { return !l.last(s1.ServerID).IsZero() })
	t0 := h.Status().Transitions
	defer func() {
		if s1.Pid() == 0 {
			s1.Start()
		}
		p.r.Sync(t)
	}()
	var heldAt time.Time
	sample := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if heldAt.IsZero() && strings.Contains(h.Status().LastError, "held out") {
				heldAt = time.Now()
			}
		}
	}
	cycles := 0
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); cycles++ {
		s1.Kill()
		sample(300 * time.Millisecond)
		s1.Start()
		sample(700 * time.Millisecond)
	}
	l.end()
	st := h.Status()
	n := st.Transitions - t0
	t.Logf("%d kill/restart cycles: %d transitions, held out after %v, reads %v, last error %q",
		cycles, n, heldAt, l.seen, st.LastError)
	if n > 5 {
		t.Errorf("%d transitions in and out of the read set, want at most 5 (3 departures)", n)
	}
	if heldAt.IsZero() || st.Up {
		t.Errorf("slave1 not held out after flapping: %+v", st)
	}
	if last := l.last(s1.ServerID); !heldAt.IsZero() && last.After(heldAt.Add(50*time.Millisecond)) {
		t.Errorf("a read answered by slave1 at %v, after it was held out at %v", last, heldAt)
	}
	if e := l.errs.Load(); e != 0 {
		t.Errorf("%d client reads failed", e)
	}
}

// The operator's DISABLED and the monitor's view combine: a slave the
// operator disabled gets no read although its checks pass; enabled again
// but seen degraded by the monitor (replication stopped) it gets none
// either; with both fine it gets reads again.
func TestOperatorAndMonitor(t *testing.T) {
	p := startProxy(t, "readYourWrites: off, healthFailures: 1, healthSuccesses: 1")
	s0 := p.r.Slaves[0]
	h := p.rt.Snapshot().ByName["slave0"].Health
	until(t, "slave0 healthy", 5*time.Second, h.Healthy)
	l := startReads(t, p)
	reads := func(what string) map[int]int {
		t.Helper()
		l.mu.Lock()
		clear(l.seen)
		l.mu.Unlock()
		time.Sleep(500 * time.Millisecond)
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Logf("%s: reads by server %v", what, l.seen)
		return maps.Clone(l.seen)
	}
	if err := p.rt.SetState(config.State{DisabledDataSources: map[string]string{"slave0": "/state/datasources/slave0"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // reads already planned
	if by := reads("slave0 DISABLED, healthy"); by[s0.ServerID] != 0 || !h.Healthy() {
		t.Errorf("DISABLED slave0 (healthy %v) served %d reads", h.Healthy(), by[s0.ServerID])
	}
	s0.Exec(t, "STOP SLAVE SQL_THREAD")
	t.Cleanup(func() { s0.Exec(t, "START SLAVE SQL_THREAD") })
	until(t, "slave0 degraded", 5*time.Second, func() bool { return !h.Healthy() })
	if err := p.rt.SetState(config.State{}); err != nil {
		t.Fatal(err)
	}
	if by := reads("slave0 enabled, degraded"); by[s0.ServerID] != 0 {
		t.Errorf("degraded slave0 served %d reads", by[s0.ServerID])
	}
	s0.Exec(t, "START SLAVE SQL_THREAD")
	until(t, "slave0 healthy again", 5*time.Second, h.Healthy)
	if by := reads("slave0 enabled, healthy"); by[s0.ServerID] == 0 {
		t.Error("slave0 enabled and healthy served no read")
	}
	l.end()
	if e := l.errs.Load(); e != 0 {
		t.Errorf("%d reads failed", e)
	}
}
