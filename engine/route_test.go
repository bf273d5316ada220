package engine

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/gtid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(t testing.TB, extra string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`
users: [{name: u, password: x}]
dataSources:
  m:  {url: "127.0.0.1:1", username: r}
  s0: {url: "127.0.0.1:2", username: r}
  s1: {url: "127.0.0.1:3", username: r, weight: 3}
masterSlaveRule: {masterDataSourceName: m, slaveDataSourceNames: [s0, s1]}
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// route plans sql and returns the data source of its one unit; tried names
// data sources already tried.
func route(t *testing.T, snap *Snapshot, sql string, s *Session, tried ...string) (string, error) {
	t.Helper()
	var tr Tried
	for _, n := range tried {
		tr.Add(snap.ByName[n])
	}
	p, err := snap.Plan(nil, Classify(sql), s, &tr)
	if err != nil {
		return "", err
	}
	if len(p.Units) != 1 || p.Combine != PassThrough {
		t.Fatalf("%d units, combine %d", len(p.Units), p.Combine)
	}
	return p.Units[0].DS.Name, nil
}

// st is the outcome a master reports with status flags (0x1 in a
// transaction, 0x2 autocommit).
func st(status uint16, ok bool) Outcome {
	return Outcome{OK: ok, InTx: status&1 != 0, AutocommitOff: status&2 == 0}
}

func TestRoute(t *testing.T) {
	r, err := NewRuntime(testConfig(t, ""), fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap := r.Snapshot()
	for _, tc := range []struct {
		sql   string
		sess  Session
		tried []string
		want  string
	}{
		{"INSERT INTO t VALUES (1)", Session{}, nil, "m"},
		{"SELECT 1 FOR UPDATE", Session{}, nil, "m"},
		{"/* shardgate:master */ SELECT 1", Session{}, nil, "m"},
		{"SELECT 1", Session{inTx: true}, nil, "m"},
		{"SELECT 1", Session{autocommitOff: true}, nil, "m"},
		{"SELECT 1", Session{pinned: true}, nil, "m"},
		{"SELECT 1", Session{wrote: true}, nil, "m"},
		{"SELECT 1", Session{}, []string{"s0", "s1"}, "m"},
		{"SELECT 1", Session{}, []string{"s0"}, "s1"},
		{"SELECT 1", Session{}, []string{"s1"}, "s0"},
	} {
		got, err := route(t, snap, tc.sql, &tc.sess, tc.tried...)
		if err != nil || got != tc.want {
			t.Errorf("%q %+v tried %v: %s %v, want %s", tc.sql, tc.sess, tc.tried, got, err, tc.want)
		}
	}
	if _, err := route(t, snap, "SELECT 1", &Session{}, "s0", "s1", "m"); err == nil || !errors.Is(err, ErrNoDataSource) {
		t.Error("everything tried: no error")
	}
	// Round robin alternates.
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		n, _ := route(t, snap, "SELECT 1", &Session{})
		seen[n]++
	}
	if seen["s0"] != 5 || seen["s1"] != 5 {
		t.Errorf("round robin over sessions: %v", seen)
	}
	// And within one session; a tried slave is skipped without losing
	// the turn's order.
	var one Session
	clear(seen)
	prev := ""
	for range 10 {
		n, _ := route(t, snap, "SELECT 1", &one)
		if n == prev {
			t.Errorf("one session read %s twice in a row", n)
		}
		prev = n
		seen[n]++
	}
	if seen["s0"] != 5 || seen["s1"] != 5 {
		t.Errorf("round robin in one session: %v", seen)
	}
	for range 4 {
		if n, _ := route(t, snap, "SELECT 1", &one, "s0"); n != "s1" {
			t.Errorf("s0 tried: read went to %s", n)
		}
	}
}

func TestRouteState(t *testing.T) {
	r, err := NewRuntime(testConfig(t, ""), fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A disabled slave gets no reads; all slaves disabled: the master.
	must(r.SetState(config.State{DisabledDataSources: map[string]string{"s0": "/app/state/datasources/s0"}}))
	for i := 0; i < 4; i++ {
		if n, _ := route(t, r.Snapshot(), "SELECT 1", &Session{}); n != "s1" {
			t.Fatalf("s0 disabled: read went to %s", n)
		}
	}
	must(r.SetState(config.State{DisabledDataSources: map[string]string{"s0": "", "s1": ""}}))
	if n, _ := route(t, r.Snapshot(), "SELECT 1", &Session{}); n != "m" {
		t.Fatalf("all slaves disabled: read went to %s", n)
	}
	// Master disabled: writes fail naming the node, reads flow.
	must(r.SetState(config.State{DisabledDataSources: map[string]string{"m": "/app/state/datasources/m"}}))
	if _, err := route(t, r.Snapshot(), "UPDATE t SET a=1", &Session{}); err == nil || !strings.Contains(err.Error(), "/app/state/datasources/m") {
		t.Errorf("master disabled: %v", err)
	}
	if n, err := route(t, r.Snapshot(), "SELECT 1", &Session{}); err != nil || n == "m" {
		t.Errorf("master disabled: read went to %s %v", n, err)
	}
	// Instance disabled: everything but ROLLBACK fails.
	must(r.SetState(config.State{InstanceDisabled: true, InstancePath: "/app/state/instances/1.2.3.4@-@9"}))
	if _, err := route(t, r.Snapshot(), "SELECT 1", &Session{}); err == nil || !strings.Contains(err.Error(), "/app/state/instances/1.2.3.4@-@9") {
		t.Errorf("instance disabled: %v", err)
	}
	if _, err := route(t, r.Snapshot(), "ROLLBACK", &Session{}); err != nil {
		t.Errorf("instance disabled: ROLLBACK: %v", err)
	}
	// State survives a config swap; unchanged pools are kept, changed ones replaced.
	old := r.Snapshot()
	cfg := testConfig(t, "props: {readYourWrites: off}\n")
	cfg.DataSources["s1"].MaxPoolSize = 7
	must(r.Apply(cfg))
	now := r.Snapshot()
	if !now.State.InstanceDisabled || now.ByName["m"].Pool != old.ByName["m"].Pool || now.ByName["s1"].Pool == old.ByName["s1"].Pool {
		t.Errorf("apply: state %+v, pools m same %v, s1 same %v", now.State, now.ByName["m"].Pool == old.ByName["m"].Pool, now.ByName["s1"].Pool == old.ByName["s1"].Pool)
	}
	if !old.ByName["s1"].Pool.(*fakePool).closed.Load() || now.ByName["s1"].Pool.(*fakePool).closed.Load() {
		t.Error("replaced pool still open, or its replacement closed")
	}
	// A bad config is rejected and the last good one stays.
	bad := testConfig(t, "")
	bad.MasterSlaveRule.MasterDataSourceName = "nope"
	if err := r.Apply(bad); err == nil || r.Snapshot() != now {
		t.Errorf("bad config applied: %v", err)
	}
}

func TestReadYourWrites(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		after []string // where reads go right after a write, then after 60ms
	}{
		{"off", []string{"slave", "slave"}},
		{"window", []string{"m", "slave"}},
		{"session", []string{"m", "m"}},
	} {
		r, err := NewRuntime(testConfig(t, "props: {readYourWrites: "+tc.mode+", readYourWritesWindow: 50ms}\n"), fakePools)
		if err != nil {
			t.Fatal(err)
		}
		var s Session
		s.Done(Classify("INSERT INTO t VALUES (1)"), true, st(0x0002, true))
		for i, want := range tc.after {
			if i == 1 {
				time.Sleep(60 * time.Millisecond)
			}
			n, _ := route(t, r.Snapshot(), "SELECT 1", &s)
			if (want == "m") != (n == "m") {
				t.Errorf("%s: read %d went to %s, want %s", tc.mode, i, n, want)
			}
		}
		r.Close()
	}
}

func TestSessionDone(t *testing.T) {
	var s Session
	s.Done(Classify("BEGIN"), true, st(0x0003, true))
	if !s.InTx() || !s.NeedsMasterConn() {
		t.Fatal("BEGIN: not in tx")
	}
	s.Done(Classify("SELECT x"), true, st(0, false)) // an error keeps the state
	if !s.InTx() {
		t.Fatal("error ended the tx")
	}
	s.Done(Classify("COMMIT"), true, st(0x0002, true))
	if s.InTx() || s.NeedsMasterConn() {
		t.Fatal("COMMIT: still pinned")
	}
	s.Done(Classify("SET autocommit=0"), true, st(0x0000, true))
	if !s.AutocommitOff() || !s.NeedsMasterConn() {
		t.Fatal("autocommit=0 not pinned")
	}
	s.Reset()
	s.Done(Classify("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"), true, st(0x0002, true))
	if !s.NeedsMasterConn() {
		t.Fatal("SET TRANSACTION: next statement may leave the connection")
	}
	s.Done(Classify("START TRANSACTION"), true, st(0x0003, true))
	s.Done(Classify("COMMIT"), true, st(0x0002, true))
	if s.NeedsMasterConn() {
		t.Fatal("after the transaction: still pinned")
	}
	s.Reset()
	s.Done(Classify("CREATE TEMPORARY TABLE t (a INT)"), true, st(0x0002, true))
	if !s.Pinned() {
		t.Fatal("temporary table not pinned")
	}
}

func BenchmarkClassifyRouteCached(b *testing.B) {
	r, err := NewRuntime(testConfig(b, ""), fakePools)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	q := []byte("SELECT c FROM sbtest1 WHERE id=?")
	cache := r.Cache()
	cache.Classify(q)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		units := make([]Unit, 0, 1)
		var s Session
		for pb.Next() {
			c := cache.Classify(q)
			at := NewAttempt(r.Snapshot(), c, &s)
			p, _ := at.Next(units[:0])
			units = p.Units
		}
	})
}

// BenchmarkClassifyRouteRecent is BenchmarkClassifyRouteCached as the
// front ends classify: through each session's recent texts.
func BenchmarkClassifyRouteRecent(b *testing.B) {
	r, err := NewRuntime(testConfig(b, ""), fakePools)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	q := []byte("SELECT c FROM sbtest1 WHERE id=?")
	cache := r.Cache()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		units := make([]Unit, 0, 1)
		var s Session
		var recent Recent
		for pb.Next() {
			c := cache.ClassifyRecent(&recent, q)
			at := NewAttempt(r.Snapshot(), c, &s)
			p, _ := at.Next(units[:0])
			units = p.Units
		}
	})
}

func BenchmarkClassifyRouteCachedSerial(b *testing.B) {
	r, err := NewRuntime(testConfig(b, ""), fakePools)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	q := []byte("SELECT c FROM sbtest1 WHERE id=?")
	cache := r.Cache()
	units := make([]Unit, 0, 1)
	var s Session
	b.ReportAllocs()
	for b.Loop() {
		c := cache.Classify(q)
		at := NewAttempt(r.Snapshot(), c, &s)
		p, _ := at.Next(units[:0])
		units = p.Units
	}
}

func BenchmarkClassifyUncached(b *testing.B) {
	q := "SELECT c FROM sbtest1 WHERE id=? AND k BETWEEN 1 AND 100 ORDER BY c"
	b.ReportAllocs()
	for b.Loop() {
		Classify(q)
	}
}

func TestBalancers(t *testing.T) {
	for _, tc := range []struct {
		algo string
		want func(s0, s1 int) bool
	}{
		{"RANDOM", func(s0, s1 int) bool { return s0 > 350 && s1 > 350 }},
		{"WEIGHT", func(s0, s1 int) bool { return s1 > 2*s0 && s0 > 100 }}, // weights 1 and 3
	} {
		cfg := testConfig(t, "")
		cfg.MasterSlaveRule.LoadBalanceAlgorithmType = tc.algo
		r, err := NewRuntime(cfg, fakePools)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for i := 0; i < 1000; i++ {
			n, err := route(t, r.Snapshot(), "SELECT 1", &Session{})
			if err != nil {
				t.Fatal(err)
			}
			seen[n]++
		}
		if !tc.want(seen["s0"], seen["s1"]) || seen["m"] != 0 {
			t.Errorf("%s: %v", tc.algo, seen)
		}
		// An excluded slave is never chosen.
		for i := 0; i < 50; i++ {
			if n, _ := route(t, r.Snapshot(), "SELECT 1", &Session{}, "s1"); n != "s0" {
				t.Fatalf("%s: s1 tried, read went to %s", tc.algo, n)
			}
		}
		r.Close()
	}
}

// readYourWrites: causal — after a commit the session's reads go to a
// slave known to have applied it without waiting, else to one that has
// not timed out lately, which waits first (Unit.Wait); a wait in vain
// (Behind) sends the read to the master.
func TestRouteCausal(t *testing.T) {
	r, err := NewRuntime(testConfig(t, "props: {readYourWrites: causal}"), fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap := r.Snapshot()
	s0, s1 := snap.ByName["s0"], snap.ByName["s1"]
	plan := func(s *Session, tried *Tried) Unit {
		t.Helper()
		p, err := snap.Plan(nil, Classify("SELECT 1"), s, tried)
		if err != nil {
			t.Fatal(err)
		}
		return p.Units[0]
	}
	var s Session
	s.Done(Classify("UPDATE t SET a = 1"), true, st(2, true))
	// A write without a GTID (not tracked): the master, as mode session.
	if u := plan(&s, nil); u.DS.Name != "m" {
		t.Fatalf("untracked write: read on %s", u.DS.Name)
	}
	s.Committed("m", gtid.GTID{Domain: 0, Server: 1, Seq: 10})
	seen := map[string]int{}
	for range 10 {
		u := plan(&s, nil)
		if u.DS.IsMaster() || u.Wait.String() != "0-1-10" {
			t.Fatalf("nothing known applied: %s waits for %q", u.DS.Name, u.Wait)
		}
		seen[u.DS.Name]++
	}
	if seen["s0"] == 0 || seen["s1"] == 0 {
		t.Fatalf("waits not balanced: %v", seen)
	}
	s0.Health.NoteApplied(gtid.Pos{{Domain: 0, Server: 1, Seq: 12}})
	for range 10 {
		if u := plan(&s, nil); u.DS != s0 || u.Wait != nil {
			t.Fatalf("s0 applied it: read on %s waiting for %q", u.DS.Name, u.Wait)
		}
	}
	s.Committed("m", gtid.GTID{Domain: 0, Server: 1, Seq: 13})
	s1.Health.NoteBehind()
	for range 10 {
		if u := plan(&s, nil); u.DS != s0 || u.Wait.String() != "0-1-13" {
			t.Fatalf("s1 timed out lately: read on %s waiting for %q", u.DS.Name, u.Wait)
		}
	}
	at := NewAttempt(snap, Classify("SELECT 1"), &s)
	p, _ := at.Next(nil)
	at.Behind(&p.Units[0], errors.New("timeout"))
	if p, err := at.Next(nil); err != nil || p.Units[0].DS.Name != "m" || p.Units[0].Wait != nil {
		t.Fatalf("after Behind: %v %v", p.Units, err)
	}
	// A check's position replaces what waits noted.
	s0.Health.setApplied("0-1-5")
	if s0.Health.Applied(gtid.Pos{{Domain: 0, Server: 1, Seq: 6}}) || !s0.Health.Applied(gtid.Pos{{Domain: 0, Server: 2, Seq: 5}}) {
		t.Fatal("setApplied")
	}
	s.Reset()
	if u := plan(&s, nil); u.DS.IsMaster() || u.Wait != nil {
		t.Fatalf("after a reset: %s waits for %q", u.DS.Name, u.Wait)
	}
}

// BenchmarkCacheInlinedValues: text mode, each statement with a new value
// (sysbench --db-ps-mode=disable, ids over 100,000 rows).
func BenchmarkCacheInlinedValues(b *testing.B) {
	cache := NewCache(4096)
	var q []byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = (i + 7919) % 100000
		q = append(q[:0], "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN "...)
		q = strconv.AppendInt(q, int64(i), 10)
		q = append(q, " AND "...)
		q = strconv.AppendInt(q, int64(i+99), 10)
		q = append(q, " ORDER BY c"...)
		cache.Classify(q)
	}
}
