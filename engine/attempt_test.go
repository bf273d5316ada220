package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/config"
)

// A group may have any number of slaves: 100 of them, each tried once
// after the others failed, then the master, then an error.
func TestManySlaves(t *testing.T) {
	var b strings.Builder
	b.WriteString("users: [{name: u, password: x}]\ndataSources:\n  m: {url: \"127.0.0.1:1\", username: r}\n")
	var names []string
	for i := range 100 {
		fmt.Fprintf(&b, "  s%d: {url: \"127.0.0.1:%d\", username: r}\n", i, 2+i)
		names = append(names, fmt.Sprintf("s%d", i))
	}
	fmt.Fprintf(&b, "masterSlaveRule: {masterDataSourceName: m, slaveDataSourceNames: [%s]}\n", strings.Join(names, ", "))
	cfg, err := config.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRuntime(cfg, fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Session
	at := NewAttempt(r.Snapshot(), Classify("SELECT 1"), &s)
	seen := map[string]bool{}
	for {
		p, err := at.Next(nil)
		if err != nil {
			if !errors.Is(err, ErrNoDataSource) || len(seen) != 101 {
				t.Fatalf("after %d data sources: %v", len(seen), err)
			}
			break
		}
		u := &p.Units[0]
		if seen[u.DS.Name] {
			t.Fatalf("%s planned twice", u.DS.Name)
		}
		seen[u.DS.Name] = true
		if u.DS.IsMaster() != (len(seen) == 101) {
			t.Fatalf("planned %s as number %d", u.DS.Name, len(seen))
		}
		if !at.Retry(u, false, errDown) {
			t.Fatalf("a read that failed on %s may not be retried", u.DS.Name)
		}
	}
}

// What may be retried: reads, not held, outside transactions; stale
// connections for any statement, at most three times; a config swap plans
// afresh, at most three times.
func TestAttemptRules(t *testing.T) {
	r, err := NewRuntime(testConfig(t, "props: {readYourWrites: off}\n"), fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap := r.Snapshot()
	next := func(at *Attempt) *Unit {
		t.Helper()
		p, err := at.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		return &p.Units[0]
	}
	var s Session
	w := NewAttempt(snap, Classify("UPDATE t SET a = 1"), &s)
	if u := next(&w); w.Retry(u, false, errDown) {
		t.Error("a write was retried elsewhere")
	}
	for i := range 3 {
		if !w.Stale(false, errDown) {
			t.Fatalf("stale connection %d: no retry", i)
		}
	}
	if w.Stale(false, errDown) {
		t.Error("a fourth stale connection was retried")
	}
	rd := NewAttempt(snap, Classify("SELECT 1"), &s)
	if u := next(&rd); rd.Retry(u, true, errDown) || rd.Stale(true, errDown) {
		t.Error("a read on a held connection was retried")
	}
	var inTx Session
	inTx.Done(Classify("BEGIN"), true, Outcome{OK: true, InTx: true})
	tx := NewAttempt(snap, Classify("SELECT 1"), &inTx)
	if u := next(&tx); !u.DS.IsMaster() || tx.Retry(u, false, errDown) || tx.Stale(false, errDown) {
		t.Error("a read in a transaction was retried")
	}
	ref := NewAttempt(snap, Classify("SELECT f()"), &s)
	if u := next(&ref); u.DS.IsMaster() {
		t.Fatal("read planned on the master")
	}
	ref.Refused()
	if u := next(&ref); !u.DS.IsMaster() || ref.Class()&Read != 0 {
		t.Errorf("refused read: planned on %s, class %s", u.DS.Name, ref.Class())
	}
	sw := NewAttempt(snap, Classify("SELECT 1"), &s)
	for i := range 3 {
		if !sw.Resnap(r.Snapshot()) {
			t.Fatalf("swap %d refused", i)
		}
	}
	if sw.Resnap(r.Snapshot()) {
		t.Error("a fourth swap was accepted")
	}
}

// Engine errors carry their MySQL code and state and match their kind.
func TestTypedErrors(t *testing.T) {
	r, err := NewRuntime(testConfig(t, ""), fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Session
	if err := r.SetState(config.State{InstanceDisabled: true, InstancePath: "/a/state/instances/x"}); err != nil {
		t.Fatal(err)
	}
	err = r.Snapshot().Admit(Classify("SELECT 1"))
	var ee *Error
	if !errors.Is(err, ErrInstanceDisabled) || !errors.As(err, &ee) || ee.Code != ErrCodeUnavailable || ee.SQLState != "HY000" {
		t.Fatalf("circuit breaker: %v", err)
	}
	if r.Snapshot().Admit(Classify("ROLLBACK")) != nil {
		t.Fatal("ROLLBACK refused by the circuit breaker")
	}
	if err := r.SetState(config.State{DisabledDataSources: map[string]string{"m": "/a/state/datasources/m"}}); err != nil {
		t.Fatal(err)
	}
	_, err = r.Snapshot().Plan(nil, Classify("DELETE FROM t"), &s, nil)
	if !errors.Is(err, ErrMasterDisabled) || errors.Is(err, ErrInstanceDisabled) || !strings.Contains(err.Error(), "/a/state/datasources/m") {
		t.Fatalf("master disabled: %v", err)
	}
}

func TestAttemptAllocs(t *testing.T) {
	r, err := NewRuntime(testConfig(t, ""), fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q := []byte("SELECT c FROM sbtest1 WHERE id=?")
	cache := r.Cache()
	cache.Classify(q)
	units := make([]Unit, 0, 1)
	var s Session
	if n := testing.AllocsPerRun(1000, func() {
		at := NewAttempt(r.Snapshot(), cache.Classify(q), &s)
		p, _ := at.Next(units[:0])
		if !at.Retry(&p.Units[0], false, errDown) {
			t.Fatal("no retry")
		}
		p, _ = at.Next(units[:0])
		units = p.Units
	}); n != 0 {
		t.Errorf("classify, plan, retry, plan: %v allocs", n)
	}
}

// errDown is a connection failure, for the attempts above.
var errDown = errors.New("connect: connection refused")
