package etcd_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/etcd"
	"github.com/shardgate/shardgate/registry/registrytest"
)

func open(ctx context.Context, cfg registry.Config) (registry.Registry, error) {
	return etcd.Open(ctx, cfg)
}

func TestMain(m *testing.M) {
	registrytest.ChildMain(open)
	goleak.VerifyTestMain(m)
}

func harness(_ testing.TB, srv *testenv.Etcd) *registrytest.Harness {
	return &registrytest.Harness{
		Config: registry.Config{Type: registry.TypeEtcd, ServerLists: []string{srv.Endpoint}},
		Open:   open,
		Stop:   func(testing.TB) { srv.Stop() },
		Start:  func(testing.TB) { srv.Start() },
		ExpireSession: func(t testing.TB, r registry.Registry) {
			revoke(t, srv.Endpoint, r.(*etcd.Client).Lease())
		},
	}
}

func revoke(t testing.TB, endpoint string, lease clientv3.LeaseID) {
	t.Helper()
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := admin.Revoke(ctx, lease); err != nil {
		t.Fatalf("revoke lease: %v", err)
	}
}

func TestConformanceEtcd34(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	registrytest.Run(t, harness(t, srv))
}

func TestConformanceEtcd37(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.Etcd37Binary(t))
	registrytest.Run(t, harness(t, srv))
}

func cfgFor(endpoints ...string) registry.Config {
	return registry.Config{
		Type: registry.TypeEtcd, ServerLists: endpoints, Namespace: "/app",
		TimeToLive: 2 * time.Second, OperationTimeout: 2 * time.Second,
	}
}

func mustOpen(t *testing.T, cfg registry.Config) *etcd.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := etcd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// etcdctl put on a leased key detaches it from the lease; the owner must
// re-attach it, keeping the operator's value, so the key still dies with
// the owner.
func TestEtcdctlPutKeepsKeyEphemeral(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	owner := mustOpen(t, cfgFor(srv.Endpoint))
	ctx := context.Background()
	if err := owner.PutEphemeral(ctx, "/state/instances/10.0.0.5@-@42", nil); err != nil {
		t.Fatal(err)
	}
	if out, err := srv.Etcdctl("put", "/app/state/instances/10.0.0.5@-@42", "DISABLED"); err != nil {
		t.Fatalf("etcdctl put: %v: %s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := srv.Etcdctl("get", "/app/state/instances/10.0.0.5@-@42", "-w", "fields")
		if err != nil {
			t.Fatalf("etcdctl get: %v: %s", err, out)
		}
		if strings.Contains(out, `"Lease" : `+leaseField(owner.Lease())) && strings.Contains(out, `"Value" : "DISABLED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key not re-attached to lease %d with value DISABLED:\n%s", owner.Lease(), out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Bound to the lease again: revoking it deletes the key at once; the
	// live owner then gets a new lease and writes the key again with the
	// operator's value.
	old := owner.Lease()
	revoke(t, srv.Endpoint, old)
	deadline = time.Now().Add(10 * time.Second)
	for {
		out, _ := srv.Etcdctl("get", "/app/state/instances/10.0.0.5@-@42", "-w", "fields")
		if owner.Lease() != old && strings.Contains(out, `"Lease" : `+leaseField(owner.Lease())) && strings.Contains(out, `"Value" : "DISABLED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key not re-created under a new lease with value DISABLED:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	owner.Close()
	out, _ := srv.Etcdctl("get", "/app/state/instances/10.0.0.5@-@42")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("key outlived its owner: %q", out)
	}
}

func leaseField(id clientv3.LeaseID) string { return strconv.FormatInt(int64(id), 10) }

// go test -run '^$' -bench WatchLatency -benchtime 2000x ./registry/etcd
func BenchmarkWatchLatencyEtcd34(b *testing.B) {
	srv := testenv.StartEtcd(b, testenv.Require(b, "etcd"))
	registrytest.BenchWatchLatency(b, harness(nil, srv))
}

func BenchmarkWatchLatencyEtcd37(b *testing.B) {
	srv := testenv.StartEtcd(b, testenv.Etcd37Binary(b))
	registrytest.BenchWatchLatency(b, harness(nil, srv))
}

// The server is unreachable for longer than the TTL: the client's lease is
// lost, so it takes a new one when the server is back and writes its
// ephemeral nodes again with their last values.
func TestLeaseLostDuringOutage(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	owner := mustOpen(t, cfgFor(srv.Endpoint))
	ctx := context.Background()
	if err := owner.PutEphemeral(ctx, "/state/instances/me", []byte("DISABLED")); err != nil {
		t.Fatal(err)
	}
	st, _ := owner.Session()
	oldLease := owner.Lease()
	srv.Stop()
	time.Sleep(4 * time.Second) // TTL is 2s
	if s, _ := owner.Session(); s.Connected {
		t.Errorf("session reported connected while the server is down")
	}
	srv.Start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, _ := owner.Session()
		out, _ := srv.Etcdctl("get", "/app/state/instances/me", "-w", "fields")
		if s.Generation > st.Generation && s.Connected && owner.Lease() != oldLease &&
			strings.Contains(out, `"Lease" : `+leaseField(owner.Lease())) && strings.Contains(out, `"Value" : "DISABLED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not re-created under a new lease after the outage: session %+v lease %d (old %d)\n%s", s, owner.Lease(), oldLease, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A least-privilege etcd user (docs/security.md): a role with readwrite on
// the orchestration's prefix only is enough for everything shardgate does
// (leases, ephemeral nodes, transactions, watches: the whole conformance
// suite runs as that user, server restart included), and outside the
// prefix it is ErrDenied. The server signs JWT tokens, as the docs advise:
// etcd's default simple tokens die with a server restart, and etcd's Go
// client renews them for unary calls only, so its watch and keep-alive
// streams would hang (seen with this test on simple tokens).
func TestConformanceLeastPrivilege(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, pubPath := filepath.Join(dir, "jwt.key"), filepath.Join(dir, "jwt.pub")
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"), "--auth-token", "jwt,pub-key="+pubPath+",priv-key="+priv+",sign-method=RS256,ttl=10m")
	for _, args := range [][]string{
		{"user", "add", "root:rootpw"},
		{"user", "grant-role", "root", "root"},
		{"role", "add", "shardgate"},
		{"role", "grant-permission", "shardgate", "--prefix=true", "readwrite", "/registrytest/"},
		{"user", "add", "sg:sgpw"},
		{"user", "grant-role", "sg", "shardgate"},
		{"auth", "enable"},
	} {
		if out, err := srv.Etcdctl(args...); err != nil {
			t.Fatalf("etcdctl %v: %v: %s", args, err, out)
		}
	}
	h := harness(t, srv)
	h.Config.Username, h.Config.Password = "sg", "sgpw"
	h.ExpireSession = func(t testing.TB, r registry.Registry) {
		admin, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 5 * time.Second, Username: "root", Password: "rootpw"})
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := admin.Revoke(ctx, r.(*etcd.Client).Lease()); err != nil {
			t.Fatalf("revoke lease: %v", err)
		}
	}
	registrytest.Run(t, h)

	cfg := cfgFor(srv.Endpoint)
	cfg.Namespace = "/other-app"
	cfg.Username, cfg.Password = "sg", "sgpw"
	c := mustOpen(t, cfg)
	if _, err := c.Put(context.Background(), "/config/datasource", []byte("x")); !errors.Is(err, registry.ErrDenied) {
		t.Fatalf("Put outside the role's prefix: %v", err)
	}
	if _, _, err := c.Get(context.Background(), "/config/datasource"); !errors.Is(err, registry.ErrDenied) {
		t.Fatalf("Get outside the role's prefix: %v", err)
	}
}
