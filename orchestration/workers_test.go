package orchestration_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/memory"
	"github.com/shardgate/shardgate/sharding"
)

// keysOf draws n keys from g.
func keysOf(t *testing.T, g *sharding.Snowflake, n int) []int64 {
	out := make([]int64, 0, n)
	for range n {
		k, err := g.Next()
		if err != nil {
			t.Error(err)
			return out
		}
		out = append(out, k)
	}
	return out
}

// Four instances claim worker ids in the real registries and draw 250,000
// keys each at once: 1,000,000 distinct keys, four distinct ids. An id let
// go is the next claimer's, whose keys start after the last one's.
func TestWorkerClaims(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			root := "/workers-" + b.name
			var gens []*sharding.Snowflake
			var claims []*orchestration.WorkerClaim
			for i := range 4 {
				g := sharding.NewClaimedSnowflake()
				w := orchestration.ClaimWorker(b.open(t, root), "inst-"+string(rune('a'+i)), g)
				t.Cleanup(func() { w.Close() })
				gens, claims = append(gens, g), append(claims, w)
			}
			// Nothing is claimed before a key is asked for.
			time.Sleep(100 * time.Millisecond)
			if kids, err := b.open(t, root).Children(context.Background(), orchestration.WorkersDir); err != nil || len(kids) != 0 {
				t.Fatalf("workers before any key: %v, %v", kids, err)
			}
			const per = 250000
			all := make([][]int64, len(gens))
			var wg sync.WaitGroup
			for i, g := range gens {
				wg.Go(func() { all[i] = keysOf(t, g, per) })
			}
			wg.Wait()
			seen := make(map[int64]bool, 4*per)
			ids := map[int64]bool{}
			for _, ks := range all {
				for _, k := range ks {
					if seen[k] {
						t.Fatalf("key %d issued twice", k)
					}
					seen[k] = true
					ids[(k>>12)&0x3ff] = true
				}
			}
			if len(seen) != 4*per || len(ids) != 4 {
				t.Fatalf("%d distinct keys, worker ids %v; want %d keys, 4 ids", len(seen), ids, 4*per)
			}
			first := claims[0].ID()
			last := all[0][len(all[0])-1]
			if err := claims[0].Close(); err != nil {
				t.Fatal(err)
			}
			g := sharding.NewClaimedSnowflake()
			w := orchestration.ClaimWorker(b.open(t, root), "inst-e", g)
			t.Cleanup(func() { w.Close() })
			k, err := g.Next()
			if err != nil {
				t.Fatal(err)
			}
			if w.ID() != first || k <= last {
				t.Fatalf("after a release: id %d key %d, want id %d and a key after %d", w.ID(), k, first, last)
			}
		})
	}
}

// On the in-process registry: a session loss takes the id away until it is
// claimed again; a high-water node holding garbage is skipped with an error
// in the log; a reservation that cannot be renewed stops keys.
func TestWorkerClaimFaults(t *testing.T) {
	srv := memory.NewServer()
	defer srv.Close()
	ctx := context.Background()
	cfg := registry.Config{Type: "memory", ServerLists: []string{srv.Name()}, Namespace: "/app", OperationTimeout: 200 * time.Millisecond}
	open := func() registry.Registry {
		r, err := memory.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	operator := open()
	if _, err := operator.Put(ctx, orchestration.WorkerPath(0), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	reg := open()
	g := sharding.NewClaimedSnowflake()
	w := orchestration.ClaimWorker(reg, "inst", g)
	defer w.Close()
	k1, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() != 1 || (k1>>12)&0x3ff != 1 {
		t.Fatalf("claimed %d (key %d), want 1: id 0's node is garbage", w.ID(), k1)
	}
	srv.ExpireSession(reg)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, claimed := operator.Get(ctx, orchestration.WorkerHolderPath(1))
		k, err := g.Next()
		if claimed == nil && err == nil && k > k1 && w.ID() == 1 {
			t.Logf("claimed again after %v", 5*time.Second-time.Until(deadline))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no key after a session loss: %d, %v (id %d)", k, err, w.ID())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The registry refuses writes: the reservation (3 s) runs out and keys stop.
	srv.FailWrites(errors.New("disk full"))
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := g.Next()
		if errors.Is(err, sharding.ErrNoWorker) {
			t.Logf("keys stopped: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("keys still issued 10 s after the registry refused every renewal")
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.FailWrites(nil)
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, err := g.Next(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("keys did not come back once the registry took writes again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
