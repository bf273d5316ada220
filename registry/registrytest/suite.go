package registrytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/registry"
)

// Run runs the conformance suite against h.
func Run(t *testing.T, h *Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, *Harness)
	}{
		{"GetPut", testGetPut},
		{"CreateAndCompareAndSet", testCreateCAS},
		{"Delete", testDelete},
		{"Children", testChildren},
		{"OddKeysAndValues", testOddKeysAndValues},
		{"Watch", testWatch},
		{"WatchEndsWithContext", testWatchEnds},
		{"Ephemeral", testEphemeral},
		{"EphemeralKilledOwner", testEphemeralKilledOwner},
		{"EphemeralClaim", testEphemeralClaim},
		{"SessionExpiry", testSessionExpiry},
		{"Unreachable", testUnreachable},
		{"ServerRestart", testServerRestart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t testing.TB, r registry.Registry, p, v string) registry.Version {
	t.Helper()
	ver, err := r.Put(ctxT(t), p, []byte(v))
	if err != nil {
		t.Fatalf("Put(%q): %v", p, err)
	}
	return ver
}

func wantValue(t testing.TB, r registry.Registry, p, want string) {
	t.Helper()
	got, _, err := r.Get(ctxT(t), p)
	if err != nil {
		t.Fatalf("Get(%q): %v", p, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", p, got, want)
	}
}

func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
	var re *registry.Error
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v (%T) is not a *registry.Error", what, err, err)
	}
}

func testGetPut(t *testing.T, h *Harness) {
	r := h.open(t, h.config(t))
	ctx := ctxT(t)
	_, _, err := r.Get(ctx, "/a/b")
	wantErr(t, err, registry.ErrNotFound, "Get of absent node")
	v1 := mustPut(t, r, "/a/b", "one")
	wantValue(t, r, "/a/b", "one")
	v2 := mustPut(t, r, "/a/b", "two")
	if v2 == v1 {
		t.Fatalf("version did not change on Put: %d", v1)
	}
	got, ver, err := r.Get(ctx, "/a/b")
	if err != nil || string(got) != "two" || ver != v2 {
		t.Fatalf("Get = %q, %d, %v; want two, %d", got, ver, err, v2)
	}
}

func testCreateCAS(t *testing.T, h *Harness) {
	r := h.open(t, h.config(t))
	ctx := ctxT(t)
	v, err := r.Create(ctx, "/x/y", []byte("first"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	_, err = r.Create(ctx, "/x/y", []byte("second"))
	wantErr(t, err, registry.ErrExists, "Create of existing node")
	wantValue(t, r, "/x/y", "first")

	v2, err := r.CompareAndSet(ctx, "/x/y", []byte("cas"), v)
	if err != nil {
		t.Fatalf("CompareAndSet with current version: %v", err)
	}
	_, err = r.CompareAndSet(ctx, "/x/y", []byte("stale"), v)
	wantErr(t, err, registry.ErrBadVersion, "CompareAndSet with stale version")
	wantValue(t, r, "/x/y", "cas")
	if _, err := r.CompareAndSet(ctx, "/x/y", []byte("again"), v2); err != nil {
		t.Fatalf("CompareAndSet with new version: %v", err)
	}
	_, err = r.CompareAndSet(ctx, "/x/absent", []byte("v"), v2)
	wantErr(t, err, registry.ErrNotFound, "CompareAndSet of absent node")
}

func testDelete(t *testing.T, h *Harness) {
	r := h.open(t, h.config(t))
	ctx := ctxT(t)
	wantErr(t, r.Delete(ctx, "/d", false), registry.ErrNotFound, "Delete of absent node")
	mustPut(t, r, "/d", "parent")
	mustPut(t, r, "/d/c1", "1")
	mustPut(t, r, "/d/c2/g", "2")
	wantErr(t, r.Delete(ctx, "/d", false), registry.ErrNotEmpty, "non-recursive Delete of a node with children")
	wantValue(t, r, "/d/c1", "1")
	if err := r.Delete(ctx, "/d/c1", false); err != nil {
		t.Fatalf("Delete leaf: %v", err)
	}
	if err := r.Delete(ctx, "/d", true); err != nil {
		t.Fatalf("recursive Delete: %v", err)
	}
	for _, p := range []string{"/d", "/d/c2", "/d/c2/g"} {
		_, _, err := r.Get(ctx, p)
		wantErr(t, err, registry.ErrNotFound, "Get after recursive Delete of "+p)
	}
	// A sibling with a common name prefix is not part of the subtree.
	mustPut(t, r, "/e", "")
	mustPut(t, r, "/e/x", "")
	mustPut(t, r, "/ee", "keep")
	if err := r.Delete(ctx, "/e", true); err != nil {
		t.Fatal(err)
	}
	wantValue(t, r, "/ee", "keep")
}

func testChildren(t *testing.T, h *Harness) {
	r := h.open(t, h.config(t))
	ctx := ctxT(t)
	kids, err := r.Children(ctx, "/none")
	if err != nil || len(kids) != 0 {
		t.Fatalf("Children of absent node = %v, %v; want none", kids, err)
	}
	mustPut(t, r, "/p/b", "")
	mustPut(t, r, "/p/a/deep", "")
	mustPut(t, r, "/p/c", "")
	mustPut(t, r, "/pp", "")
	kids, err = r.Children(ctx, "/p")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(kids, ",") != "a,b,c" {
		t.Fatalf("Children(/p) = %v, want [a b c]", kids)
	}
	root, err := r.Children(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(root, ",") != "p,pp" {
		t.Fatalf("Children(/) = %v, want [p pp]", root)
	}
}

func testOddKeysAndValues(t *testing.T, h *Harness) {
	r := h.open(t, h.config(t))
	ctx := ctxT(t)
	for _, p := range []string{"/with space/x y", "/ünïcödé/日本語", "/10.0.0.5@-@4242", "/a-b_c.d:e"} {
		mustPut(t, r, p, p)
		wantValue(t, r, p, p)
	}
	mustPut(t, r, "/empty", "")
	wantValue(t, r, "/empty", "")
	big := bytes.Repeat([]byte("x"), registry.MaxValueSize)
	if _, err := r.Put(ctx, "/big", big); err != nil {
		t.Fatalf("Put of %d bytes: %v", len(big), err)
	}
	got, _, err := r.Get(ctx, "/big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get of big value: %d bytes, %v", len(got), err)
	}
	_, err = r.Put(ctx, "/toobig", make([]byte, registry.MaxValueSize+1))
	wantErr(t, err, registry.ErrInvalid, "Put of a value over the limit")
	if !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("error for a too large value does not say why: %v", err)
	}
	for _, p := range []string{"", "rel", "/trailing/", "//double", "/a/../b", "/ctl\x01", "/nul\x00"} {
		_, err := r.Put(ctx, p, nil)
		wantErr(t, err, registry.ErrInvalid, "Put of bad path "+strconvQuote(p))
		_, _, err = r.Get(ctx, p)
		wantErr(t, err, registry.ErrInvalid, "Get of bad path "+strconvQuote(p))
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// next reads one event or fails after d.
func next(t testing.TB, ch <-chan registry.Event, d time.Duration) registry.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no watch event within %s", d)
	}
	return registry.Event{}
}

// view applies watch events to a map, the way a consumer does.
type view map[string]string

func (v view) apply(ev registry.Event) {
	switch ev.Type {
	case registry.EventSnapshot:
		clear(v)
		for _, n := range ev.Nodes {
			v[n.Path] = string(n.Value)
		}
	case registry.EventPut:
		v[ev.Path] = string(ev.Value)
	case registry.EventDelete:
		delete(v, ev.Path)
	}
}

// await applies events until cond holds on the view.
func await(t testing.TB, ch <-chan registry.Event, v view, d time.Duration, what string, cond func(view) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond(v) {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("watch: %s not seen within %s; view: %v", what, d, v)
		}
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed while waiting for %s", what)
			}
			if ev.Type == registry.EventError {
				t.Fatalf("watch error while waiting for %s: %v", what, ev.Err)
			}
			v.apply(ev)
		case <-time.After(left):
		}
	}
}

func testWatch(t *testing.T, h *Harness) {
	cfg := h.config(t)
	r := h.open(t, cfg)
	w := h.open(t, cfg)
	ctx := ctxT(t)
	mustPut(t, r, "/w/a", "1")
	mustPut(t, r, "/other", "x")
	ch, err := w.Watch(ctx, "/w")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	first := next(t, ch, 5*time.Second)
	if first.Type != registry.EventSnapshot {
		t.Fatalf("first event is %v, want snapshot", first.Type)
	}
	v := view{}
	v.apply(first)
	if v["/w/a"] != "1" {
		t.Fatalf("snapshot lacks /w/a=1: %v", first.Nodes)
	}
	if _, ok := v["/other"]; ok {
		t.Fatalf("snapshot of /w holds /other")
	}
	mustPut(t, r, "/w/b/c", "2")
	await(t, ch, v, 5*time.Second, "put /w/b/c", func(v view) bool { return v["/w/b/c"] == "2" })
	mustPut(t, r, "/w/a", "changed")
	await(t, ch, v, 5*time.Second, "update /w/a", func(v view) bool { return v["/w/a"] == "changed" })
	if err := r.Delete(ctx, "/w/a", false); err != nil {
		t.Fatal(err)
	}
	await(t, ch, v, 5*time.Second, "delete /w/a", func(v view) bool { _, ok := v["/w/a"]; return !ok })
	if err := r.Delete(ctx, "/w/b", true); err != nil {
		t.Fatal(err)
	}
	await(t, ch, v, 5*time.Second, "recursive delete /w/b", func(v view) bool { _, ok := v["/w/b/c"]; return !ok })
	mustPut(t, r, "/wx", "not mine")
	mustPut(t, r, "/w/last", "z")
	await(t, ch, v, 5*time.Second, "put /w/last", func(v view) bool { return v["/w/last"] == "z" })
	if _, ok := v["/wx"]; ok {
		t.Fatalf("watch of /w reported /wx")
	}
}

func testWatchEnds(t *testing.T, h *Harness) {
	r := h.open(t, h.config(t))
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch, 5*time.Second); ev.Type != registry.EventSnapshot {
		t.Fatalf("first event %v", ev.Type)
	}
	cancel()
	sawErr := false
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				if !sawErr {
					t.Fatalf("watch closed without an error event")
				}
				return
			}
			if ev.Type == registry.EventError {
				sawErr = true
				if !errors.Is(ev.Err, context.Canceled) {
					t.Fatalf("last event error = %v, want context.Canceled", ev.Err)
				}
			}
		case <-timeout:
			t.Fatalf("watch did not end after cancel")
		}
	}
}

func testEphemeral(t *testing.T, h *Harness) {
	cfg := h.config(t)
	owner := h.open(t, cfg)
	other := h.open(t, cfg)
	ctx := ctxT(t)
	if err := owner.PutEphemeral(ctx, "/state/instances/i1", nil); err != nil {
		t.Fatalf("PutEphemeral: %v", err)
	}
	wantValue(t, other, "/state/instances/i1", "")
	if err := owner.PutEphemeral(ctx, "/state/instances/i1", []byte("v2")); err != nil {
		t.Fatalf("PutEphemeral again: %v", err)
	}
	wantValue(t, other, "/state/instances/i1", "v2")
	mustPut(t, other, "/state/instances/i1", "DISABLED")
	if err := owner.PutEphemeral(ctx, "/state/instances/gone", nil); err != nil {
		t.Fatal(err)
	}
	if err := owner.Delete(ctx, "/state/instances/gone", false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := owner.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Graceful close deletes at once, not after the TTL.
	_, _, err := other.Get(ctx, "/state/instances/i1")
	wantErr(t, err, registry.ErrNotFound, "Get of ephemeral node after owner closed")
	if d := time.Since(start); d > h.ttl() {
		t.Fatalf("Close took %s", d)
	}
	// The parent is persistent.
	if _, _, err := other.Get(ctx, "/state/instances"); err != nil && !errors.Is(err, registry.ErrNotFound) {
		t.Fatal(err)
	}
	_, _, err = owner.Get(ctx, "/x")
	wantErr(t, err, registry.ErrClosed, "Get on a closed client")
}

func testEphemeralKilledOwner(t *testing.T, h *Harness) {
	if h.InProcess {
		t.Skip("an in-process registry has no owner in another process to kill")
	}
	cfg := h.config(t)
	r := h.open(t, cfg)
	spec, _ := json.Marshal(childSpec{Config: cfg, Path: "/state/instances/child", Value: "hello"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if s.Text() == "READY" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("child failed before READY")
		}
	case <-time.After(25 * time.Second):
		t.Fatalf("child not ready")
	}
	wantValue(t, r, "/state/instances/child", "hello")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	limit := h.ttl() + 3*time.Second
	for {
		_, _, err := r.Get(ctxT(t), "/state/instances/child")
		if errors.Is(err, registry.ErrNotFound) {
			t.Logf("ephemeral node gone %s after kill -9 (TTL %s)", time.Since(killed).Round(time.Millisecond), h.ttl())
			return
		}
		if time.Since(killed) > limit {
			t.Fatalf("ephemeral node of a killed owner still there after %s (TTL %s), err %v", limit, h.ttl(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testEphemeralClaim: CreateEphemeral is exclusive, owned by the session,
// gone with it and not re-created by a new session.
func testEphemeralClaim(t *testing.T, h *Harness) {
	cfg := h.config(t)
	owner := h.open(t, cfg)
	other := h.open(t, cfg)
	ctx := ctxT(t)
	if err := owner.CreateEphemeral(ctx, "/workers/0/holder", []byte("owner")); err != nil {
		t.Fatalf("CreateEphemeral: %v", err)
	}
	wantValue(t, other, "/workers/0/holder", "owner")
	wantErr(t, other.CreateEphemeral(ctx, "/workers/0/holder", []byte("other")), registry.ErrExists, "a second claim")
	wantErr(t, owner.CreateEphemeral(ctx, "/workers/0/holder", []byte("again")), registry.ErrExists, "the owner's second claim")
	mustPut(t, other, "/workers/1", "persistent")
	wantErr(t, other.CreateEphemeral(ctx, "/workers/1", nil), registry.ErrExists, "a claim on a persistent node")
	if err := other.CreateEphemeral(ctx, "/workers/2/holder", []byte("other")); err != nil {
		t.Fatalf("CreateEphemeral of a free id: %v", err)
	}
	if h.ExpireSession != nil {
		st, changed := owner.Session()
		gen := st.Generation
		h.ExpireSession(t, owner)
		deadline := time.After(h.ttl() + 10*time.Second)
		for st.Generation == gen {
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("owner was not told of a new session (generation still %d)", gen)
			}
			st, changed = owner.Session()
		}
		time.Sleep(300 * time.Millisecond) // a wrong re-creation would be done by now
		_, _, err := other.Get(ctx, "/workers/0/holder")
		wantErr(t, err, registry.ErrNotFound, "a claim after its session expired")
		if err := other.CreateEphemeral(ctx, "/workers/0/holder", []byte("other")); err != nil {
			t.Fatalf("claiming an expired claim: %v", err)
		}
		wantValue(t, owner, "/workers/0/holder", "other")
	}
	// Closing a client releases its claims at once.
	other.Close()
	_, _, err := owner.Get(ctx, "/workers/2/holder")
	wantErr(t, err, registry.ErrNotFound, "a claim of a closed client")
}

func testSessionExpiry(t *testing.T, h *Harness) {
	if h.ExpireSession == nil {
		t.Skip("backend cannot expire a session")
	}
	cfg := h.config(t)
	owner := h.open(t, cfg)
	other := h.open(t, cfg)
	ctx := ctxT(t)
	if err := owner.PutEphemeral(ctx, "/state/instances/me", nil); err != nil {
		t.Fatal(err)
	}
	// Another client (an operator) writes a value; the owner must keep it.
	mustPut(t, other, "/state/instances/me", "DISABLED")
	time.Sleep(300 * time.Millisecond) // let the owner observe the operator's value
	st, changed := owner.Session()
	gen := st.Generation
	h.ExpireSession(t, owner)
	deadline := time.After(h.ttl() + 10*time.Second)
	for st.Generation == gen {
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("owner was not told of a new session (generation still %d)", gen)
		}
		st, changed = owner.Session()
	}
	wantValue(t, other, "/state/instances/me", "DISABLED")
	// The re-created node is ephemeral again: closing the owner removes it.
	owner.Close()
	_, _, err := other.Get(ctx, "/state/instances/me")
	wantErr(t, err, registry.ErrNotFound, "re-created ephemeral after owner closed")
}

func testUnreachable(t *testing.T, h *Harness) {
	cfg := h.config(t)
	cfg.OperationTimeout = time.Second
	cfg.ServerLists = []string{"127.0.0.1:1"}
	if cfg.Type == registry.TypeEmbedded {
		t.Skip("the embedded registry has no servers to miss")
	}
	start := time.Now()
	r, err := h.Open(context.Background(), cfg)
	if err == nil {
		r.Close()
		t.Fatalf("Open of an unreachable registry succeeded")
	}
	if d := time.Since(start); d > 3*cfg.OperationTimeout {
		t.Fatalf("Open took %s, more than the operation timeout %s allows", d, cfg.OperationTimeout)
	}
	if !errors.Is(err, registry.ErrUnavailable) && !errors.Is(err, registry.ErrTimeout) {
		t.Fatalf("Open error %v, want ErrUnavailable or ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error does not name the server: %v", err)
	}
}

func testServerRestart(t *testing.T, h *Harness) {
	if h.Stop == nil {
		t.Skip("backend server cannot be restarted by the suite")
	}
	cfg := h.config(t)
	cfg.OperationTimeout = time.Second
	r := h.open(t, cfg)
	ctx := ctxT(t)
	mustPut(t, r, "/r/before", "1")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := r.Watch(wctx, "/r")
	if err != nil {
		t.Fatal(err)
	}
	v := view{}
	v.apply(next(t, ch, 5*time.Second))
	h.Stop(t)
	start := time.Now()
	_, err = r.Put(ctx, "/r/during", []byte("x"))
	if !errors.Is(err, registry.ErrUnavailable) && !errors.Is(err, registry.ErrTimeout) {
		t.Fatalf("Put while the server is down: %v, want ErrUnavailable or ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*cfg.OperationTimeout {
		t.Fatalf("Put while down took %s", d)
	}
	h.Start(t)
	// Calls work again, and the watch resumed with a correct view. The
	// server may need a moment after its port opens (leader election).
	deadline := time.Now().Add(20 * time.Second)
	var w2 registry.Registry
	for w2 == nil {
		c, err := h.Open(ctx, cfg)
		if err == nil {
			w2 = c
			t.Cleanup(func() { c.Close() })
		} else if time.Now().After(deadline) {
			t.Fatalf("open after restart: %v", err)
		}
	}
	for {
		_, err := w2.Put(ctx, "/r/after", []byte("2"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Put after restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	await(t, ch, v, 20*time.Second, "put after restart", func(v view) bool { return v["/r/after"] == "2" && v["/r/before"] == "1" })
	if _, ok := v["/r/during"]; ok {
		t.Fatalf("view holds a node whose Put failed")
	}
	for {
		if _, err := r.Put(ctx, "/r/again", []byte("3")); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("first client did not recover: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantValue(t, w2, "/r/again", "3")
}
