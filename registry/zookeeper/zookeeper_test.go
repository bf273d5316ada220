package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
)

var nsSeq int

// testConfig returns a config with a fresh namespace and short timeouts.
func testConfig(z *testenv.ZooKeeper) registry.Config {
	nsSeq++
	return registry.Config{
		Type:             registry.TypeZooKeeper,
		ServerLists:      []string{z.Addr()},
		Namespace:        fmt.Sprintf("/zktest/%d-%d", time.Now().UnixNano()%1e9, nsSeq),
		TimeToLive:       2 * time.Second,
		OperationTimeout: 2 * time.Second,
		RetryInterval:    50 * time.Millisecond,
		MaxRetryInterval: 500 * time.Millisecond,
	}
}

func mustOpen(t testing.TB, cfg registry.Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := openSniffed(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r.(*Client)
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 50ms until it holds or d passed.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mirror applies watch events the way a consumer does and counts snapshots.
type mirror struct {
	nodes     map[string]string
	snapshots int
}

func (m *mirror) apply(ev registry.Event) {
	switch ev.Type {
	case registry.EventSnapshot:
		m.snapshots++
		m.nodes = make(map[string]string)
		for _, n := range ev.Nodes {
			m.nodes[n.Path] = string(n.Value)
		}
	case registry.EventPut:
		m.nodes[ev.Path] = string(ev.Value)
	case registry.EventDelete:
		delete(m.nodes, ev.Path)
	}
}

// await applies events from ch until cond holds.
func (m *mirror) await(t testing.TB, ch <-chan registry.Event, d time.Duration, what string, cond func(*mirror) bool) {
	t.Helper()
	timeout := time.After(d)
	for !cond(m) {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("%s: watch closed", what)
			}
			if ev.Type == registry.EventError {
				t.Fatalf("%s: watch error %v", what, ev.Err)
			}
			m.apply(ev)
		case <-timeout:
			t.Fatalf("%s: not seen within %s; mirror %v (%d snapshots)", what, d, m.nodes, m.snapshots)
		}
	}
}

// TestSessionExpiryKeepsOperatorValue: an operator disables the instance
// with the real zkCli.sh; the session then expires on the server; the
// client re-creates its ephemeral node as its own, with DISABLED, re-arms
// its watches, and tells the owner through Session.
func TestSessionExpiryKeepsOperatorValue(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	owner := mustOpen(t, cfg)
	other := mustOpen(t, cfg)
	ctx := tctx(t)
	const inst = "/state/instances/10.0.0.5@-@42"
	full := cfg.Namespace + inst
	if err := owner.PutEphemeral(ctx, inst, nil); err != nil {
		t.Fatal(err)
	}
	if err := owner.PutEphemeral(ctx, "/state/instances/second", []byte("v")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := owner.Watch(wctx, "/state")
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{}
	m.await(t, ch, 5*time.Second, "first snapshot", func(m *mirror) bool { return m.snapshots == 1 })

	if out, err := z.ZkCli("set", full, "DISABLED"); err != nil {
		t.Fatalf("zkCli set: %v\n%s", err, out)
	}
	eventually(t, 5*time.Second, "owner adopts the operator's value", func() bool {
		v, _ := owner.lastValue(full)
		return string(v) == "DISABLED"
	})
	m.await(t, ch, 5*time.Second, "watch sees DISABLED", func(m *mirror) bool { return m.nodes[inst] == "DISABLED" })

	st, changed := owner.Session()
	oldID := owner.conn.SessionID()
	expireSession(t, owner)
	for st.Generation == 0 {
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("no new generation after expiry: %+v", st)
		}
		st, changed = owner.Session()
	}
	if st.Generation != 1 || !st.Connected {
		t.Fatalf("session after expiry = %+v, want generation 1, connected", st)
	}
	newID := owner.conn.SessionID()
	if newID == oldID {
		t.Fatalf("session id unchanged (0x%x): the session did not expire", oldID)
	}
	// Re-created before the generation grew: as this session's, with the
	// operator's value, as the real CLI sees it.
	_, stat, err := other.conn.Get(full)
	if err != nil {
		t.Fatal(err)
	}
	if stat.EphemeralOwner != newID {
		t.Fatalf("re-created node owned by 0x%x, want the new session 0x%x", stat.EphemeralOwner, newID)
	}
	if out, _ := z.ZkCli("get", full); !strings.Contains(out, "\nDISABLED\n") {
		t.Fatalf("zkCli get after expiry:\n%s", out)
	}
	if v, _, _ := other.Get(ctx, "/state/instances/second"); string(v) != "v" {
		t.Fatalf("second ephemeral = %q, want v", v)
	}
	// The watch resynced with a new snapshot holding the re-created nodes.
	m.await(t, ch, 10*time.Second, "snapshot after the new session", func(m *mirror) bool {
		return m.snapshots >= 2 && m.nodes[inst] == "DISABLED" && m.nodes["/state/instances/second"] == "v"
	})
	// Watches are armed again: the data watch on the ephemeral and the
	// subtree watch both see the next write by someone else.
	if _, err := other.Put(ctx, inst, []byte("")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "owner adopts the re-enabled value", func() bool {
		v, ok := owner.lastValue(full)
		return ok && len(v) == 0
	})
	m.await(t, ch, 5*time.Second, "watch sees re-enable", func(m *mirror) bool { return m.nodes[inst] == "" })
}

// TestServerDownFailsFast: with the server stopped, every call fails with a
// typed error within the operation timeout; the session reports the outage;
// after a restart the watch sends a fresh snapshot and keeps streaming.
func TestServerDownFailsFast(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	cfg.TimeToLive = 4 * time.Second
	cfg.OperationTimeout = time.Second
	r := mustOpen(t, cfg)
	ctx := tctx(t)
	if _, err := r.Put(ctx, "/s/a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := r.Watch(wctx, "/s")
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{}
	m.await(t, ch, 5*time.Second, "first snapshot", func(m *mirror) bool { return m.snapshots == 1 })

	closer := mustOpen(t, cfg)
	if err := closer.PutEphemeral(ctx, "/s/closer", nil); err != nil {
		t.Fatal(err)
	}
	cch, err := closer.Watch(ctx, "/s")
	if err != nil {
		t.Fatal(err)
	}
	z.Kill(t)
	eventually(t, 5*time.Second, "session reports disconnected", func() bool {
		st, _ := r.Session()
		return !st.Connected && errors.Is(st.Err, registry.ErrUnavailable)
	})
	calls := map[string]func() error{
		"Get":      func() error { _, _, err := r.Get(ctx, "/s/a"); return err },
		"Put":      func() error { _, err := r.Put(ctx, "/s/b", nil); return err },
		"Children": func() error { _, err := r.Children(ctx, "/s"); return err },
		"Delete":   func() error { return r.Delete(ctx, "/s/a", true) },
		"Ephemeral": func() error {
			return r.PutEphemeral(ctx, "/s/e", nil)
		},
		"Watch": func() error {
			_, err := r.Watch(ctx, "/s")
			return err
		},
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if !errors.Is(err, registry.ErrUnavailable) && !errors.Is(err, registry.ErrTimeout) {
			t.Errorf("%s with the server down: %v, want ErrUnavailable or ErrTimeout", name, err)
		}
		if d := time.Since(start); d > cfg.OperationTimeout+500*time.Millisecond {
			t.Errorf("%s took %s, operation timeout is %s", name, d, cfg.OperationTimeout)
		}
	}
	// Close does not hang on a dead server, and ends its watch.
	start := time.Now()
	closer.Close()
	if d := time.Since(start); d > cfg.OperationTimeout+time.Second {
		t.Errorf("Close with the server down took %s", d)
	}
	var last registry.Event
	for ev := range cch {
		last = ev
	}
	if !errors.Is(last.Err, registry.ErrClosed) {
		t.Errorf("last event of a closed client's watch: %v %v", last.Type, last.Err)
	}
	z.Start(t)
	other := mustOpen(t, cfg)
	if _, err := other.Put(ctx, "/s/b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	m.await(t, ch, 15*time.Second, "resync after restart", func(m *mirror) bool {
		return m.snapshots >= 2 && m.nodes["/s/b"] == "2" && m.nodes["/s/a"] == "1"
	})
	if _, err := other.Put(ctx, "/s/c", []byte("3")); err != nil {
		t.Fatal(err)
	}
	m.await(t, ch, 5*time.Second, "events after resync", func(m *mirror) bool { return m.nodes["/s/c"] == "3" })
	if st, _ := r.Session(); !st.Connected || st.Generation != 0 {
		t.Fatalf("session after restart within the timeout = %+v, want connected, same generation", st)
	}
}

// TestDigestAuth: nodes a client with credentials creates can be neither
// read nor changed without them, by a Go client or by the real zkCli.sh;
// zkCli with addauth can.
func TestDigestAuth(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	cfg.Username, cfg.Password = "shard", "s3cret"
	owner := mustOpen(t, cfg)
	ctx := tctx(t)
	if _, err := owner.Put(ctx, "/config/datasource", []byte("password: x")); err != nil {
		t.Fatal(err)
	}
	if err := owner.PutEphemeral(ctx, "/state/instances/i", nil); err != nil {
		t.Fatal(err)
	}
	acl, _, err := owner.conn.GetACL(cfg.Namespace + "/config/datasource")
	if err != nil {
		t.Fatal(err)
	}
	want := zk.DigestACL(zk.PermAll, "shard", "s3cret")
	if len(acl) != 1 || acl[0] != want[0] {
		t.Fatalf("ACL = %v, want %v", acl, want)
	}

	anon := testConfig(z)
	anon.Namespace = cfg.Namespace
	wrong := anon
	wrong.Username, wrong.Password = "shard", "guess"
	for name, c := range map[string]registry.Config{"no credentials": anon, "wrong password": wrong} {
		r := mustOpen(t, c)
		if _, _, err := r.Get(ctx, "/config/datasource"); !errors.Is(err, registry.ErrDenied) {
			t.Errorf("%s: Get = %v, want a permission error", name, err)
		}
		if _, err := r.Put(ctx, "/config/datasource", []byte("hacked")); !errors.Is(err, registry.ErrDenied) {
			t.Errorf("%s: Put = %v, want a permission error", name, err)
		}
		if _, err := r.Put(ctx, "/config/new", nil); !errors.Is(err, registry.ErrDenied) {
			t.Errorf("%s: Put of a new child = %v, want a permission error", name, err)
		}
		if err := r.Delete(ctx, "/state/instances/i", false); !errors.Is(err, registry.ErrDenied) {
			t.Errorf("%s: Delete = %v, want a permission error", name, err)
		}
		if err := r.Delete(ctx, "/config", true); err == nil {
			t.Errorf("%s: recursive Delete succeeded", name)
		}
	}
	full := cfg.Namespace + "/config/datasource"
	if out, _ := z.ZkCli("set", full, "hacked"); !strings.Contains(out, "Insufficient permission") {
		t.Errorf("zkCli set without auth:\n%s", out)
	}
	if v, _, err := owner.Get(ctx, "/config/datasource"); err != nil || string(v) != "password: x" {
		t.Fatalf("value after unauthorized writes = %q, %v", v, err)
	}
	if out, err := z.ZkCliScript("addauth digest shard:s3cret", "set "+full+" operator"); err != nil {
		t.Fatalf("zkCli with addauth: %v\n%s", err, out)
	}
	if v, _, err := owner.Get(ctx, "/config/datasource"); err != nil || string(v) != "operator" {
		t.Fatalf("value after zkCli with addauth = %q, %v", v, err)
	}
}

// TestWatchSubtree covers what the suite does not: a watch on a node that
// does not exist yet, subtrees appearing and vanishing at once, parents as
// empty nodes, a value of MaxValueSize through a watch, and Close ending
// the watch with ErrClosed.
func TestWatchSubtree(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	r := mustOpen(t, cfg)
	w := mustOpen(t, cfg)
	ctx := tctx(t)
	ch, err := w.Watch(ctx, "/later")
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{}
	m.await(t, ch, 5*time.Second, "empty snapshot", func(m *mirror) bool { return m.snapshots == 1 })
	if len(m.nodes) != 0 {
		t.Fatalf("snapshot of an absent node: %v", m.nodes)
	}
	if _, err := r.Put(ctx, "/later/a/b/c", []byte("deep")); err != nil {
		t.Fatal(err)
	}
	m.await(t, ch, 5*time.Second, "subtree created", func(m *mirror) bool {
		v, ok := m.nodes["/later/a"]
		return m.nodes["/later/a/b/c"] == "deep" && ok && v == ""
	})
	if _, ok := m.nodes["/later"]; !ok {
		t.Fatalf("watched root missing from the view: %v", m.nodes)
	}
	big := bytes.Repeat([]byte{0xA5}, registry.MaxValueSize)
	if _, err := r.Put(ctx, "/later/big", big); err != nil {
		t.Fatal(err)
	}
	m.await(t, ch, 5*time.Second, "big value", func(m *mirror) bool { return m.nodes["/later/big"] == string(big) })
	if err := r.Delete(ctx, "/later", true); err != nil {
		t.Fatal(err)
	}
	m.await(t, ch, 5*time.Second, "subtree deleted", func(m *mirror) bool { return len(m.nodes) == 0 })
	if _, err := r.Put(ctx, "/later", []byte("back")); err != nil {
		t.Fatal(err)
	}
	m.await(t, ch, 5*time.Second, "root re-created", func(m *mirror) bool { return m.nodes["/later"] == "back" })
	if m.snapshots != 1 {
		t.Fatalf("%d snapshots, want 1 (no doubt arose)", m.snapshots)
	}

	w.Close()
	var last registry.Event
	for ev := range ch {
		last = ev
	}
	if last.Type != registry.EventError || !errors.Is(last.Err, registry.ErrClosed) {
		t.Fatalf("last event after Close = %v %v, want error ErrClosed", last.Type, last.Err)
	}
	if _, err := w.Watch(ctx, "/"); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("Watch on a closed client: %v", err)
	}
}

// TestEphemeralTakenBack: an owned ephemeral that someone else deletes
// comes back as this client's, empty (the delete undid DISABLED); one that
// someone replaces with a persistent node is taken back with its value.
func TestEphemeralTakenBack(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	owner := mustOpen(t, cfg)
	other := mustOpen(t, cfg)
	ctx := tctx(t)
	if err := owner.PutEphemeral(ctx, "/i", []byte("DISABLED")); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, "/i", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "re-created empty after a foreign delete", func() bool {
		v, st, err := other.conn.Get(cfg.Namespace + "/i")
		return err == nil && len(v) == 0 && st.EphemeralOwner == owner.conn.SessionID()
	})
	eventually(t, 5*time.Second, "last value empty", func() bool {
		v, ok := owner.lastValue(cfg.Namespace + "/i")
		return ok && len(v) == 0
	})
	// Replaced by a persistent node (delete + create by another client in
	// one transaction): taken back as ephemeral, keeping the new value.
	if _, err := other.conn.Multi(
		&zk.DeleteRequest{Path: cfg.Namespace + "/i", Version: -1},
		&zk.CreateRequest{Path: cfg.Namespace + "/i", Data: []byte("DISABLED"), Acl: zk.WorldACL(zk.PermAll)},
	); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "taken back after a foreign replace", func() bool {
		v, st, err := other.conn.Get(cfg.Namespace + "/i")
		return err == nil && string(v) == "DISABLED" && st.EphemeralOwner == owner.conn.SessionID()
	})
	if err := owner.Delete(ctx, "/i", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, _, err := other.Get(ctx, "/i"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("owner's own delete undone: %v", err)
	}
	// A parent that is an ephemeral cannot have children.
	if err := owner.PutEphemeral(ctx, "/e", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Put(ctx, "/e/child", nil); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("child of an ephemeral: %v, want ErrInvalid", err)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(context.Background(), registry.Config{Type: registry.TypeZooKeeper})
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "serverLists") {
		t.Fatalf("Open without servers: %v", err)
	}
	_, err = Open(context.Background(), registry.Config{Type: registry.TypeZooKeeper, ServerLists: []string{"127.0.0.1:1"}, Namespace: "/a/../b"})
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("Open with a bad namespace: %v", err)
	}
}

func TestConvertError(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{zk.ErrNoNode, registry.ErrNotFound},
		{zk.ErrNodeExists, registry.ErrExists},
		{zk.ErrBadVersion, registry.ErrBadVersion},
		{zk.ErrNotEmpty, registry.ErrNotEmpty},
		{zk.ErrConnectionClosed, registry.ErrUnavailable},
		{zk.ErrNoServer, registry.ErrUnavailable},
		{zk.ErrSessionMoved, registry.ErrUnavailable},
		{&errNotConnected{servers: []string{"h:1"}, cause: context.DeadlineExceeded}, registry.ErrUnavailable},
		{context.DeadlineExceeded, registry.ErrTimeout},
		{context.Canceled, registry.ErrTimeout},
		{zk.ErrSessionExpired, registry.ErrSessionLost},
		{zk.ErrClosing, registry.ErrClosed},
		{zk.ErrNoAuth, registry.ErrDenied},
		{zk.ErrAuthFailed, registry.ErrDenied},
		{zk.ErrNoChildrenForEphemerals, registry.ErrInvalid},
		{zk.ErrInvalidPath, registry.ErrInvalid},
		{errors.New("something else"), registry.ErrUnavailable},
	}
	for _, tc := range tests {
		err := convertError(tc.in, "/p")
		var re *registry.Error
		if !errors.As(err, &re) || !errors.Is(err, tc.want) || !errors.Is(err, tc.in) || re.Path != "/p" {
			t.Errorf("convertError(%v) = %v, want %v wrapping it", tc.in, err, tc.want)
		}
	}
	if convertError(nil, "/p") != nil {
		t.Errorf("convertError(nil) != nil")
	}
	already := registry.NewError(registry.NotFound, "/q", nil)
	if convertError(already, "/p") != already {
		t.Errorf("convertError re-wrapped a *registry.Error")
	}
}

// TestNoNamespace: without a namespace the paths are the tree's own, and
// ZooKeeper's /zookeeper stays out of sight.
func TestNoNamespace(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	cfg.Namespace = ""
	r := mustOpen(t, cfg)
	ctx := tctx(t)
	if _, err := r.Put(ctx, "/app/x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	kids, err := r.Children(ctx, "/")
	if err != nil || strings.Join(kids, ",") != "app" {
		t.Fatalf("Children(/) = %v, %v; want [app]", kids, err)
	}
	ch, err := r.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	ev := <-ch
	var paths []string
	for _, n := range ev.Nodes {
		paths = append(paths, n.Path)
	}
	if strings.Join(paths, ",") != "/,/app,/app/x" {
		t.Fatalf("snapshot of / = %v", paths)
	}
	if _, _, err := r.Get(ctx, "/zookeeper/config"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get of /zookeeper/config: %v", err)
	}
	if err := r.Delete(ctx, "/", true); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("Delete of /: %v", err)
	}
}

// TestRepairErrorReported: when an owned ephemeral cannot be written back
// (its parent's ACL now refuses this client), SessionState.Err says so
// while connected; once the ACL allows it again the node returns and the
// error clears.
func TestRepairErrorReported(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	owner := mustOpen(t, cfg)
	admin := cfg
	admin.Username, admin.Password = "admin", "pw"
	adm := mustOpen(t, admin)
	ctx := tctx(t)
	if err := owner.PutEphemeral(ctx, "/p/i", []byte("x")); err != nil {
		t.Fatal(err)
	}
	parent := cfg.Namespace + "/p"
	if _, err := adm.conn.SetACL(parent, zk.DigestACL(zk.PermAll, "admin", "pw"), -1); err != nil {
		t.Fatal(err)
	}
	if err := adm.Delete(ctx, "/p/i", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "repair error in the session state", func() bool {
		st, _ := owner.Session()
		return st.Connected && errors.Is(st.Err, registry.ErrDenied)
	})
	if _, err := adm.conn.SetACL(parent, zk.WorldACL(zk.PermAll), -1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node back and error cleared", func() bool {
		st, _ := owner.Session()
		_, stat, err := adm.conn.Get(cfg.Namespace + "/p/i")
		return st.Connected && st.Err == nil && err == nil && stat.EphemeralOwner == owner.conn.SessionID()
	})
}

// TestHostProvider: one pass without go-zookeeper's pause after a session
// was lost or expired, then a pause before every pass.
func TestHostProvider(t *testing.T) {
	pauses := func(h *hostProvider, n int) string {
		var b strings.Builder
		for range n {
			s, pause := h.Next()
			if pause {
				b.WriteString("|")
			}
			b.WriteString(s)
		}
		return b.String()
	}
	h := &hostProvider{}
	if err := h.Init([]string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if got := pauses(h, 7); got != "abc|abc|a" {
		t.Fatalf("from start: %s", got)
	}
	h.Connected()
	if got := pauses(h, 4); got != "bca|b" {
		t.Fatalf("after a session: %s", got)
	}
	h.expired() // the server that said so (b) is asked first
	if got := pauses(h, 4); got != "bca|b" {
		t.Fatalf("after expiry: %s", got)
	}
	one := &hostProvider{}
	if err := one.Init([]string{"x"}); err != nil {
		t.Fatal(err)
	}
	if got := pauses(one, 3); got != "x|x|x" {
		t.Fatalf("one server: %s", got)
	}
	one.expired()
	if got := pauses(one, 2); got != "x|x" {
		t.Fatalf("one server after expiry: %s", got)
	}
}

// TestEnsembleFailover: with three servers, killing the one the client is
// connected to moves the client to another within the session timeout: same
// session (generation unchanged), ephemeral kept, calls and watch go on.
func TestEnsembleFailover(t *testing.T) {
	zs := testenv.StartZooKeeperEnsemble(t, 3)
	cfg := testConfig(zs[0])
	cfg.ServerLists = nil
	for _, z := range zs {
		cfg.ServerLists = append(cfg.ServerLists, z.Addr())
	}
	cfg.TimeToLive = 4 * time.Second
	r := mustOpen(t, cfg)
	ctx := tctx(t)
	if err := r.PutEphemeral(ctx, "/state/instances/me", []byte("DISABLED")); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Watch(ctx, "/state")
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{}
	m.await(t, ch, 5*time.Second, "first snapshot", func(m *mirror) bool { return m.snapshots == 1 })
	sid := r.conn.SessionID()
	var victim *testenv.ZooKeeper
	for _, z := range zs {
		if z.Addr() == r.conn.Server() {
			victim = z
		}
	}
	if victim == nil {
		t.Fatalf("client's server %s is not in the ensemble", r.conn.Server())
	}
	killed := time.Now()
	victim.Kill(t)
	eventually(t, cfg.TimeToLive, "write through another server", func() bool {
		_, err := r.Put(ctx, "/state/after", []byte("x"))
		return err == nil
	})
	t.Logf("failed over from %s to %s in %s", victim.Addr(), r.conn.Server(), time.Since(killed).Round(time.Millisecond))
	if st, _ := r.Session(); !st.Connected || st.Generation != 0 || r.conn.SessionID() != sid {
		t.Fatalf("session after failover = %+v, id 0x%x (was 0x%x): want the same session", st, r.conn.SessionID(), sid)
	}
	if got, _, err := r.Get(ctx, "/state/instances/me"); err != nil || string(got) != "DISABLED" {
		t.Fatalf("ephemeral after failover = %q, %v", got, err)
	}
	m.await(t, ch, 5*time.Second, "watch after failover", func(m *mirror) bool {
		return m.nodes["/state/after"] == "x" && m.nodes["/state/instances/me"] == "DISABLED"
	})
}
