package embedded_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/embedded"
	"github.com/shardgate/shardgate/registry/etcd"
	"github.com/shardgate/shardgate/registry/registrytest"
)

func TestMain(m *testing.M) {
	registrytest.ChildMain(func(ctx context.Context, cfg registry.Config) (registry.Registry, error) {
		return etcd.Open(ctx, cfg) // the child joins the parent's embedded server
	})
	goleak.VerifyTestMain(m)
}

func embeddedConfig(t testing.TB, dir string) registry.Config {
	return registry.Config{
		Type: registry.TypeEmbedded,
		Embedded: registry.EmbeddedConfig{
			DataDir:   dir,
			ClientURL: "http://127.0.0.1:" + testenv.Itoa(testenv.FreePort(t)),
			PeerURL:   "http://127.0.0.1:" + testenv.Itoa(testenv.FreePort(t)),
		},
	}
}

func TestConformanceEmbedded(t *testing.T) {
	cfg := embeddedConfig(t, t.TempDir())
	ctx := context.Background()
	start := time.Now()
	srv, err := embedded.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded registry ready in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { srv.Close() })
	endpoint := strings.TrimPrefix(srv.ClientURL, "http://")
	// Further clients of the suite are etcd clients of the embedded server,
	// as a second shardgate instance on the same host would be.
	registrytest.Run(t, &registrytest.Harness{
		Config: registry.Config{Type: registry.TypeEtcd, ServerLists: []string{endpoint}},
		Open: func(ctx context.Context, c registry.Config) (registry.Registry, error) {
			return etcd.Open(ctx, c)
		},
		ExpireSession: func(t testing.TB, r registry.Registry) {
			admin, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if _, err := admin.Revoke(context.Background(), r.(*etcd.Client).Lease()); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestDataKeptAcrossRestartsAndReadyFast(t *testing.T) {
	dir := t.TempDir()
	cfg := embeddedConfig(t, dir)
	ctx := context.Background()
	for i, want := range []string{"", "kept"} {
		start := time.Now()
		r, err := embedded.Open(ctx, cfg)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		ready := time.Since(start)
		t.Logf("start %d: ready in %s", i, ready.Round(time.Millisecond))
		if ready > 3*time.Second {
			t.Errorf("start %d: embedded registry took %s, want under 3s", i, ready)
		}
		got, _, err := r.Get(ctx, "/config/props")
		if want == "" {
			if !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("fresh data dir holds /config/props: %q %v", got, err)
			}
			if _, err := r.Put(ctx, "/config/props", []byte("kept")); err != nil {
				t.Fatal(err)
			}
		} else if err != nil || string(got) != want {
			t.Fatalf("after restart Get = %q, %v; want %q", got, err, want)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPortInUseIsAClearError(t *testing.T) {
	cfg := embeddedConfig(t, t.TempDir())
	r, err := embedded.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg.Embedded.DataDir = t.TempDir()
	_, err = embedded.Open(context.Background(), cfg)
	if !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("second embedded registry on the same port: %v", err)
	}
}
