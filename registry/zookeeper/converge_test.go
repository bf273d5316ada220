package zookeeper

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
)

// TestWatchConverges: writers race puts, creates and (recursive) deletes in
// a small subtree while the watcher's session is expired once; when the
// writers stop, the watcher's view equals the tree as read afresh.
func TestWatchConverges(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	w := mustOpen(t, cfg)
	ctx := tctx(t)
	ch, err := w.Watch(ctx, "/t")
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{}
	m.await(t, ch, 5*time.Second, "first snapshot", func(m *mirror) bool { return m.snapshots == 1 })

	// Drain the watch while the writers run, so it never blocks.
	var mu sync.Mutex
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case ev := <-ch:
				mu.Lock()
				m.apply(ev)
				mu.Unlock()
			case <-stop:
				return
			}
		}
	}()

	paths := []string{"/t", "/t/a", "/t/b", "/t/a/x", "/t/a/y", "/t/b/x", "/t/b/x/deep", "/t/c"}
	var wg sync.WaitGroup
	end := time.Now().Add(1500 * time.Millisecond)
	writers := make([]*Client, 3)
	for i := range writers {
		r := mustOpen(t, cfg)
		writers[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), 42))
			for n := 0; time.Now().Before(end); n++ {
				p := paths[rnd.IntN(len(paths))]
				v := []byte(fmt.Sprintf("w%d-%d", i, n))
				var err error
				switch rnd.IntN(6) {
				case 0:
					err = r.Delete(ctx, p, true)
				case 1:
					err = r.Delete(ctx, p, false)
				case 2:
					_, err = r.Create(ctx, p, v)
				default:
					_, err = r.Put(ctx, p, v)
				}
				if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrNotEmpty) && !errors.Is(err, registry.ErrExists) {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	expireSession(t, w)
	wg.Wait()
	close(stop)
	<-drained
	// End on a tree that is not empty, written after all the churn.
	for _, p := range []string{"/t/a/x", "/t/b/x/deep", "/t/c"} {
		if _, err := writers[0].Put(ctx, p, []byte("final "+p)); err != nil {
			t.Fatal(err)
		}
	}

	truth := map[string]string{}
	var read func(p string)
	read = func(p string) {
		v, _, err := w.Get(ctx, p)
		if errors.Is(err, registry.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		truth[p] = string(v)
		kids, err := w.Children(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			read(p + "/" + k)
		}
	}
	eventually(t, 10*time.Second, "watcher has a session again", func() bool {
		st, _ := w.Session()
		return st.Connected && st.Generation == 1
	})
	read("/t")
	m.await(t, ch, 10*time.Second, "view equals the tree", func(m *mirror) bool { return maps.Equal(m.nodes, truth) })
	t.Logf("%d nodes, %d snapshots", len(truth), m.snapshots)
	if m.snapshots < 2 {
		t.Fatalf("no resync snapshot after the session expired")
	}
}

// TestWatchDeleteRecreate: a node deleted and at once created again (before
// the watcher re-armed its parent's child watch) stays in the view.
func TestWatchDeleteRecreate(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	cfg := testConfig(z)
	r := mustOpen(t, cfg)
	w := mustOpen(t, cfg)
	ctx := tctx(t)
	if _, err := r.Put(ctx, "/q/k/sub", []byte("s")); err != nil {
		t.Fatal(err)
	}
	ch, err := w.Watch(ctx, "/q")
	if err != nil {
		t.Fatal(err)
	}
	m := &mirror{}
	m.await(t, ch, 5*time.Second, "first snapshot", func(m *mirror) bool { return m.snapshots == 1 })
	const rounds = 30
	for i := range rounds {
		if err := r.Delete(ctx, "/q/k", true); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Put(ctx, "/q/k/sub", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprint(rounds - 1)
	m.await(t, ch, 5*time.Second, "re-created node in view", func(m *mirror) bool {
		_, ok := m.nodes["/q/k"]
		return ok && m.nodes["/q/k/sub"] == want
	})
	// And its watches are armed: a later change is seen.
	if _, err := r.Put(ctx, "/q/k/sub", []byte("later")); err != nil {
		t.Fatal(err)
	}
	m.await(t, ch, 5*time.Second, "later change", func(m *mirror) bool { return m.nodes["/q/k/sub"] == "later" })
}
