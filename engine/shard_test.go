package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/config"
)

const shardYAML = `
users: [{name: u, password: x}]
dataSources:
  m0: {url: "127.0.0.1:1", username: r}
  s0: {url: "127.0.0.1:2", username: r}
  m1: {url: "127.0.0.1:3", username: r}
  s1: {url: "127.0.0.1:4", username: r}
  s1b: {url: "127.0.0.1:5", username: r}
shardingRule:
  tables:
    t_order:
      actualDataNodes: ms_${0..1}.t_order_${0..1}
      databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id % 2}'}}
      tableStrategy: {inline: {shardingColumn: order_id, algorithmExpression: 't_order_${order_id % 2}'}}
  defaultDataSourceName: ms_0
  masterSlaveRules:
    ms_0: {masterDataSourceName: m0, slaveDataSourceNames: [s0]}
    ms_1: {masterDataSourceName: m1, slaveDataSourceNames: [s1, s1b]}
`

// planSQL routes and plans a statement and describes its units.
func planSQL(t *testing.T, snap *Snapshot, sql string, s *Session) (string, Plan, error) {
	t.Helper()
	at := NewAttempt(snap, Classify(sql), s)
	if err := at.Route([]byte(sql), nil); err != nil {
		return "", Plan{}, err
	}
	p, err := at.Next(nil)
	if err != nil {
		return "", p, err
	}
	var out []string
	for _, u := range p.Units {
		out = append(out, u.Group.Name+"/"+u.DS.Name+": "+string(u.SQL))
	}
	return strings.Join(out, "\n"), p, nil
}

// Sharded statements plan over the rule's master/slave groups: reads on a
// group's slaves (DISABLED ones skipped, all disabled: its master), writes
// on its master; unsharded tables on the default group.
func TestShardedPlans(t *testing.T) {
	c, err := config.Parse([]byte(shardYAML))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRuntime(c, fakePools)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Session
	got, _, err := planSQL(t, r.Snapshot(), "select * from t_order where user_id = 1 and order_id = 3", &s)
	if err != nil || !strings.HasPrefix(got, "ms_1/s1") || !strings.HasSuffix(got, "t_order_1 where user_id = 1 and order_id = 3") {
		t.Fatalf("read: %s %v", got, err)
	}
	if got, _, err = planSQL(t, r.Snapshot(), "update t_order set x = 1 where user_id = 1 and order_id = 3", &s); err != nil || !strings.HasPrefix(got, "ms_1/m1:") {
		t.Fatalf("write: %s %v", got, err)
	}
	if got, _, err = planSQL(t, r.Snapshot(), "select * from plain", &Session{}); err != nil || got != "ms_0/s0: " {
		t.Fatalf("unsharded: %q %v", got, err)
	}
	// The operator disables slaves of the sharded group.
	if err := r.SetState(config.State{DisabledDataSources: map[string]string{"s1": "/x/s1"}}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if got, _, _ = planSQL(t, r.Snapshot(), "select * from t_order where user_id = 1 and order_id = 3", &Session{}); !strings.HasPrefix(got, "ms_1/s1b:") {
			t.Fatalf("s1 disabled: %s", got)
		}
	}
	if err := r.SetState(config.State{DisabledDataSources: map[string]string{"s1": "/x/s1", "s1b": "/x/s1b"}}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ = planSQL(t, r.Snapshot(), "select * from t_order where user_id = 1 and order_id = 3", &Session{}); !strings.HasPrefix(got, "ms_1/m1:") {
		t.Fatalf("all slaves of ms_1 disabled: %s", got)
	}
	// Several nodes: a merged plan; refused inside a transaction.
	got, p, err := planSQL(t, r.Snapshot(), "select * from t_order", &Session{})
	if err != nil || len(p.Units) != 4 || p.Combine != Merged {
		t.Fatalf("scatter: %s %v", got, err)
	}
	var tx Session
	tx.Done(Classify("BEGIN"), true, Outcome{OK: true, InTx: true})
	tx.on(r.Snapshot().Default)
	if _, _, err := planSQL(t, r.Snapshot(), "select * from t_order", &tx); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "cross-node transactions") {
		t.Fatalf("scatter in a transaction: %v", err)
	}
	if _, _, err := planSQL(t, r.Snapshot(), "insert into t_order (user_id, order_id) values (1, 1)", &tx); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "transaction (or session state) is on ms_0") {
		t.Fatalf("other group in a transaction: %v", err)
	}
	if _, _, err := planSQL(t, r.Snapshot(), "insert into t_order (user_id, order_id) values (2, 1)", &tx); err != nil {
		t.Fatalf("same group in a transaction: %v", err)
	}
	// With branches (the proxy) the transaction spans groups, unless its
	// state lives on one connection.
	at := NewAttempt(r.Snapshot(), Classify("select * from t_order"), &tx)
	at.branches = true
	if err := at.Route([]byte("select * from t_order"), nil); err != nil {
		t.Fatal(err)
	}
	if p, err := at.Next(nil); err != nil || len(p.Units) != 4 || !p.Units[0].DS.IsMaster() {
		t.Fatalf("scatter in a transaction with branches: %v %v", p.Units, err)
	}
	pinned := tx
	pinned.Pin()
	at = NewAttempt(r.Snapshot(), Classify("select * from t_order"), &pinned)
	at.branches = true
	at.Route([]byte("select * from t_order"), nil)
	if _, err := at.Next(nil); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "state on one connection") {
		t.Fatalf("scatter in a pinned session with branches: %v", err)
	}
	// A doomed transaction refuses everything but ROLLBACK; ROLLBACK TO
	// does not end it, ROLLBACK does.
	tx.Doom("x was lost")
	for _, q := range []string{"select * from t_order where user_id = 2 and order_id = 2", "commit", "insert into plain values (1)"} {
		if _, _, err := planSQL(t, r.Snapshot(), q, &tx); !errors.Is(err, ErrTxAborted) || !strings.Contains(err.Error(), "x was lost") {
			t.Fatalf("%s in a doomed transaction: %v", q, err)
		}
	}
	tx.Done(Classify("rollback to a"), true, Outcome{OK: true, InTx: true})
	if !tx.Doomed() {
		t.Fatal("ROLLBACK TO ended the doom")
	}
	if _, _, err := planSQL(t, r.Snapshot(), "rollback", &tx); err != nil {
		t.Fatalf("rollback in a doomed transaction: %v", err)
	}
	tx.Done(Classify("rollback"), true, Outcome{OK: true})
	if tx.Doomed() || tx.InTx() {
		t.Fatal("ROLLBACK left the transaction doomed")
	}
	// Unsupported statements say so with ER_NOT_SUPPORTED_YET.
	_, _, err = planSQL(t, r.Snapshot(), "select count(distinct status, user_id) from t_order", &Session{})
	var ee *Error
	if !errors.As(err, &ee) || ee.Code != ErrCodeUnsupported {
		t.Fatalf("count distinct: %v", err)
	}
	// The circuit breaker comes first.
	if err := r.SetState(config.State{InstanceDisabled: true, InstancePath: "/x/i"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := planSQL(t, r.Snapshot(), "select status, count(*) from t_order group by status", &Session{}); !errors.Is(err, ErrInstanceDisabled) {
		t.Fatalf("disabled instance: %v", err)
	}
}
