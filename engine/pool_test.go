package engine

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardgate/shardgate/config"
)

// fakePool opens nothing; the engine's tests drive its health by hand:
// the monitor's connection fails with monErr when set, and otherwise
// answers as a slave whose SQL thread runs (sqlStopped: not) with lag
// seconds behind (lag < 0: not a replica).
type fakePool struct {
	down       func(error)
	monErr     atomic.Pointer[error]
	lag        atomic.Int64
	sqlStopped atomic.Bool
	checks     atomic.Int64
	dropped    atomic.Int64
	closed     atomic.Bool
}

func fakePools(_ string, _ *config.DataSource, _ bool, down func(error)) (Pool, error) {
	p := &fakePool{down: down}
	p.lag.Store(-1)
	return p, nil
}

func (p *fakePool) Monitor(context.Context) (MonitorConn, error) {
	if e := p.monErr.Load(); e != nil {
		p.checks.Add(1)
		return nil, *e
	}
	return fakeMonitor{p}, nil
}
func (p *fakePool) DropIdle()                 { p.dropped.Add(1) }
func (p *fakePool) Stats() (int, int, uint64) { return 0, 0, 0 }
func (p *fakePool) Close()                    { p.closed.Store(true) }

type fakeMonitor struct{ p *fakePool }

func (m fakeMonitor) Query(_ context.Context, sql string) ([]string, [][]*string, error) {
	if e := m.p.monErr.Load(); e != nil {
		m.p.checks.Add(1)
		return nil, nil, *e
	}
	str := func(s string) *string { return &s }
	switch sql {
	case "SHOW SLAVE STATUS":
		m.p.checks.Add(1)
		lag := m.p.lag.Load()
		if lag < 0 {
			return nil, nil, nil
		}
		sqlRunning := "Yes"
		if m.p.sqlStopped.Load() {
			sqlRunning = "No"
		}
		return []string{"Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master"},
			[][]*string{{str("Yes"), str(sqlRunning), str(strconv.FormatInt(lag, 10))}}, nil
	case queryMaster:
		m.p.checks.Add(1)
		return nil, [][]*string{{str("read_only"), str("OFF")}, {str("gtid_binlog_pos"), str("0-1-5")}}, nil
	}
	return nil, [][]*string{{str("gtid_slave_pos"), str("0-1-5")}}, nil
}

func (fakeMonitor) Close() error { return nil }

// waitChecks waits until p has had n more checks.
func waitChecks(t *testing.T, p *fakePool, n int64) {
	t.Helper()
	want := p.checks.Load() + n
	deadline := time.Now().Add(5 * time.Second)
	for p.checks.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d checks, want %d", p.checks.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// The monitor takes a slave out after props.healthFailures failed checks
// in a row and back after props.healthSuccesses good ones; a statement's
// failed dial takes it out at once (idle connections dropped); replication
// stopped is a failed check; lag beyond props.maxReplicationLag takes it out
// until it is below half of it.
func TestHealthMonitor(t *testing.T) {
	cfg := testConfig(t, "props: {healthFailures: 3, healthSuccesses: 2, maxReplicationLag: 10s}\n")
	for _, ds := range cfg.DataSources {
		ds.HealthCheckInterval = 10 * time.Millisecond
	}
	r, err := NewRuntime(cfg, fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s0 := r.Snapshot().ByName["s0"]
	fp := s0.Pool.(*fakePool)
	waitChecks(t, fp, 2)
	if !s0.Health.Healthy() {
		t.Fatalf("a slave that is no replica and answers: down (%v)", s0.Health.LastError())
	}
	refused := errors.New("connect: connection refused")
	// The monitor's connection fails: out only after 3 checks in a row.
	fp.monErr.Store(&refused)
	waitChecks(t, fp, 3)
	waitChecks(t, fp, 1)
	if s0.Health.Healthy() || s0.Health.LastError() != refused {
		t.Fatalf("after failed checks: healthy %v, err %v", s0.Health.Healthy(), s0.Health.LastError())
	}
	for range 6 {
		if n, _ := route(t, r.Snapshot(), "SELECT 1", &Session{}); n == "s0" {
			t.Fatal("a read went to the data source marked down")
		}
	}
	fp.monErr.Store(nil)
	deadline := time.Now().Add(5 * time.Second)
	for !s0.Health.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("not back after good checks")
		}
		time.Sleep(time.Millisecond)
	}
	if st := s0.Health.Status(); st.Transitions != 2 || !st.Up {
		t.Fatalf("status %+v, want up after 2 transitions", st)
	}
	// A statement's failed dial: out at once, idle connections dropped.
	fp.down(refused)
	if s0.Health.Healthy() || fp.dropped.Load() != 1 {
		t.Fatalf("after a failed dial: healthy %v, idle dropped %d times", s0.Health.Healthy(), fp.dropped.Load())
	}
	for !s0.Health.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("not back after a failed dial")
		}
		time.Sleep(time.Millisecond)
	}
	// Replication: SQL thread stopped, then lag with hysteresis.
	fp.lag.Store(0)
	fp.sqlStopped.Store(true)
	waitChecks(t, fp, 4)
	if s0.Health.Healthy() || !strings.Contains(s0.Health.LastError().Error(), "replication stopped") {
		t.Fatalf("SQL thread stopped: healthy %v, err %v", s0.Health.Healthy(), s0.Health.LastError())
	}
	fp.sqlStopped.Store(false)
	fp.lag.Store(30)
	waitChecks(t, fp, 4)
	if st := s0.Health.Status(); st.Up || !st.Lagging || st.Last.Lag != 30*time.Second {
		t.Fatalf("30 s behind with a 10 s bound: %+v", st)
	}
	fp.lag.Store(6) // below the bound, not below half of it
	waitChecks(t, fp, 4)
	if s0.Health.Healthy() {
		t.Fatal("back at 6 s behind: the hysteresis wants < 5 s")
	}
	fp.lag.Store(4)
	waitChecks(t, fp, 4)
	if !s0.Health.Healthy() {
		t.Fatalf("not back at 4 s behind: %+v", s0.Health.Status())
	}
	// Every slave's replication stopped: reads go to the master; the master
	// unreachable too: to a slave that answers, stale rather than no answer.
	s1p := r.Snapshot().ByName["s1"].Pool.(*fakePool)
	mp := r.Snapshot().ByName["m"].Pool.(*fakePool)
	for _, p := range []*fakePool{fp, s1p} {
		p.lag.Store(0)
		p.sqlStopped.Store(true)
	}
	waitChecks(t, fp, 4)
	waitChecks(t, s1p, 4)
	if n, _ := route(t, r.Snapshot(), "SELECT 1", &Session{}); n != "m" {
		t.Fatalf("slaves stopped: read on %s, want the master", n)
	}
	mp.monErr.Store(&refused)
	mp.down(refused)
	if n, _ := route(t, r.Snapshot(), "SELECT 1", &Session{}); n != "s0" && n != "s1" {
		t.Fatalf("slaves stopped, master unreachable: read on %s, want a slave", n)
	}
	mp.monErr.Store(nil)
	for _, p := range []*fakePool{fp, s1p} {
		p.sqlStopped.Store(false)
	}
	// Health belongs to the pool: a config swap that changes the data source
	// opens a new one.
	if err := r.Apply(testConfig(t, "props: {readYourWrites: off}\n")); err != nil {
		t.Fatal(err)
	}
	if h := r.Snapshot().ByName["s0"].Health; h == s0.Health {
		t.Fatal("pool with a changed healthCheckInterval kept")
	}
}

// A factory error fails Apply naming the data source, and nothing opened
// for that config stays open.
func TestPoolFactoryError(t *testing.T) {
	var opened []*fakePool
	n := 0
	open := func(name string, ds *config.DataSource, ro bool, down func(error)) (Pool, error) {
		if n++; n == 3 {
			return nil, errors.New("bad url parameters")
		}
		p := &fakePool{down: down}
		opened = append(opened, p)
		return p, nil
	}
	_, err := NewRuntime(testConfig(t, ""), open)
	if err == nil || err.Error() != "dataSources.s1: bad url parameters" {
		t.Fatalf("NewRuntime: %v", err)
	}
	for _, p := range opened {
		if !p.closed.Load() {
			t.Fatal("a pool opened for the rejected config is still open")
		}
	}
}

// A flapping data source (failing and recovering again and again) leaves
// the read set at most props.healthFlapLimit times per window: after that
// it is held out, with an error saying why, until the window frees a slot.
func TestHealthFlapping(t *testing.T) {
	cfg := testConfig(t, "props: {healthFailures: 1, healthSuccesses: 1, healthFlapLimit: 3, healthFlapWindow: 2s}\n")
	for _, ds := range cfg.DataSources {
		ds.HealthCheckInterval = 10 * time.Millisecond
	}
	r, err := NewRuntime(cfg, fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s0 := r.Snapshot().ByName["s0"]
	fp := s0.Pool.(*fakePool)
	refused := errors.New("connect: connection refused")
	start := time.Now()
	for range 6 {
		fp.monErr.Store(&refused)
		waitChecks(t, fp, 2)
		fp.monErr.Store(nil)
		waitChecks(t, fp, 3)
	}
	st := s0.Health.Status()
	if time.Since(start) > time.Second {
		t.Skipf("the loop took %v, longer than half the window: the count is not meaningful", time.Since(start))
	}
	if st.Up || st.Transitions > 2*3+1 || !strings.Contains(st.LastError, "held out of the read set") {
		t.Fatalf("after 6 flaps: %+v", st)
	}
	// The window passes: it comes back.
	deadline := time.Now().Add(5 * time.Second)
	for !s0.Health.Healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("still held out: %+v", s0.Health.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
