package driver_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shardgate/shardgate/driver"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/memory"
)

// The driver's registry fault paths on the in-process registry, in well
// under a second each: statements go on while the registry is stopped or
// slow, an expired session registers the instance again, and a circuit
// breaker set through the registry survives all of it.
func TestRegistryFaults(t *testing.T) {
	r := replication(t)
	srv := memory.NewServer()
	defer srv.Close()
	regYAML := fmt.Sprintf("{type: memory, serverLists: [%s], operationTimeout: 300ms}", srv.Name())
	db, c := openConnector(t, instanceFile(t, r, regYAML, "memfaults", `readYourWrites: "off"`))
	ctx := context.Background()
	op, err := memory.Open(ctx, registry.Config{Type: registry.TypeMemory, ServerLists: []string{srv.Name()}, Namespace: "/memfaults"})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	node := orchestration.InstancePath(c.ID())
	read := func(what string) {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
			t.Fatalf("read %s: %v", what, err)
		}
	}
	read("before")

	srv.Stop()
	orchenv.Eventually(t, "status disconnected", func() error {
		if c.Status().RegistryConnected {
			return errors.New("still connected")
		}
		return nil
	})
	for range 20 {
		read("with the registry stopped")
	}
	srv.Start()

	srv.SetDelay(time.Second) // past operationTimeout
	for range 20 {
		read("with the registry too slow")
	}
	srv.SetDelay(0)

	if _, err := op.Put(ctx, node, []byte("DISABLED")); err != nil {
		t.Fatal(err)
	}
	orchenv.Eventually(t, "circuit breaker", func() error {
		if err := db.PingContext(ctx); !errors.Is(err, driver.ErrInstanceDisabled) {
			return fmt.Errorf("ping: %v", err)
		}
		return nil
	})
	srv.ExpireAll()
	orchenv.Eventually(t, "instance node re-created with the operator's value", func() error {
		v, _, err := op.Get(ctx, node)
		if err != nil || string(v) != "DISABLED" {
			return fmt.Errorf("%q %v", v, err)
		}
		return nil
	})
	orchenv.Eventually(t, "circuit breaker in force again after the session expired", func() error {
		if err := db.PingContext(ctx); !errors.Is(err, driver.ErrInstanceDisabled) {
			return fmt.Errorf("ping: %v", err)
		}
		return nil
	})
	if err := op.Delete(ctx, node, false); err != nil {
		t.Fatal(err)
	}
	orchenv.Eventually(t, "circuit breaker lifted", func() error { return db.PingContext(ctx) })
	read("after")
}
