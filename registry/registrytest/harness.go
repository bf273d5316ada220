// Package registrytest is the conformance suite every registry backend
// passes, run against the real servers.
package registrytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardgate/shardgate/registry"
)

// Opener opens a client; every call is a new session.
type Opener func(ctx context.Context, cfg registry.Config) (registry.Registry, error)

// Harness describes one backend and its running server to the suite.
type Harness struct {
	// Config reaches the server; the suite gives each test its own
	// Namespace and short timeouts.
	Config registry.Config
	Open   Opener
	// Stop and Start stop the server gracefully and start it again with
	// its data. Nil when the backend cannot (the fault tests are skipped).
	Stop, Start func(t testing.TB)
	// ExpireSession makes the server end r's session (etcd: revoke the
	// lease; ZooKeeper: expire the session), as if r had been cut off for
	// longer than the TTL. Nil if unsupported.
	ExpireSession func(t testing.TB, r registry.Registry)
	// TTL used by the suite for ephemeral nodes; default 2s.
	TTL time.Duration
	// InProcess: the server lives in the test process (registry/memory),
	// so no other process can own a node (EphemeralKilledOwner is skipped;
	// ExpireSession stands for it).
	InProcess bool
}

func (h *Harness) ttl() time.Duration {
	if h.TTL == 0 {
		return 2 * time.Second
	}
	return h.TTL
}

var nsCounter atomic.Int64

// config returns the harness config with a namespace unique to the test.
func (h *Harness) config(t testing.TB) registry.Config {
	cfg := h.Config
	cfg.Namespace = fmt.Sprintf("/registrytest/%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, nsCounter.Add(1))
	cfg.TimeToLive = h.ttl()
	if cfg.OperationTimeout == 0 {
		cfg.OperationTimeout = 2 * time.Second
	}
	cfg.RetryInterval = 50 * time.Millisecond
	cfg.MaxRetryInterval = 500 * time.Millisecond
	return cfg.WithDefaults()
}

// open opens a client for cfg and closes it when the test ends.
func (h *Harness) open(t testing.TB, cfg registry.Config) registry.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := h.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open registry: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

const childEnv = "SHARDGATE_REGISTRYTEST_CHILD"

type childSpec struct {
	Config registry.Config
	Path   string
	Value  string
}

// ChildMain must be called first in the backend's TestMain. In a child
// process started by the suite it opens a client, writes an ephemeral node,
// prints READY and blocks until killed; otherwise it returns at once.
func ChildMain(open Opener) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "bad child spec:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	r, err := open(ctx, s.Config)
	if err == nil {
		err = r.PutEphemeral(ctx, s.Path, []byte(s.Value))
	}
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	fmt.Println("READY")
	select {}
}
