package embedded_test

import (
	"context"
	"errors"
	"os"
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
	cred := embedded.CredentialPath(cfg.Embedded.DataDir)
	registrytest.Run(t, &registrytest.Harness{
		Config: registry.Config{Type: registry.TypeEtcd, ServerLists: []string{endpoint}, CredentialFile: cred},
		Open: func(ctx context.Context, c registry.Config) (registry.Registry, error) {
			return etcd.Open(ctx, c)
		},
		ExpireSession: func(t testing.TB, r registry.Registry) {
			c := registry.Config{CredentialFile: cred}
			if err := c.LoadCredential(); err != nil {
				t.Fatal(err)
			}
			admin, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Username: c.Username, Password: c.Password})
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

// Authentication is on from the first start: the root credential is
// written beside the data directory (mode 0600) and kept across restarts;
// a client without it reads and changes nothing; etcdctl works with
// --user "$(cat credential)", as the docs tell operators.
func TestAuthOnByDefault(t *testing.T) {
	dir := t.TempDir()
	cfg := embeddedConfig(t, dir)
	ctx := context.Background()
	r, err := embedded.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cred := embedded.CredentialPath(dir)
	fi, err := os.Stat(cred)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", fi, err)
	}
	first, _ := os.ReadFile(cred)
	endpoint := strings.TrimPrefix(r.ClientURL, "http://")
	if _, err := r.Put(ctx, "/config/datasource", []byte("secret: x")); err != nil {
		t.Fatal(err)
	}
	anon, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Get(ctx, "/", clientv3.WithPrefix()); err == nil {
		t.Fatal("a client without the credential read the registry")
	}
	if _, err := anon.Put(ctx, "/config/datasource", "mine"); err == nil {
		t.Fatal("a client without the credential wrote the registry")
	}
	e := &testenv.Etcd{Endpoint: endpoint}
	if out, err := e.EtcdctlT(t, "get", "/config/datasource"); err == nil && strings.Contains(out, "secret") {
		t.Fatalf("etcdctl without --user read it: %s", out)
	}
	if out, err := e.EtcdctlT(t, "--user", strings.TrimSpace(string(first)), "put", "/state/datasources/ds_slave_1", "DISABLED"); err != nil {
		t.Fatalf("etcdctl --user: %v %s", err, out)
	}
	// A client of another process keeps its watch across a restart of
	// the registry (JWT tokens outlive it; simple ones would not).
	other, err := etcd.Open(ctx, registry.Config{Type: registry.TypeEtcd, ServerLists: []string{endpoint}, CredentialFile: cred})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	events, err := other.Watch(wctx, "/state")
	if err != nil {
		t.Fatal(err)
	}
	<-events // the snapshot
	r.Close()
	// A restart keeps the credential; a client with it reads.
	if r, err = embedded.Open(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Put(ctx, "/state/after-restart", []byte("x")); err != nil {
		t.Fatal(err)
	}
	seen, restarted := false, time.Now()
	for timeout := time.After(15 * time.Second); !seen; {
		select {
		case ev := <-events:
			seen = ev.Node.Path == "/state/after-restart"
			for _, n := range ev.Nodes {
				seen = seen || n.Path == "/state/after-restart"
			}
		case <-timeout:
			t.Fatal("another process's watch saw no change after the registry restarted")
		}
	}
	t.Logf("the other process's watch saw the change %v after the restart", time.Since(restarted).Round(time.Millisecond))
	if again, _ := os.ReadFile(cred); string(again) != string(first) {
		t.Fatal("the credential changed across a restart")
	}
	c, err := etcd.Open(ctx, registry.Config{Type: registry.TypeEtcd, ServerLists: []string{endpoint}, CredentialFile: cred})
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	v, _, err := c.Get(ctx, "/state/datasources/ds_slave_1")
	c.Close()
	r.Close()
	if err != nil || string(v) != "DISABLED" {
		t.Fatalf("the operator's put: %q %v", v, err)
	}
	// A credential file others can read is refused.
	os.Chmod(cred, 0o644)
	if _, err := embedded.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("credential mode 0644: %v", err)
	}
}
